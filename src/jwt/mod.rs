//! JWTs: issuing with the gateway's own key, verifying tokens from pinned issuers, client assertions, and
//! proofs of possession signed by the key they carry.

pub mod alg;
pub mod assertion;
mod issue;
pub mod json;
pub mod keys;
pub mod proof;
mod verify;

pub use alg::JwtAlgorithm;
pub use issue::{jwks_of, JwtIssuer, RegisteredClaims};
pub(crate) use verify::{check_audience, check_header, check_times, split, verify_signature};
pub use verify::{
    verify, ClaimFacts, HeaderFacts, JwtLimits, JwtPolicy, JwtTrust, Parts, TrustedIssuer,
    VerifiedJwt,
};
