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

// SOAP, WS-Addressing, WS-Security, WS-Trust, WS-Policy, XOP and the ebXML registry of IHE XCA/XDS.
pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
pub const WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
pub const WSSE11: &str = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd";
pub const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
pub const WST: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// WS-Trust 1.4 defines `ActAs` in its own namespace; 1.3 requests carry it from there.
pub const WST14: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200802";
/// WS-Policy 1.2 (what WS-Trust 1.3 clients write for AppliesTo) and WS-Policy 1.5.
pub const WSP: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
pub const WSP15: &str = "http://www.w3.org/ns/ws-policy";
pub const XOP: &str = "http://www.w3.org/2004/08/xop/include";
pub const RIM: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
pub const QUERY: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
pub const XDSB: &str = "urn:ihe:iti:xds-b:2007";
/// Subcodes of the gateway's own faults carry the error class in this namespace (`xg:PARSE`, ...).
pub const GATEWAY_FAULT: &str = "urn:xua-gateway:fault";
