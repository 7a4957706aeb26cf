//! Writing XUA assertions. Every value goes through quick-xml's escaping; nothing is spliced into a template,
//! so a claim can never add markup to a signed assertion.

use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use time::OffsetDateTime;

use super::fragment::XmlFragment;
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

type W = Writer<Vec<u8>>;

fn io(_: std::io::Error) -> Rejection {
    Rejection::internal("cannot write the assertion")
}

fn start(w: &mut W, el: BytesStart<'_>) -> Result<(), Rejection> {
    w.write_event(Event::Start(el)).map_err(io)
}

fn end(w: &mut W, name: &str) -> Result<(), Rejection> {
    w.write_event(Event::End(BytesEnd::new(name))).map_err(io)
}

fn empty(w: &mut W, el: BytesStart<'_>) -> Result<(), Rejection> {
    w.write_event(Event::Empty(el)).map_err(io)
}

fn text_element(w: &mut W, name: &str, text: &str) -> Result<(), Rejection> {
    start(w, BytesStart::new(name))?;
    w.write_event(Event::Text(BytesText::new(text)))
        .map_err(io)?;
    end(w, name)
}

/// What an assertion may say beyond [`AssertionSpec`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extra {
    /// `saml:OneTimeUse` in the Conditions (SAML core §2.5.1.5).
    pub one_time_use: bool,
}

/// Serialises an unsigned assertion: Issuer first (the signer inserts the Signature right after it),
/// Subject with a bearer confirmation, Conditions (NotBefore = IssueInstant, as XUA requires), the
/// AuthnStatement XUA requires, and the attributes.
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
    if spec.not_on_or_after <= spec.issue_instant {
        return Err(Rejection::time(
            "the assertion would expire before it is issued",
        ));
    }
    let issued = time(spec.issue_instant)?;
    let expires = time(spec.not_on_or_after)?;
    let mut w = Writer::new(Vec::with_capacity(4096));

    let mut root = BytesStart::new("saml:Assertion");
    root.push_attribute(("xmlns:saml", ns::SAML));
    root.push_attribute(("xmlns:xs", ns::XS));
    root.push_attribute(("xmlns:xsi", ns::XSI));
    root.push_attribute(("ID", spec.id));
    root.push_attribute(("IssueInstant", issued.as_str()));
    root.push_attribute(("Version", "2.0"));
    start(&mut w, root)?;

    text_element(&mut w, "saml:Issuer", spec.issuer)?;

    start(&mut w, BytesStart::new("saml:Subject"))?;
    let mut name_id = BytesStart::new("saml:NameID");
    if let Some(q) = spec.name_qualifier {
        name_id.push_attribute(("NameQualifier", q));
    }
    start(&mut w, name_id)?;
    w.write_event(Event::Text(BytesText::new(spec.name_id)))
        .map_err(io)?;
    end(&mut w, "saml:NameID")?;
    let mut sc = BytesStart::new("saml:SubjectConfirmation");
    sc.push_attribute(("Method", uri::CM_BEARER));
    start(&mut w, sc)?;
    let mut scd = BytesStart::new("saml:SubjectConfirmationData");
    scd.push_attribute(("NotOnOrAfter", expires.as_str()));
    empty(&mut w, scd)?;
    end(&mut w, "saml:SubjectConfirmation")?;
    end(&mut w, "saml:Subject")?;

    let mut conditions = BytesStart::new("saml:Conditions");
    conditions.push_attribute(("NotBefore", issued.as_str()));
    conditions.push_attribute(("NotOnOrAfter", expires.as_str()));
    start(&mut w, conditions)?;
    start(&mut w, BytesStart::new("saml:AudienceRestriction"))?;
    text_element(&mut w, "saml:Audience", spec.audience)?;
    end(&mut w, "saml:AudienceRestriction")?;
    if extra.one_time_use {
        empty(&mut w, BytesStart::new("saml:OneTimeUse"))?;
    }
    end(&mut w, "saml:Conditions")?;

    let mut authn = BytesStart::new("saml:AuthnStatement");
    let authn_instant = time(spec.authn_instant)?;
    authn.push_attribute(("AuthnInstant", authn_instant.as_str()));
    start(&mut w, authn)?;
    start(&mut w, BytesStart::new("saml:AuthnContext"))?;
    text_element(
        &mut w,
        "saml:AuthnContextClassRef",
        spec.authn_context_class,
    )?;
    end(&mut w, "saml:AuthnContext")?;
    end(&mut w, "saml:AuthnStatement")?;

    if !attributes.is_empty() {
        start(&mut w, BytesStart::new("saml:AttributeStatement"))?;
        for a in attributes {
            let mut el = BytesStart::new("saml:Attribute");
            el.push_attribute(("Name", a.name.as_str()));
            if let Some(f) = &a.name_format {
                el.push_attribute(("NameFormat", f.as_str()));
            }
            start(&mut w, el)?;
            for v in &a.values {
                let mut av = BytesStart::new("saml:AttributeValue");
                match v {
                    XuaValueOut::Text { text, xsi_type } => {
                        if let Some(t) = xsi_type {
                            av.push_attribute(("xsi:type", t.as_str()));
                        }
                        start(&mut w, av)?;
                        w.write_event(Event::Text(BytesText::new(text)))
                            .map_err(io)?;
                    }
                    XuaValueOut::Element(f) => {
                        start(&mut w, av)?;
                        // The assertion's root declares xsi; the fragment's text and attributes are escaped.
                        let mut xml = String::new();
                        f.write_xml(&mut xml, None, true);
                        w.get_mut().extend_from_slice(xml.as_bytes());
                    }
                }
                end(&mut w, "saml:AttributeValue")?;
            }
            end(&mut w, "saml:Attribute")?;
        }
        end(&mut w, "saml:AttributeStatement")?;
    }
    end(&mut w, "saml:Assertion")?;
    Ok(w.into_inner())
}

/// A fresh assertion ID: an NCName (starts with '_'), unique per assertion.
pub fn new_id() -> String {
    format!("_{}", uuid::Uuid::new_v4())
}
