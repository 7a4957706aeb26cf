//! JWTs: issuing with the gateway's own key (and, later, verifying against pinned issuers).

mod issue;

pub use issue::{JwtIssuer, RegisteredClaims};
