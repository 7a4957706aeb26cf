//! SAML 2.0 XUA: hardened parsing, XML-DSig verification, and building and signing assertions.
//!
//! Security-critical parsing lives here and only here: `prescan` (untrusted bytes, before any DOM), `dsig`
//! (the one module with `unsafe`, around libxmlsec1), `tree` + `extract` (claims from the signed bytes only),
//! `fragment` (HL7 values nested inside attribute values).

pub mod build;
pub mod checks;
pub mod dsig;
pub mod extract;
pub mod fragment;
pub mod metadata;
pub mod prescan;
pub mod stream;
pub mod tree;
pub mod uri;
pub mod verify;
pub mod view;
