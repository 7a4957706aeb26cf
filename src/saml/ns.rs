//! Namespace URIs. Elements are always matched by namespace URI and local name, never by prefix.

pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const XS: &str = "http://www.w3.org/2001/XMLSchema";
pub const XINCLUDE: &str = "http://www.w3.org/2001/XInclude";
/// XInclude's current namespace and the 2003 one older processors still honour.
pub const XINCLUDE_ALL: [&str; 2] = [XINCLUDE, "http://www.w3.org/2003/XInclude"];

pub const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
pub const CM_BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
pub const CM_HOLDER_OF_KEY: &str = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key";
pub const CM_SENDER_VOUCHES: &str = "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches";
