//! Namespace URIs and fixed URIs of SOAP, WS-Addressing, WS-Security, WS-Trust and IHE XCA/XDS.
//! Elements are matched by namespace URI and local name, never by prefix.

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
pub const SAML: &str = crate::saml::ns::SAML;
pub const XOP: &str = "http://www.w3.org/2004/08/xop/include";

pub const RIM: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0";
pub const QUERY: &str = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0";
pub const XDSB: &str = "urn:ihe:iti:xds-b:2007";

/// Subcodes of the gateway's own faults carry the error class in this namespace (`xg:PARSE`, ...).
pub const GATEWAY_FAULT: &str = "urn:xua-gateway:fault";

pub const WSSE_BASE64: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";
pub const VT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TT_SAML2: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const TT_SAMLV20: &str =
    "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0";
pub const SAMLID: &str = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLID";

pub const WST_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue";
pub const WST_BEARER: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer";
pub const ACTION_RST_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue";
pub const ACTION_RSTR_ISSUE: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTR/Issue";
pub const ACTION_RSTRC_ISSUE_FINAL: &str =
    "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal";
pub const ACTION_FAULT: &str = "http://www.w3.org/2005/08/addressing/soap/fault";

pub const ACTION_ITI38: &str = "urn:ihe:iti:2007:CrossGatewayQuery";
pub const ACTION_ITI39: &str = "urn:ihe:iti:2007:CrossGatewayRetrieve";
pub const ACTION_ITI18: &str = "urn:ihe:iti:2007:RegistryStoredQuery";
pub const ACTION_ITI43: &str = "urn:ihe:iti:2007:RetrieveDocumentSet";
