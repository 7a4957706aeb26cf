//! Which rule of the table ([`super::catalog`]) an attribute, a claim or a value finding is checked against.
//! Attributes go by their `Name` (IHE's XUA table, NHN's PJD table, or neither), claims by their path, and
//! findings by the rule the rules file names (`ATT-43`, `codes`, `nin`, ...) and the field it is about.

use super::catalog::{self as c, RuleId};
use crate::mapping::explain::ItemReport;
use crate::rules::Finding;

/// The rule an attribute or claim of the report is checked against.
pub(super) fn item_rule(item: &ItemReport) -> &'static RuleId {
    let source = item.source.as_str();
    if source == "Subject NameID" || source == "NameID NameQualifier" {
        return c::SAML_NAMEID;
    }
    if let Some(name) = source.strip_prefix("attribute ") {
        return attribute_rule(name);
    }
    if let Some(path) = source.strip_prefix("claim ") {
        return claim_rule(path);
    }
    c::PROFILE_MAPPING
}

const XUA_NAMES: &[(&str, &RuleId)] = &[
    (
        "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
        c::XUA_SUBJECT_ID,
    ),
    (
        "urn:oasis:names:tc:xacml:1.0:subject:subject-id",
        c::XUA_SUBJECT_ID,
    ),
    (
        "urn:oasis:names:tc:xspa:1.0:subject:organization",
        c::XUA_ORGANIZATION,
    ),
    (
        "urn:oasis:names:tc:xspa:1.0:subject:organization-id",
        c::XUA_ORGANIZATION_ID,
    ),
    (
        "urn:ihe:iti:xca:2010:homeCommunityId",
        c::XUA_HOME_COMMUNITY,
    ),
    ("urn:oasis:names:tc:xspa:1.0:subject:npi", c::XUA_NPI),
    ("urn:oasis:names:tc:xspa:2.0:subject:npi", c::XUA_NPI),
    (
        "urn:ihe:iti:xua:2017:subject:provider-identifier",
        c::XUA_PROVIDER_ID,
    ),
    ("urn:oasis:names:tc:xacml:2.0:subject:role", c::XUA_ROLE),
    ("urn:oasis:names:tc:xspa:1.0:subject:role", c::XUA_ROLE),
    (
        "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse",
        c::XUA_PURPOSE,
    ),
    (
        "urn:oasis:names:tc:xspa:1.0:subject:purposeOfUse",
        c::XUA_PURPOSE,
    ),
    (
        "urn:oasis:names:tc:xacml:2.0:action:purpose",
        c::XUA_PURPOSE,
    ),
    (
        "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
        c::XUA_RESOURCE_ID,
    ),
    (
        "urn:oasis:names:tc:xacml:1.0:resource:resource-id",
        c::XUA_RESOURCE_ID,
    ),
    ("urn:ihe:iti:xua:2012:acp", c::XUA_CONSENT),
    ("urn:ihe:iti:bppc:2007:docid", c::XUA_CONSENT),
];

/// NHN's own attributes, and the XSPA names only NHN's table gives a meaning (docs/norway-profile.md, "PJD
/// XUA: versions and attribute names").
const PJD_PREFIXES: &[&str] = &["urn:nhn:", "urn:no:ehelse:"];
const PJD_NAMES: &[&str] = &[
    "urn:oasis:names:tc:xspa:1.0:subject:child-organization",
    "urn:oasis:names:tc:xspa:1.0:subject:facility",
    "SecurityLevel",
    "Scope",
];

fn attribute_rule(name: &str) -> &'static RuleId {
    if let Some((_, rule)) = XUA_NAMES.iter().find(|(n, _)| *n == name) {
        return rule;
    }
    if PJD_PREFIXES.iter().any(|p| name.starts_with(p)) || PJD_NAMES.contains(&name) {
        return c::PJD_ATTRIBUTE;
    }
    c::XUA_OTHER
}

fn claim_rule(path: &str) -> &'static RuleId {
    if path.starts_with("helseid://") {
        c::HELSEID_CLAIM
    } else if path.starts_with("nhn:tillitsrammeverk:parameters")
        || path.starts_with("authorization_details")
    {
        c::HELSEID_ATTESTATION
    } else if path == "extensions" || path.starts_with("extensions/") {
        c::IUA_EXTENSIONS
    } else if path == "client_id" || path == "scope" {
        c::JWT_ACCESS_TOKEN
    } else if ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"].contains(&path) {
        c::JWT_REGISTERED
    } else {
        c::JWT_OTHER
    }
}

fn is_field(field: &str, name: &str) -> bool {
    field == name
        || field
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The rule a value finding of the rules file is checked against.
pub(super) fn finding_rule(f: &Finding) -> &'static RuleId {
    let rule = f.rule.as_str();
    let field = f.field.as_str();
    if rule == "ATT-43" {
        return c::NO_ATT_43;
    }
    if rule == "max_len" {
        return c::VALUE_LENGTH;
    }
    if rule.starts_with("charset") {
        return c::VALUE_CHARSET;
    }
    // Coded fields of the attestation, by the business rule that lists their systems. The details field is
    // tested first: its name extends that of purpose_of_use.
    if rule == "codes" || rule == "required" {
        if is_field(field, "care_relationship.purpose_of_use_details") {
            return c::NO_ATT_45;
        }
        if is_field(field, "care_relationship.purpose_of_use") {
            return c::NO_ATT_38;
        }
        if is_field(field, "care_relationship.healthcare_service") {
            return c::NO_ATT_37;
        }
    }
    match rule {
        "codes" => c::VALUE_CODE,
        "required" => c::VALUE_REQUIRED,
        // Identifier checks are named by their kinds (`nin`, `hpr`, `resh/orgnr`): all Norwegian systems.
        _ if rule
            .split('/')
            .all(|k| crate::rules::ident::IdKind::parse(k).is_some()) =>
        {
            c::NO_IDENTIFIER
        }
        // Any other one-of group: one of its fields is required.
        _ => c::VALUE_REQUIRED,
    }
}
