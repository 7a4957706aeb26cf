//! Every XML namespace the gateway reads or writes, in one table. Elements are always matched by namespace
//! URI and local name, never by prefix.

/// SAML 2.0 assertions (`saml:`).
pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 protocol messages (`samlp:`).
pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 metadata (`md:`).
pub const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML Signature (`ds:`).
pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Exclusive canonicalisation; also the namespace of `ec:InclusiveNamespaces`.
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const XS: &str = "http://www.w3.org/2001/XMLSchema";
/// HL7 v3 datatypes (CE, II) nested in XUA attribute values.
pub const HL7: &str = "urn:hl7-org:v3";
pub const XINCLUDE: &str = "http://www.w3.org/2001/XInclude";
/// XInclude's current namespace and the 2003 one older processors still honour.
pub const XINCLUDE_ALL: [&str; 2] = [XINCLUDE, "http://www.w3.org/2003/XInclude"];
