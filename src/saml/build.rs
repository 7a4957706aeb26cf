//! Writing XUA assertions, element by element through the canonical writer (`saml::stream::sign`), which
//! checks every name and escapes every value by the c14n rules; nothing is spliced into a template, so a
//! claim can never add markup to a signed assertion.

use std::borrow::Cow;

use time::OffsetDateTime;

use super::dsig::SigningIdentity;
use super::fragment::XmlFragment;
use super::stream::sign::{self, CanonicalAssertion, CanonicalWriter};
use crate::error::Rejection;
use crate::ns;
use crate::saml::uri;

/// Everything an assertion says apart from its attributes.
#[derive(Debug, Clone)]
pub struct AssertionSpec<'a> {
    pub id: &'a str,
    pub issuer: &'a str,
    pub issue_instant: OffsetDateTime,
    pub not_on_or_after: OffsetDateTime,
    pub audience: &'a str,
    pub name_id: &'a str,
    pub name_qualifier: Option<&'a str>,
    pub authn_instant: OffsetDateTime,
    pub authn_context_class: &'a str,
}

/// One attribute to write into the assertion's AttributeStatement (the XUA encoder produces these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XuaAttributeOut {
    pub name: String,
    pub name_format: Option<String>,
    pub values: Vec<XuaValueOut>,
}

/// One value to write into an AttributeValue: text, or an element (HL7 CE/II as child elements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XuaValueOut {
    Text {
        text: String,
        xsi_type: Option<String>,
    },
    Element(XmlFragment),
}

pub const AC_X509: &str = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509";

fn time(t: OffsetDateTime) -> Result<String, Rejection> {
    // SAML wants UTC with a Z; millisecond precision is what IdPs send.
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt)
        .map_err(|_| Rejection::internal("cannot format a timestamp"))
}

type W<'a> = CanonicalWriter<'a>;

fn fragment<'a>(w: &mut W<'a>, f: &'a XmlFragment, parent_ns: Option<&str>) {
    let mut attributes: Vec<(&'a str, Cow<'a, str>)> = Vec::with_capacity(f.attributes.len() + 1);
    if f.namespace.as_deref() != parent_ns {
        if let Some(n) = &f.namespace {
            attributes.push(("xmlns", Cow::Borrowed(n.as_str())));
        }
    }
    for (k, v) in &f.attributes {
        attributes.push((k.as_str(), Cow::Borrowed(v.as_str())));
    }
    w.start(&f.name, attributes);
    if !f.text.is_empty() {
        w.text(f.text.as_str());
    }
    for c in &f.children {
        fragment(w, c, f.namespace.as_deref());
    }
    w.end();
}

/// What an assertion may say beyond [`AssertionSpec`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extra {
    /// `saml:OneTimeUse` in the Conditions (SAML core §2.5.1.5).
    pub one_time_use: bool,
}

/// Serialises an unsigned assertion: Issuer first (the signer inserts the Signature right after it),
/// Subject with a bearer confirmation, Conditions (NotBefore = IssueInstant, as XUA requires), the
/// AuthnStatement XUA requires, and the attributes. The bytes are the Assertion's exclusive canonical form
/// (PrefixList `xs`), so [`signed_assertion`] signs them as they stand.
pub fn assertion(
    spec: &AssertionSpec<'_>,
    attributes: &[XuaAttributeOut],
) -> Result<Vec<u8>, Rejection> {
    assertion_with(spec, attributes, &Extra::default())
}

/// [`assertion`], with what [`Extra`] adds.
pub fn assertion_with(
    spec: &AssertionSpec<'_>,
    attributes: &[XuaAttributeOut],
    extra: &Extra,
) -> Result<Vec<u8>, Rejection> {
    canonical_assertion_with(spec, attributes, extra).map(CanonicalAssertion::into_bytes)
}

/// [`assertion`], signed with our identity by the direct signer (`saml::stream::sign`): no second parse.
pub fn signed_assertion(
    spec: &AssertionSpec<'_>,
    attributes: &[XuaAttributeOut],
    identity: &SigningIdentity,
) -> Result<Vec<u8>, Rejection> {
    signed_assertion_with(spec, attributes, &Extra::default(), identity)
}

/// [`assertion_with`], signed by the direct signer.
pub fn signed_assertion_with(
    spec: &AssertionSpec<'_>,
    attributes: &[XuaAttributeOut],
    extra: &Extra,
    identity: &SigningIdentity,
) -> Result<Vec<u8>, Rejection> {
    sign::sign(
        &canonical_assertion_with(spec, attributes, extra)?,
        identity,
    )
}

/// The unsigned assertion in canonical form, with what the direct signer needs to know about it.
pub fn canonical_assertion(
    spec: &AssertionSpec<'_>,
    attributes: &[XuaAttributeOut],
) -> Result<CanonicalAssertion, Rejection> {
    canonical_assertion_with(spec, attributes, &Extra::default())
}

/// [`canonical_assertion`], with what [`Extra`] adds.
pub fn canonical_assertion_with(
    spec: &AssertionSpec<'_>,
    attributes: &[XuaAttributeOut],
    extra: &Extra,
) -> Result<CanonicalAssertion, Rejection> {
    if spec.not_on_or_after <= spec.issue_instant {
        return Err(Rejection::time(
            "the assertion would expire before it is issued",
        ));
    }
    let issued = time(spec.issue_instant)?;
    let expires = time(spec.not_on_or_after)?;
    let authn_instant = time(spec.authn_instant)?;
    let mut w = CanonicalWriter::new();

    w.start(
        "saml:Assertion",
        vec![
            ("xmlns:saml", Cow::Borrowed(ns::SAML)),
            ("xmlns:xs", Cow::Borrowed(ns::XS)),
            ("xmlns:xsi", Cow::Borrowed(ns::XSI)),
            ("ID", Cow::Borrowed(spec.id)),
            ("IssueInstant", Cow::Owned(issued.clone())),
            ("Version", Cow::Borrowed("2.0")),
        ],
    );
    w.text_element("saml:Issuer", spec.issuer);

    w.start("saml:Subject", Vec::new());
    let name_qualifier = spec
        .name_qualifier
        .map(|q| ("NameQualifier", Cow::Borrowed(q)));
    w.start("saml:NameID", name_qualifier.into_iter().collect());
    w.text(spec.name_id);
    w.end();
    w.start(
        "saml:SubjectConfirmation",
        vec![("Method", Cow::Borrowed(uri::CM_BEARER))],
    );
    w.start(
        "saml:SubjectConfirmationData",
        vec![("NotOnOrAfter", Cow::Owned(expires.clone()))],
    );
    w.end();
    w.end();
    w.end();

    w.start(
        "saml:Conditions",
        vec![
            ("NotBefore", Cow::Owned(issued)),
            ("NotOnOrAfter", Cow::Owned(expires)),
        ],
    );
    w.start("saml:AudienceRestriction", Vec::new());
    w.text_element("saml:Audience", spec.audience);
    w.end();
    if extra.one_time_use {
        w.start("saml:OneTimeUse", Vec::new());
        w.end();
    }
    w.end();

    w.start(
        "saml:AuthnStatement",
        vec![("AuthnInstant", Cow::Owned(authn_instant))],
    );
    w.start("saml:AuthnContext", Vec::new());
    w.text_element("saml:AuthnContextClassRef", spec.authn_context_class);
    w.end();
    w.end();

    if !attributes.is_empty() {
        w.start("saml:AttributeStatement", Vec::new());
        for a in attributes {
            let mut el = vec![("Name", Cow::Borrowed(a.name.as_str()))];
            if let Some(f) = &a.name_format {
                el.push(("NameFormat", Cow::Borrowed(f.as_str())));
            }
            w.start("saml:Attribute", el);
            for v in &a.values {
                match v {
                    XuaValueOut::Text { text, xsi_type } => {
                        let av = xsi_type
                            .as_ref()
                            .map(|t| ("xsi:type", Cow::Borrowed(t.as_str())));
                        w.start("saml:AttributeValue", av.into_iter().collect());
                        w.text(text.as_str());
                    }
                    XuaValueOut::Element(f) => {
                        w.start("saml:AttributeValue", Vec::new());
                        fragment(&mut w, f, None);
                    }
                }
                w.end();
            }
            w.end();
        }
        w.end();
    }
    w.end();
    w.finish()
}

/// A fresh assertion ID: an NCName (starts with '_'), unique per assertion.
pub fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4())
}
