//! The inspector's rules: every item of a report (a check, an attribute or claim the profile reads, a value
//! finding) carries one of these ids, with the specification and section it checks. The table is written
//! here once; `docs/inspector-rules.md` and the page's rule list are generated from it.

use serde::ser::{Serialize, SerializeMap, SerializeStruct, Serializer};

/// One rule: a stable id, what it checks, and where that is specified.
#[derive(Debug, PartialEq, Eq)]
pub struct RuleId {
    pub id: &'static str,
    pub title: &'static str,
    pub spec: &'static str,
    pub section: &'static str,
    pub url: &'static str,
    /// Further sources for the same rule: (name and section, address).
    pub also: &'static [(&'static str, &'static str)],
}

impl RuleId {
    /// "OASIS SAML 2.0 Core §2.5.1.2", as a report shows it.
    pub fn citation(&self) -> String {
        format!("{} {}", self.spec, self.section)
    }
}

impl Serialize for RuleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RuleId", 7)?;
        st.serialize_field("id", self.id)?;
        st.serialize_field("title", self.title)?;
        st.serialize_field("spec", self.spec)?;
        st.serialize_field("section", self.section)?;
        st.serialize_field("url", self.url)?;
        let also: Vec<serde_json::Value> = self
            .also
            .iter()
            .map(|(name, url)| serde_json::json!({ "name": name, "url": url }))
            .collect();
        st.serialize_field("also", &also)?;
        st.serialize_field("pending", &PENDING.contains(&self.id))?;
        st.end()
    }
}

/// The rule an item of a report checks, as the report's JSON carries it: `rule_id`, `spec` (specification
/// and section) and `spec_url`, flattened into the item.
#[derive(Debug, Clone, Copy)]
pub struct Cite(pub &'static RuleId);

impl Serialize for Cite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("rule_id", self.0.id)?;
        m.serialize_entry("spec", &self.0.citation())?;
        m.serialize_entry("spec_url", self.0.url)?;
        m.end()
    }
}

const SAML_CORE: &str = "OASIS SAML 2.0 Core";
const SAML_CORE_URL: &str = "https://docs.oasis-open.org/security/saml/v2.0/saml-core-2.0-os.pdf";
const SAML_PROFILES: &str = "OASIS SAML 2.0 Profiles";
const SAML_PROFILES_URL: &str =
    "https://docs.oasis-open.org/security/saml/v2.0/saml-profiles-2.0-os.pdf";
const ITI_40: &str = "IHE ITI TF-2 (ITI-40 Provide X-User Assertion)";
const ITI_40_URL: &str = "https://profiles.ihe.net/ITI/TF/Volume2/ITI-40.html";
const IUA: &str = "IHE ITI Internet User Authorization (IUA)";
const IUA_URL: &str = "https://profiles.ihe.net/ITI/IUA/index.html";
const PJD: &str = "NHN PJD XUA SAML specification";
const PJD_URL: &str = "https://utviklerportal.nhn.no/informasjonstjenester/pasientens-journaldokumenter-i-kjernejournal/loesningsbeskrivelser/saml-spesifikasjon";
const TR_RULES: &str = "NHN Tillitsrammeverk, forretningsregler for bruk av attestering (TR v1.1)";
const TR_RULES_URL: &str = "https://github.com/NorskHelsenett/Tillitsrammeverk/blob/main/specs/forretningsregler_for_bruk_av_attestering.md";
const TR_MODEL: &str = "NHN Tillitsrammeverk, informasjons- og datamodell (TR v1.1)";
const TR_MODEL_URL: &str = "https://github.com/NorskHelsenett/Tillitsrammeverk/blob/main/specs/informasjons_og_datamodell.md";
const DM: &str = "NHN Informasjons- og datamodell for dokumentdeling (DM, 2023 draft)";
// DM's text was in the Tillitsrammeverk repository until commit d324043 (docs/norway-profile.md, "Sources").
const DM_URL: &str = "https://github.com/NorskHelsenett/Tillitsrammeverk/commits/main/specs/datamodell_dokumentdeling.md";
const HELSEID_AT: (&str, &str) = (
    "HelseID: Validating Access Tokens",
    "https://utviklerportal.nhn.no/informasjonstjenester/helseid/protokoller-og-sikkerhetsprofil/sikkerhetsprofil/docs/vedlegg/validering_av_access_token_enmd/",
);
const PJD_SIGNATURE: (&str, &str) = (
    "NHN PJD XUA SAML specification §2.2 (Assertion Signature)",
    PJD_URL,
);

macro_rules! rules {
    ($($name:ident = $id:literal, $title:literal, $spec:expr, $section:literal, $url:expr, [$($also:expr),*];)*) => {
        $(pub const $name: &RuleId = &RuleId {
            id: $id,
            title: $title,
            spec: $spec,
            section: $section,
            url: $url,
            also: &[$($also),*],
        };)*
        /// Every rule, in the order the generated table lists them.
        pub static RULES: &[&RuleId] = &[$($name),*];
    };
}

rules! {
    INPUT_FORMAT = "input.format", "The input is a token type the gateway takes (SAML 2.0 assertion or JWT)",
        "IETF RFC 8693", "§3 (token type identifiers)", "https://www.rfc-editor.org/rfc/rfc8693#section-3", [];
    XML_PARSE = "xml.parse", "The document is well-formed XML",
        "W3C XML 1.0 (Fifth Edition)", "§2.1 (well-formed documents)", "https://www.w3.org/TR/xml/#sec-well-formed", [];
    XML_PRESCAN = "xml.prescan", "No DTD, entity, wrapping or oversized structure (checked before any parsing)",
        "W3C XML Signature Best Practices", "§2.1 (denial of service), §2.2 (check what is signed)",
        "https://www.w3.org/TR/xmldsig-bestpractices/", [];
    XML_COMMENTS = "xml.comments", "No comments or processing instructions inside the signed assertion",
        SAML_CORE, "§5.4.3 (exclusive canonicalization, without comments)", SAML_CORE_URL, [];
    SAML_STRUCTURE = "saml.structure", "One SAML 2.0 assertion, as the exchange takes it",
        SAML_CORE, "§2.3.3 (element <Assertion>)", SAML_CORE_URL,
        [("IHE ITI TF-2 §3.40.4.1.2 (one assertion per message)", ITI_40_URL)];
    SAML_ASSERTION = "saml.assertion", "The assertion's Issuer, Subject, Conditions and statements can be read",
        SAML_CORE, "§2.3.3 (element <Assertion>)", SAML_CORE_URL, [];
    SAML_SIGNATURE = "saml.signature", "The assertion's enveloped XML signature verifies with the issuer's certificate",
        SAML_CORE, "§5.4 (XML Signature profile); W3C XML-DSig 1.1 §3.2 (core validation)", SAML_CORE_URL,
        [("W3C XML Signature 1.1 §3.2", "https://www.w3.org/TR/xmldsig-core1/#sec-CoreValidation"), PJD_SIGNATURE];
    SAML_TRUST = "saml.trust", "The assertion's Issuer is configured as trusted and its configured certificate verifies it",
        SAML_CORE, "§2.2.5 (element <Issuer>), §5.4", SAML_CORE_URL, [];
    SAML_VALIDITY = "saml.conditions.validity", "Now is inside NotBefore .. NotOnOrAfter (with the configured clock skew)",
        SAML_CORE, "§2.5.1 (element <Conditions>), §2.5.1.2 (NotBefore, NotOnOrAfter)", SAML_CORE_URL, [];
    SAML_AUDIENCE = "saml.conditions.audience", "Every AudienceRestriction names this gateway",
        SAML_CORE, "§2.5.1.4 (element <AudienceRestriction>)", SAML_CORE_URL,
        [("IHE ITI TF-2 §3.40.4.1.2 (AudienceRestriction)", ITI_40_URL)];
    SAML_CONDITIONS = "saml.conditions.other", "No condition the gateway cannot honour (OneTimeUse, ProxyRestriction, unknown)",
        SAML_CORE, "§2.5.1.1 (general processing rules), §2.5.1.5, §2.5.1.6", SAML_CORE_URL, [];
    SAML_SUBJECT = "saml.subject.confirmation", "A bearer SubjectConfirmation that is valid now and addressed to this gateway",
        SAML_PROFILES, "§4.1.4.3 (bearer assertion processing rules)", SAML_PROFILES_URL,
        [("OASIS SAML 2.0 Core §2.4.1.1, §2.4.1.2 (SubjectConfirmation)", SAML_CORE_URL)];
    SAML_REPLAY = "saml.replay", "The assertion was not exchanged before",
        SAML_PROFILES, "§4.1.4.5 (bearer assertions are not replayed)", SAML_PROFILES_URL, [];
    SAML_NAMEID = "saml.nameid", "The Subject's NameID: the user the assertion is about",
        SAML_CORE, "§2.2.3 (element <NameID>), §2.4.1 (element <Subject>)", SAML_CORE_URL,
        [("IHE ITI TF-2 §3.40.4.1.2 (Subject)", ITI_40_URL)];
    XUA_SUBJECT_ID = "xua.attribute.subject-id", "subject-id: the user's name in plain text",
        ITI_40, "§3.40.4.1.2 (XSPA subject-id)", ITI_40_URL, [];
    XUA_ORGANIZATION = "xua.attribute.organization", "organization: the user's organisation, in plain text",
        ITI_40, "§3.40.4.1.2 (XSPA organization)", ITI_40_URL, [];
    XUA_ORGANIZATION_ID = "xua.attribute.organization-id", "organization-id: the organisation's identifier (urn:oid or URL)",
        ITI_40, "§3.40.4.1.2 (XSPA organization-id)", ITI_40_URL, [];
    XUA_HOME_COMMUNITY = "xua.attribute.home-community-id", "homeCommunityId: the home community's OID",
        ITI_40, "§3.40.4.1.2 (homeCommunityId)", ITI_40_URL, [];
    XUA_NPI = "xua.attribute.npi", "npi: the national provider identifier as a plain string",
        ITI_40, "§3.40.4.1.2 (XSPA npi)", ITI_40_URL, [];
    XUA_PROVIDER_ID = "xua.attribute.provider-identifier", "provider-identifier: an HL7 II with root and extension",
        ITI_40, "§3.40.4.1.2 (provider-identifier)", ITI_40_URL, [];
    XUA_ROLE = "xua.attribute.role", "role: an HL7 CE Role (code, codeSystem)",
        ITI_40, "§3.40.4.1.2 (XACML subject role)", ITI_40_URL, [];
    XUA_PURPOSE = "xua.attribute.purpose-of-use", "purpose of use: an HL7 CE PurposeOfUse with its codeSystem",
        ITI_40, "§3.40.4.1.2 (XSPA purposeofuse)", ITI_40_URL, [];
    XUA_RESOURCE_ID = "xua.attribute.resource-id", "resource-id: the patient as an HL7 v2 CX string",
        ITI_40, "§3.40.4.1.2 (XACML resource-id)", ITI_40_URL, [];
    XUA_CONSENT = "xua.attribute.consent", "BPPC consent attributes (acp, docid) as xs:anyURI with NameFormat uri",
        ITI_40, "§3.40.4.1.2 (BPPC docid, XUA acp)", ITI_40_URL, [];
    XUA_OTHER = "xua.attribute.other", "An attribute outside the XUA and PJD tables: the profile's policy on unknown attributes applies",
        ITI_40, "§3.40.4.1.2 (further attributes by local policy)", ITI_40_URL, [];
    PJD_ATTRIBUTE = "pjd.attribute", "An attribute of NHN's PJD profile (point of care, department, care relationship, session)",
        PJD, "§2.3 (attributes for the Norwegian trust framework)", PJD_URL,
        [("NHN Tillitsrammeverk, informasjons- og datamodell §6.3.1 (model to SAML)", TR_MODEL_URL)];
    PROFILE_MAPPING = "profile.mapping", "The profile's table reads the token into the model without conflict",
        ITI_40, "§3.40.4.1.2; IUA §3.71.4.2.2.1; TR v1.1 §6.3.1 (the mapping tables)", ITI_40_URL,
        [("IHE ITI IUA §3.71.4.2.2.1", IUA_URL), ("NHN Tillitsrammeverk, informasjons- og datamodell §6.3.1", TR_MODEL_URL)];
    JWT_FORMAT = "jwt.format", "A compact JWS: three canonical base64url segments of strict JSON",
        "IETF RFC 7515", "§7.1 (JWS compact serialization); RFC 7519 §7.2", "https://www.rfc-editor.org/rfc/rfc7515#section-7.1", [];
    JWT_HEADER = "jwt.header", "An allowed signature algorithm, no header-supplied keys, no crit, no JWE",
        "IETF RFC 8725", "§3.1 (perform algorithm verification); RFC 7515 §4.1", "https://www.rfc-editor.org/rfc/rfc8725#section-3.1", [];
    JWT_TYP = "jwt.typ", "The typ header names an access token (at+jwt)",
        "IETF RFC 9068", "§2.1 (header), §4 (validation)", "https://www.rfc-editor.org/rfc/rfc9068#section-2.1",
        [HELSEID_AT];
    JWT_SIGNATURE = "jwt.signature", "The JWS signature verifies with the issuer's key",
        "IETF RFC 7515", "§5.2 (message signature validation)", "https://www.rfc-editor.org/rfc/rfc7515#section-5.2",
        [("IETF RFC 9068 §4", "https://www.rfc-editor.org/rfc/rfc9068#section-4"), HELSEID_AT];
    JWT_TRUST = "jwt.trust", "The token's iss is a configured issuer whose configured keys verify it",
        "IETF RFC 9068", "§4 (iss matches the authorization server)", "https://www.rfc-editor.org/rfc/rfc9068#section-4",
        [HELSEID_AT];
    JWT_VALIDITY = "jwt.validity", "exp is in the future, nbf and iat are not, and the lifetime is within the limit",
        "IETF RFC 7519", "§4.1.4 (exp), §4.1.5 (nbf), §4.1.6 (iat)", "https://www.rfc-editor.org/rfc/rfc7519#section-4.1.4",
        [HELSEID_AT, ("NHN Tillitsrammeverk ATT-58 (attestation age)", TR_RULES_URL)];
    JWT_AUDIENCE = "jwt.audience", "aud names this gateway, and the token is an access token, not an ID token",
        "IETF RFC 7519", "§4.1.3 (aud); RFC 9068 §4", "https://www.rfc-editor.org/rfc/rfc7519#section-4.1.3",
        [HELSEID_AT];
    JWT_REPLAY = "jwt.replay", "The token (its jti) was not exchanged before",
        "IETF RFC 7519", "§4.1.7 (jti)", "https://www.rfc-editor.org/rfc/rfc7519#section-4.1.7", [];
    JWT_REGISTERED = "jwt.claim.registered", "A registered claim the gateway checks itself (iss, sub, aud, exp, nbf, iat, jti)",
        "IETF RFC 7519", "§4.1 (registered claim names)", "https://www.rfc-editor.org/rfc/rfc7519#section-4.1", [];
    JWT_ACCESS_TOKEN = "jwt.claim.access-token", "client_id and scope of a JWT access token",
        "IETF RFC 9068", "§2.2 (data structure), §2.2.3 (scope)", "https://www.rfc-editor.org/rfc/rfc9068#section-2.2",
        [("IHE ITI IUA §3.71.4.2.2.1 (required claims)", IUA_URL)];
    JWT_OTHER = "jwt.claim.other", "A claim the profile does not use",
        "IETF RFC 7519", "§4.2, §4.3 (public and private claim names)", "https://www.rfc-editor.org/rfc/rfc7519#section-4.3", [];
    IUA_EXTENSIONS = "iua.claim.extensions", "An IUA extension claim (extensions.ihe_iua, extensions.ihe_bppc)",
        IUA, "§3.71.4.2.2.1 (JWT IUA extensions)", IUA_URL, [];
    HELSEID_CLAIM = "helseid.claim", "A HelseID claim (helseid://claims/...)",
        "HelseID", "claims reference; access-token validation", HELSEID_AT.1, [];
    HELSEID_ATTESTATION = "helseid.attestation", "The trust-framework attestation (nhn:tillitsrammeverk:parameters, authorization_details)",
        TR_MODEL, "the attestation structure (practitioner, care_relationship, patients)", TR_MODEL_URL,
        [("IETF RFC 9396 (authorization_details)", "https://www.rfc-editor.org/rfc/rfc9396")];
    VALUE_REQUIRED = "value.required", "A field the profile requires is present",
        TR_MODEL, "§1.3 (required fields); for ihe-iua ITI TF-2 §3.40.4.1.2 (Subject) and IUA §3.71.4.2.2.1 (sub)", TR_MODEL_URL,
        [("IHE ITI TF-2 §3.40.4.1.2", ITI_40_URL), ("IHE ITI IUA §3.71.4.2.2.1", IUA_URL)];
    VALUE_LENGTH = "value.length", "No text longer than the rules allow",
        DM, "security section (transferred values are validated)", DM_URL, [];
    VALUE_CHARSET = "value.charset", "user_reason holds only the allowed characters, starting and ending with a letter or digit",
        DM, "§4.2.6 (decision_ref user_reason)", DM_URL, [];
    VALUE_CODE = "value.code", "A code from a code system this field allows, found in its table (Volven)",
        PJD, "§2.3 (coded attributes and their code systems)", PJD_URL,
        [("Volven code-system register", "https://volven.no")];
    NO_IDENTIFIER = "no.identifier", "A Norwegian identifier that checks out for its system (fødselsnummer, D-number, HPR, organisation number, RESH)",
        TR_RULES, "ATT-10 (practitioner identifier is an F- or D-number); identifier systems 2.16.578.1.12.4.1.4.*", TR_RULES_URL, [];
    NO_ATT_37 = "no.att-37", "healthcare_service comes from an allowed Volven system",
        TR_RULES, "ATT-37", TR_RULES_URL, [];
    NO_ATT_38 = "no.att-38", "purpose_of_use is TREAT, ETREAT, COC or BTG (value set 2.16.840.1.113883.1.11.20448)",
        TR_RULES, "ATT-38 to ATT-41", TR_RULES_URL, [];
    NO_ATT_43 = "no.att-43", "healthcare_service or purpose_of_use_details is present",
        TR_RULES, "ATT-43", TR_RULES_URL, [];
    NO_ATT_45 = "no.att-45", "purpose_of_use_details comes from the care-relation or IPLOS system",
        TR_RULES, "ATT-45", TR_RULES_URL, [];
    EXCHANGE = "exchange.dry-run", "The exchange's own stages (verify, decode, rules, encode) accept the token",
        "IETF RFC 8693", "§2.2.2 (error response)", "https://www.rfc-editor.org/rfc/rfc8693#section-2.2.2", [];
    DPOP_PROOF = "dpop.proof", "A DPoP proof that is valid for this request and bound to the token's cnf.jkt",
        "IETF RFC 9449", "§4.3 (checking DPoP proofs), §6 (cnf.jkt)", "https://www.rfc-editor.org/rfc/rfc9449#section-4.3", [];
    FASTLEGE = "rules.fastlege", "The fastlege register's answer: a GP asking for their own patient gets healthcare_service from it",
        DM, "care relation: the patient's regular GP (fastlege)", DM_URL, [];
    HPR_AUTHORIZATION = "rules.hpr-authorization", "The practitioner's authorisation is valid in HPR (Helsepersonellregisteret)",
        "NHN Helsepersonellregisteret (HPR)", "services: authorisation status for access to Kjernejournal",
        "https://www.nhn.no/samhandlingsplattform/grunndata/helsepersonellregisteret", [HELSEID_AT];
    ACCESS_BLOCK = "rules.access-block", "No access block or reservation of the patient against this access",
        "Normen, Veileder tilgangsstyring", "the patient's reservation and blocking (sperring)",
        "https://www.ehelse.no/normen/veiledere/veileder-tilgangsstyring", [HELSEID_AT];
}

/// Rules in the table that no check of this build produces yet (their checks are being added); the coverage
/// test does not ask for an input that exercises them, and the table marks them.
pub const PENDING: &[&str] = &[];

/// The rule with this id.
pub fn rule(id: &str) -> Option<&'static RuleId> {
    RULES.iter().copied().find(|r| r.id == id)
}

/// `docs/inspector-rules.md`: the table as Markdown.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Inspector rules\n\n\
         Every item of an inspection report (`POST /inspect`, `xua-gateway inspect`, the page at `/inspector`) \
         carries one of these rule ids, with the specification and section it checks. This file is generated from \
         `src/inspect/catalog.rs` by the test `the_rules_table_in_docs_is_generated_from_the_code` \
         (run it with `XUA_UPDATE_DOCS=1` to rewrite it); edit the code, not this file.\n\n\
         | rule | checks | specification | section | see also |\n|---|---|---|---|---|\n",
    );
    for r in RULES {
        let also: Vec<String> = r
            .also
            .iter()
            .map(|(name, url)| format!("[{}]({url})", cell(name)))
            .collect();
        let pending = if PENDING.contains(&r.id) {
            " (not checked by this build yet)"
        } else {
            ""
        };
        let spec = if r.url.is_empty() {
            cell(r.spec)
        } else {
            format!("[{}]({})", cell(r.spec), r.url)
        };
        out.push_str(&format!(
            "| `{}` | {}{pending} | {spec} | {} | {} |\n",
            r.id,
            cell(r.title),
            cell(r.section),
            also.join("; ")
        ));
    }
    out
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
