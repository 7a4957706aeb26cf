//! JWTs: issuing with the gateway's own key, and verifying tokens from pinned issuers.

pub mod alg;
mod issue;
pub mod json;
pub mod keys;
mod verify;

pub use alg::JwtAlgorithm;
pub use issue::{jwks_of, JwtIssuer, RegisteredClaims};
pub(crate) use verify::{check_audience, check_header, check_times, split, verify_signature};
pub use verify::{
    verify, ClaimFacts, HeaderFacts, JwtLimits, JwtPolicy, JwtTrust, Parts, TrustedIssuer,
    VerifiedJwt,
};
