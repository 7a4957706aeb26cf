//! SAML 2.0 XUA: hardened parsing, XML-DSig verification, and (later) building and signing assertions.
pub mod dsig;
