//! Fixed URIs of the SOAP edge that are not namespaces: token and value types, WS-Trust request types and
//! the WS-Addressing Actions of the transactions the gateway reads.

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
