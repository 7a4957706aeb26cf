//! What the gateway reads out of a verified assertion: owned values, taken from the signed bytes only.

use time::OffsetDateTime;

use super::fragment::XmlFragment;

/// One `saml:AttributeValue`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlValue {
    /// The concatenated character content (entity references resolved). Holds the escaped HL7 XML in NHN's
    /// encoding.
    pub text: String,
    /// Child elements (IHE's encoding of HL7 CE/II values).
    pub elements: Vec<XmlFragment>,
    /// `xsi:nil="true"`: present but empty by declaration.
    pub nil: bool,
    pub xsi_type: Option<String>,
}

impl SamlValue {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }
}

/// One `saml:Attribute`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlAttribute {
    pub name: String,
    pub name_format: Option<String>,
    pub friendly_name: Option<String>,
    pub values: Vec<SamlValue>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectConfirmation {
    pub method: String,
    pub not_before: Option<OffsetDateTime>,
    pub not_on_or_after: Option<OffsetDateTime>,
    pub recipient: Option<String>,
    pub in_response_to: Option<String>,
    pub has_key_info: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRestriction {
    pub count: Option<u32>,
    pub audiences: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    pub not_before: Option<OffsetDateTime>,
    pub not_on_or_after: Option<OffsetDateTime>,
    /// One entry per `AudienceRestriction`, each with its audiences; every restriction must be satisfied.
    pub audience_restrictions: Vec<Vec<String>>,
    pub one_time_use: bool,
    pub proxy_restriction: Option<ProxyRestriction>,
    /// Names of condition elements the gateway does not understand (rejected by the checks).
    pub unknown: Vec<String>,
}

/// The verified assertion, as the rest of the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionView {
    pub id: String,
    pub issue_instant: OffsetDateTime,
    pub issuer: String,
    pub name_id: Option<String>,
    pub name_id_format: Option<String>,
    pub name_id_qualifier: Option<String>,
    pub confirmations: Vec<SubjectConfirmation>,
    pub conditions: Option<Conditions>,
    pub authn_instant: Option<OffsetDateTime>,
    pub authn_context_class: Option<String>,
    pub attributes: Vec<SamlAttribute>,
}
