//! SAML 2.0 identifiers that are not namespaces: status codes and subject-confirmation methods.

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
pub const CM_HOLDER_OF_KEY: &str = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key";
pub const CM_SENDER_VOUCHES: &str = "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches";
