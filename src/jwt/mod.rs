//! JWTs: issuing with the gateway's own key, and verifying tokens from pinned issuers.

mod issue;
pub mod json;
pub mod keys;
mod verify;

pub use issue::{JwtIssuer, RegisteredClaims};
pub use verify::{verify, JwtLimits, JwtPolicy, JwtTrust, TrustedIssuer, VerifiedJwt};
