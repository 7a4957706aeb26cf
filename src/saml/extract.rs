//! Reads the gateway's view of an assertion from the element tree of the signed bytes.
//! Structure SAML does not allow, or that the gateway does not understand, is rejected here.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::fragment::XmlFragment;
use super::tree::{self, Node};
use super::view::{
    AssertionView, Conditions, ProxyRestriction, SamlAttribute, SamlValue, SubjectConfirmation,
};
use crate::error::{shown, Rejection};
use crate::ns;

/// Parses an `xs:dateTime` that must carry a time zone (a zone-less time is ambiguous across borders).
pub fn parse_datetime(what: &str, s: &str) -> Result<OffsetDateTime, Rejection> {
    OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map_err(|_| Rejection::parse(format!("{what} is not an xs:dateTime with a time zone")))
}

fn opt_datetime(node: &Node, attr: &str, what: &str) -> Result<Option<OffsetDateTime>, Rejection> {
    node.attr(attr).map(|s| parse_datetime(what, s)).transpose()
}

fn text_only(node: &Node, what: &str) -> Result<String, Rejection> {
    if !node.children.is_empty() {
        return Err(Rejection::structure(format!("{what} must hold text only")));
    }
    Ok(node.text.trim().to_string())
}

fn single<'a>(node: &'a Node, local: &'a str, what: &str) -> Result<Option<&'a Node>, Rejection> {
    let mut found = node.children_named(ns::SAML, local);
    let first = found.next();
    if found.next().is_some() {
        return Err(Rejection::structure(format!(
            "{what} appears more than once"
        )));
    }
    Ok(first)
}

/// Parses signed assertion bytes into the view.
pub(crate) fn assertion_view(bytes: &[u8]) -> Result<AssertionView, Rejection> {
    let root = tree::parse(bytes)?;
    view_of(&root)
}

pub(crate) fn view_of(a: &Node) -> Result<AssertionView, Rejection> {
    if !a.is(ns::SAML, "Assertion") {
        return Err(Rejection::structure(
            "the signed element is not a SAML 2.0 Assertion",
        ));
    }
    if a.attr("Version") != Some("2.0") {
        return Err(Rejection::structure("the assertion's Version is not 2.0"));
    }
    let id = a
        .attr("ID")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::structure("the assertion has no ID"))?
        .to_string();
    let issue_instant = parse_datetime(
        "IssueInstant",
        a.attr("IssueInstant")
            .ok_or_else(|| Rejection::structure("the assertion has no IssueInstant"))?,
    )?;

    let mut issuer = None;
    let mut subject = None;
    let mut conditions = None;
    let mut attributes = Vec::new();
    let mut authn_instant = None;
    let mut authn_context_class = None;
    for (i, child) in a.children.iter().enumerate() {
        match (child.ns.as_deref(), child.local.as_str()) {
            (Some(ns::SAML), "Issuer") => {
                if i != 0 {
                    return Err(Rejection::structure(
                        "Issuer must be the assertion's first element",
                    ));
                }
                // The issuer is matched exactly against configuration, so "unspecified" (CH:XUA writes a DN
                // under it) is as safe as "entity"; a transient or e-mail name is not an issuer identity.
                if let Some(format) = child.attr("Format") {
                    if !matches!(
                        format,
                        "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
                            | "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
                    ) {
                        return Err(Rejection::iss(
                            "the Issuer's Format is not an entity identifier",
                        ));
                    }
                }
                issuer = Some(text_only(child, "Issuer")?);
            }
            (Some(ns::DSIG), "Signature") => {}
            (Some(ns::SAML), "Subject") => {
                if subject.is_some() {
                    return Err(Rejection::structure("Subject appears more than once"));
                }
                subject = Some(child);
            }
            (Some(ns::SAML), "Conditions") => {
                if conditions.is_some() {
                    return Err(Rejection::structure("Conditions appears more than once"));
                }
                conditions = Some(read_conditions(child)?);
            }
            // Advice carries references to other assertions (eHDSI TRC); it grants nothing, so it is skipped.
            (Some(ns::SAML), "Advice") => {}
            (Some(ns::SAML), "AttributeStatement") => {
                for attr in &child.children {
                    if attr.is(ns::SAML, "Attribute") {
                        attributes.push(read_attribute(attr)?);
                    } else {
                        return Err(Rejection::structure(
                            "an AttributeStatement holds something other than Attribute elements",
                        ));
                    }
                }
            }
            (Some(ns::SAML), "AuthnStatement") => {
                authn_instant =
                    authn_instant.or(opt_datetime(child, "AuthnInstant", "AuthnInstant")?);
                if let Some(ctx) = single(child, "AuthnContext", "AuthnContext")? {
                    if let Some(class) =
                        single(ctx, "AuthnContextClassRef", "AuthnContextClassRef")?
                    {
                        authn_context_class = Some(text_only(class, "AuthnContextClassRef")?);
                    }
                }
            }
            (Some(ns::SAML), "AuthzDecisionStatement") | (Some(ns::SAML), "Statement") => {
                return Err(Rejection::claim(
                    "the assertion holds a statement type the gateway does not understand",
                ));
            }
            _ => {
                return Err(Rejection::structure(format!(
                    "the assertion holds an unexpected element {}",
                    shown(&child.local)
                )))
            }
        }
    }
    let issuer = issuer
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::iss("the assertion has no Issuer"))?;

    let subject = match subject {
        Some(s) => read_subject(s)?,
        None => SubjectParts {
            name_id: None,
            format: None,
            qualifier: None,
            confirmations: Vec::new(),
        },
    };

    Ok(AssertionView {
        id,
        issue_instant,
        issuer,
        name_id: subject.name_id,
        name_id_format: subject.format,
        name_id_qualifier: subject.qualifier,
        confirmations: subject.confirmations,
        conditions,
        authn_instant,
        authn_context_class,
        attributes,
    })
}

struct SubjectParts {
    name_id: Option<String>,
    format: Option<String>,
    qualifier: Option<String>,
    confirmations: Vec<SubjectConfirmation>,
}

fn read_subject(s: &Node) -> Result<SubjectParts, Rejection> {
    let mut name_id = None;
    let mut format = None;
    let mut qualifier = None;
    let mut confirmations = Vec::new();
    for child in &s.children {
        match (child.ns.as_deref(), child.local.as_str()) {
            (Some(ns::SAML), "NameID") => {
                if name_id.is_some() {
                    return Err(Rejection::structure("Subject has more than one NameID"));
                }
                name_id = Some(text_only(child, "NameID")?);
                format = child.attr("Format").map(str::to_string);
                qualifier = child.attr("NameQualifier").map(str::to_string);
            }
            (Some(ns::SAML), "SubjectConfirmation") => {
                let method = child
                    .attr("Method")
                    .ok_or_else(|| Rejection::subj("a SubjectConfirmation has no Method"))?
                    .to_string();
                let mut c = SubjectConfirmation {
                    method,
                    not_before: None,
                    not_on_or_after: None,
                    recipient: None,
                    in_response_to: None,
                    has_key_info: false,
                };
                if let Some(data) =
                    single(child, "SubjectConfirmationData", "SubjectConfirmationData")?
                {
                    c.not_before =
                        opt_datetime(data, "NotBefore", "SubjectConfirmationData NotBefore")?;
                    c.not_on_or_after =
                        opt_datetime(data, "NotOnOrAfter", "SubjectConfirmationData NotOnOrAfter")?;
                    c.recipient = data.attr("Recipient").map(str::to_string);
                    c.in_response_to = data.attr("InResponseTo").map(str::to_string);
                    c.has_key_info = data.children.iter().any(|k| k.is(ns::DSIG, "KeyInfo"));
                }
                confirmations.push(c);
            }
            (Some(ns::SAML), "EncryptedID") | (Some(ns::SAML), "BaseID") => {
                return Err(Rejection::subj("only a plain NameID subject is supported"));
            }
            _ => return Err(Rejection::structure("Subject holds an unexpected element")),
        }
    }
    Ok(SubjectParts {
        name_id,
        format,
        qualifier,
        confirmations,
    })
}

fn read_conditions(c: &Node) -> Result<Conditions, Rejection> {
    let mut out = Conditions {
        not_before: opt_datetime(c, "NotBefore", "Conditions NotBefore")?,
        not_on_or_after: opt_datetime(c, "NotOnOrAfter", "Conditions NotOnOrAfter")?,
        ..Conditions::default()
    };
    for child in &c.children {
        match (child.ns.as_deref(), child.local.as_str()) {
            (Some(ns::SAML), "AudienceRestriction") => {
                let audiences = audiences_of(child)?;
                if audiences.is_empty() {
                    return Err(Rejection::aud("an AudienceRestriction names no Audience"));
                }
                out.audience_restrictions.push(audiences);
            }
            (Some(ns::SAML), "OneTimeUse") => {
                if out.one_time_use {
                    return Err(Rejection::structure("OneTimeUse appears more than once"));
                }
                out.one_time_use = true;
            }
            (Some(ns::SAML), "ProxyRestriction") => {
                if out.proxy_restriction.is_some() {
                    return Err(Rejection::structure(
                        "ProxyRestriction appears more than once",
                    ));
                }
                let count = child
                    .attr("Count")
                    .map(|s| {
                        s.trim()
                            .parse::<u32>()
                            .map_err(|_| Rejection::parse("ProxyRestriction Count is not a number"))
                    })
                    .transpose()?;
                out.proxy_restriction = Some(ProxyRestriction {
                    count,
                    audiences: audiences_of(child)?,
                });
            }
            _ => {
                let name = match &child.xsi_type {
                    Some((_, t)) => format!("{} ({})", child.local, t),
                    None => child.local.clone(),
                };
                out.unknown.push(name);
            }
        }
    }
    Ok(out)
}

fn audiences_of(node: &Node) -> Result<Vec<String>, Rejection> {
    let mut out = Vec::new();
    for child in &node.children {
        if !child.is(ns::SAML, "Audience") {
            return Err(Rejection::structure(
                "an audience list holds something other than Audience",
            ));
        }
        out.push(text_only(child, "Audience")?);
    }
    Ok(out)
}

fn read_attribute(a: &Node) -> Result<SamlAttribute, Rejection> {
    let name = a
        .attr("Name")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Rejection::structure("an Attribute has no Name"))?
        .to_string();
    let mut values = Vec::new();
    for v in &a.children {
        if !v.is(ns::SAML, "AttributeValue") {
            return Err(Rejection::structure(
                "an Attribute holds something other than AttributeValue",
            ));
        }
        let nil = matches!(
            v.attr_ns(ns::XSI, "nil").map(str::trim),
            Some("true") | Some("1")
        );
        if nil && (!v.text.trim().is_empty() || !v.children.is_empty()) {
            return Err(Rejection::structure(
                "an AttributeValue is xsi:nil but has content",
            ));
        }
        values.push(SamlValue {
            text: v.text.clone(),
            elements: v.children.iter().map(fragment_of).collect(),
            nil,
            xsi_type: v.xsi_type.as_ref().map(|(_, local)| local.clone()),
        });
    }
    Ok(SamlAttribute {
        name,
        name_format: a.attr("NameFormat").map(str::to_string),
        friendly_name: a.attr("FriendlyName").map(str::to_string),
        values,
    })
}

fn fragment_of(n: &Node) -> XmlFragment {
    XmlFragment {
        name: n.local.clone(),
        namespace: n.ns.clone(),
        attributes: n
            .attrs
            .iter()
            .map(|a| (a.local.clone(), a.value.clone()))
            .collect(),
        children: n.children.iter().map(fragment_of).collect(),
        text: n.text.clone(),
    }
}
