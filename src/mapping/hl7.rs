//! Value encodings shared by profiles: HL7 v3 CE and II, HL7 v2 CX, NHN's decision-ref fragment, OIDs.
//!
//! Decoding is liberal in the variants real issuers send (escaped or child element, `type=` or `xsi:type=`,
//! `urn:oid:` or bare OIDs, single- or double-escaped CX); encoding writes one canonical form.
//! Error strings describe the problem, never the value.

use super::OidForm;
use crate::model::{Coded, DecisionRef, Identifier};
use crate::ns;
use crate::saml::fragment::XmlFragment;

/// Whether `s` is a dotted-decimal OID (`2.16.578.1.12.4.1.4.1`).
pub fn is_oid(s: &str) -> bool {
    let mut arcs = 0;
    for arc in s.split('.') {
        if arc.is_empty()
            || !arc.bytes().all(|b| b.is_ascii_digit())
            || (arc.len() > 1 && arc.starts_with('0'))
        {
            return false;
        }
        arcs += 1;
    }
    arcs >= 2 && matches!(s.as_bytes().first(), Some(b'0'..=b'2'))
}

/// The model's one form of a code system / identifier system: OIDs as `urn:oid:...`, anything else as given.
pub fn normalize_system(s: &str) -> String {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix("urn:oid:") {
        if is_oid(rest) {
            return s.to_string();
        }
    }
    if is_oid(s) {
        return format!("urn:oid:{s}");
    }
    s.to_string()
}

/// Writes a model system in the requested OID form (non-OID systems are written as they are).
pub fn system_out(system: &str, form: OidForm) -> String {
    match (form, system.strip_prefix("urn:oid:")) {
        (OidForm::Bare, Some(oid)) if is_oid(oid) => oid.to_string(),
        _ => system.to_string(),
    }
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn check_type(f: &XmlFragment, allowed: &[&str], what: &str) -> Result<(), String> {
    match f.attr("type") {
        None => Ok(()),
        Some(t) => {
            let local = t.rsplit_once(':').map(|(_, l)| l).unwrap_or(t);
            if allowed.contains(&local) {
                Ok(())
            } else {
                Err(format!("its xsi:type is not {what}"))
            }
        }
    }
}

fn check_namespace(f: &XmlFragment) -> Result<(), String> {
    match f.namespace.as_deref() {
        None | Some(ns::HL7) => Ok(()),
        Some(_) => Err("its element is not in the HL7 v3 namespace".to_string()),
    }
}

/// HL7 CE (`code`, `codeSystem`, `codeSystemName`, `displayName`; NHN adds `assigningAuthorityName`).
pub fn ce_from_fragment(f: &XmlFragment) -> Result<Coded, String> {
    check_namespace(f)?;
    check_type(f, &["CE", "CV", "CD", "CS"], "CE")?;
    if f.attr("nullFlavor").is_some() {
        return Err("it has a nullFlavor instead of a code".to_string());
    }
    let code = non_empty(f.attr("code")).ok_or("it has no code")?;
    Ok(Coded {
        code,
        text: non_empty(f.attr("displayName")),
        system: non_empty(f.attr("codeSystem")).map(|s| normalize_system(&s)),
        assigner: non_empty(f.attr("assigningAuthorityName")),
    })
}

pub fn ce_to_fragment(
    c: &Coded,
    element: &str,
    system_name: Option<&str>,
    form: OidForm,
) -> XmlFragment {
    let mut f = XmlFragment::new(element);
    f.namespace = Some(ns::HL7.to_string());
    f = f.with_attr("xsi:type", "CE").with_attr("code", &c.code);
    if let Some(system) = &c.system {
        f = f.with_attr("codeSystem", system_out(system, form));
    }
    if let Some(name) = system_name {
        f = f.with_attr("codeSystemName", name);
    }
    if let Some(text) = &c.text {
        f = f.with_attr("displayName", text);
    }
    if let Some(assigner) = &c.assigner {
        f = f.with_attr("assigningAuthorityName", assigner);
    }
    f
}

/// HL7 II (`root` = the system, `extension` = the id; `assigningAuthorityName`).
pub fn ii_from_fragment(f: &XmlFragment) -> Result<Identifier, String> {
    check_namespace(f)?;
    check_type(f, &["II"], "II")?;
    if f.attr("nullFlavor").is_some() {
        return Err("it has a nullFlavor instead of an identifier".to_string());
    }
    let root = non_empty(f.attr("root")).ok_or("it has no root")?;
    let (id, system) = match non_empty(f.attr("extension")) {
        Some(ext) => (ext, Some(normalize_system(&root))),
        // An II with only a root is the identifier itself (HL7 v3 datatypes).
        None => (root, None),
    };
    Ok(Identifier {
        id,
        name: None,
        system,
        authority: non_empty(f.attr("assigningAuthorityName")),
    })
}

pub fn ii_to_fragment(i: &Identifier, element: &str, form: OidForm) -> XmlFragment {
    let mut f = XmlFragment::new(element);
    f.namespace = Some(ns::HL7.to_string());
    f = f.with_attr("xsi:type", "II");
    match &i.system {
        Some(system) => {
            f = f
                .with_attr("root", system_out(system, form))
                .with_attr("extension", &i.id)
        }
        None => f = f.with_attr("root", &i.id),
    }
    if let Some(authority) = &i.authority {
        f = f.with_attr("assigningAuthorityName", authority);
    }
    f.with_attr("displayable", "true")
}

/// HL7 v2 CX: `id^^^&<oid>&ISO`. NHN double-escapes the ampersands in some tokens, so after XML decoding
/// the text may still read `&amp;`.
pub fn cx_parse(text: &str) -> Result<Identifier, String> {
    let text = text.trim().replace("&amp;", "&");
    let mut components = text.split('^');
    let id = components.next().unwrap_or_default().to_string();
    if id.is_empty() {
        return Err("its CX value has no identifier".to_string());
    }
    if id.chars().any(|c| c.is_whitespace() || c == '&') {
        return Err("its CX identifier contains whitespace or '&'".to_string());
    }
    let authority = components.nth(2).unwrap_or_default();
    let system = if authority.is_empty() {
        None
    } else {
        let mut parts = authority.split('&');
        let namespace = parts.next().unwrap_or_default();
        let universal = parts.next().unwrap_or_default();
        let kind = parts.next().unwrap_or_default();
        if parts.next().is_some() {
            return Err("its CX assigning authority has too many sub-components".to_string());
        }
        match (kind, universal.is_empty()) {
            ("ISO", false) if is_oid(universal.strip_prefix("urn:oid:").unwrap_or(universal)) => {
                Some(normalize_system(universal))
            }
            ("ISO", _) => return Err("its CX assigning authority is not an OID".to_string()),
            ("URI", false) => Some(universal.to_string()),
            ("", true) if !namespace.is_empty() => Some(namespace.to_string()),
            _ => return Err("its CX assigning authority type is not ISO or URI".to_string()),
        }
    };
    Ok(Identifier {
        id,
        name: None,
        system,
        authority: None,
    })
}

pub fn cx_format(i: &Identifier) -> Result<String, String> {
    if i.id.contains(['^', '&', '~', '\\', '|']) {
        return Err("its identifier contains a CX delimiter".to_string());
    }
    // What cx_parse refuses is not written either.
    if i.id.is_empty() || i.id.chars().any(char::is_whitespace) {
        return Err("its identifier is empty or contains whitespace".to_string());
    }
    match &i.system {
        None => Ok(i.id.clone()),
        Some(system) => match system.strip_prefix("urn:oid:") {
            Some(oid) if is_oid(oid) => Ok(format!("{}^^^&{}&ISO", i.id, oid)),
            _ if system.contains(['^', '&', '~', '\\', '|']) => {
                Err("its system contains a CX delimiter".to_string())
            }
            // cx_parse reads `&amp;` as `&` (NHN double-escapes), so a system written after `&` must not
            // begin with `amp;` (a mapping_decoders fuzzer finding: it came back as another system).
            _ if system.starts_with("amp;") => {
                Err("its system would read back as an escaped delimiter".to_string())
            }
            _ => Ok(format!("{}^^^&{}&URI", i.id, system)),
        },
    }
}

pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim() {
        "true" | "True" | "TRUE" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "0" => Ok(false),
        _ => Err("its boolean is not true or false".to_string()),
    }
}

/// NHN's `<decision-ref><id value=".."/><user-selected value="True"/></decision-ref>`; `user-reason` is this
/// gateway's addition for the data model's free-text reason (docs/norway-profile.md).
pub fn decision_ref_from_fragment(f: &XmlFragment) -> Result<DecisionRef, String> {
    let id = f
        .child("id")
        .and_then(|c| non_empty(c.attr("value")))
        .ok_or("its decision-ref has no id")?;
    let user_selected = match f.child("user-selected").and_then(|c| c.attr("value")) {
        None => None,
        Some(v) => Some(parse_bool(v)?),
    };
    let user_reason = f
        .child("user-reason")
        .and_then(|c| non_empty(c.attr("value")));
    for child in &f.children {
        if !matches!(child.name.as_str(), "id" | "user-selected" | "user-reason") {
            return Err("its decision-ref has an unknown element".to_string());
        }
    }
    Ok(DecisionRef {
        id,
        user_selected,
        user_reason,
    })
}

pub fn decision_ref_to_fragment(d: &DecisionRef) -> XmlFragment {
    let mut f = XmlFragment::new("decision-ref");
    f.children
        .push(XmlFragment::new("id").with_attr("value", &d.id));
    if let Some(selected) = d.user_selected {
        f.children.push(
            XmlFragment::new("user-selected")
                .with_attr("value", if selected { "true" } else { "false" }),
        );
    }
    if let Some(reason) = &d.user_reason {
        f.children
            .push(XmlFragment::new("user-reason").with_attr("value", reason));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::fragment::parse_escaped;

    #[test]
    fn oids_are_recognised_and_normalised() {
        assert!(is_oid("2.16.578.1.12.4.1.4.1"));
        assert!(!is_oid("2"));
        assert!(!is_oid("2.16.01"));
        assert!(!is_oid("urn:oid:2.16"));
        assert!(!is_oid("3bc18518-d305-46c2-a8d6-94bd59856e9e"));
        assert_eq!(normalize_system("2.16.578"), "urn:oid:2.16.578");
        assert_eq!(normalize_system("urn:oid:2.16.578"), "urn:oid:2.16.578");
        assert_eq!(
            normalize_system("urn:AuditEventHL7Norway/CodeSystem/carerelation"),
            "urn:AuditEventHL7Norway/CodeSystem/carerelation"
        );
        assert_eq!(system_out("urn:oid:1.2.3", OidForm::Bare), "1.2.3");
        assert_eq!(system_out("urn:oid:1.2.3", OidForm::Urn), "urn:oid:1.2.3");
    }

    #[test]
    fn cx_single_and_double_escaped() {
        let a = cx_parse("12119000465^^^&2.16.578.1.12.4.1.4.1&ISO").unwrap();
        let b = cx_parse("12119000465^^^&amp;2.16.578.1.12.4.1.4.1&amp;ISO").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.system.as_deref(), Some("urn:oid:2.16.578.1.12.4.1.4.1"));
        assert_eq!(
            cx_format(&a).unwrap(),
            "12119000465^^^&2.16.578.1.12.4.1.4.1&ISO"
        );
        assert!(cx_parse("^^^&1.2&ISO").is_err());
        assert!(cx_parse("1^^^&notanoid&ISO").is_err());
        assert!(cx_parse("1 2^^^&1.2&ISO").is_err());
    }

    #[test]
    fn ce_round_trips_through_escaped_text() {
        let c = Coded {
            code: "LE".into(),
            text: Some("Lege".into()),
            system: Some("urn:oid:2.16.578.1.12.4.1.1.9060".into()),
            assigner: None,
        };
        let xml = XmlFragment::to_xml(&ce_to_fragment(
            &c,
            "Role",
            Some("Kategori helsepersonell"),
            OidForm::Urn,
        ));
        let back = ce_from_fragment(&parse_escaped(&xml).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn ce_rejects_wrong_type_namespace_and_missing_code() {
        let f = parse_escaped(r#"<Role xmlns="urn:hl7-org:v3" xsi:type="II" code="LE"/>"#).unwrap();
        assert!(ce_from_fragment(&f).is_err());
        let f = parse_escaped(r#"<Role xmlns="urn:evil" code="LE"/>"#).unwrap();
        assert!(ce_from_fragment(&f).is_err());
        let f = parse_escaped(r#"<Role xmlns="urn:hl7-org:v3" codeSystem="1.2"/>"#).unwrap();
        assert!(ce_from_fragment(&f).is_err());
    }

    #[test]
    fn decision_ref_round_trip() {
        let d = DecisionRef {
            id: "51c1b711".into(),
            user_selected: Some(true),
            user_reason: None,
        };
        let xml = XmlFragment::to_xml(&decision_ref_to_fragment(&d));
        assert_eq!(
            xml,
            r#"<decision-ref><id value="51c1b711"/><user-selected value="true"/></decision-ref>"#
        );
        assert_eq!(
            decision_ref_from_fragment(&parse_escaped(&xml).unwrap()).unwrap(),
            d
        );
    }

    #[test]
    fn escaping_keeps_markup_out() {
        let mut s = String::new();
        crate::saml::fragment::escape_into("</saml:AttributeValue><x a=\"1\">", &mut s);
        assert!(!s.contains('<') && !s.contains('"'));
    }
}
