//! xua-gateway: translates SAML 2.0 XUA assertions and JWTs through one shared model of the health
//! professional's care relationship.
// `unsafe` is denied everywhere except the one FFI module around libxmlsec1 (`saml::dsig`), which allows it
// locally and says at every block why it is sound.
#![deny(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::todo,
    clippy::unimplemented,
    clippy::dbg_macro,
    clippy::indexing_slicing,
    clippy::undocumented_unsafe_blocks
)]

pub mod audit;
pub mod clients;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod inspect;
pub mod jwt;
pub mod mapping;
pub mod model;
pub mod ns;
pub mod observability;
pub mod pipeline;
pub mod redact;
pub mod replay;
pub mod rotation;
pub mod rules;
pub mod saml;
pub mod samples;
pub mod soap;
pub mod startup;
pub mod store;
