use super::*;
use crate::error::ErrorClass;

const S12: &str = "http://www.w3.org/2003/05/soap-envelope";

fn env(header: &str, body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{S12}" xmlns:a="http://www.w3.org/2005/08/addressing">{header}<s:Body>{body}</s:Body></s:Envelope>
"#
    )
}

const HEADER: &str = r#"<s:Header>
  <a:Action s:mustUnderstand="1">
     urn:ihe:iti:2007:CrossGatewayQuery
  </a:Action>
  <a:MessageID>urn:uuid:1</a:MessageID>
  <a:To>https://upstream.example/xca</a:To>
  <a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>
  <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><x/></wsse:Security>
  <v:ctx xmlns:v="urn:vendor" s:role="urn:r">x</v:ctx>
</s:Header>"#;

fn refused(xml: &str) -> Rejection {
    scan(xml.as_bytes(), &SoapLimits::default()).unwrap_err()
}

#[test]
fn records_blocks_action_and_byte_ranges() {
    let xml = env(HEADER, "<q:Req xmlns:q=\"urn:q\"><q:x/></q:Req>");
    let e = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(
        e.action.as_deref(),
        Some("urn:ihe:iti:2007:CrossGatewayQuery")
    );
    assert_eq!(e.message_id.as_deref(), Some("urn:uuid:1"));
    assert_eq!(e.prefix.as_deref(), Some("s"));
    assert_eq!(e.header_soap_prefix.as_deref(), Some("s"));
    let kinds: Vec<BlockKind> = e.blocks.iter().map(|b| b.kind).collect();
    assert_eq!(
        kinds,
        [
            BlockKind::Action,
            BlockKind::MessageId,
            BlockKind::To,
            BlockKind::ReplyTo,
            BlockKind::Security,
            BlockKind::Other
        ]
    );
    let text = |r: &Range<usize>| std::str::from_utf8(e.slice(r)).unwrap().to_string();
    assert!(text(&e.blocks[0].range).starts_with("<a:Action"));
    assert!(text(&e.blocks[0].range).ends_with("</a:Action>"));
    assert!(e.blocks[0].must_understand);
    assert!(!e.blocks[1].must_understand);
    assert_eq!(e.blocks[5].role.as_deref(), Some("urn:r"));
    assert_eq!(
        text(&e.blocks[4].range),
        r#"<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><x/></wsse:Security>"#
    );
    let header = e.header.as_ref().unwrap();
    assert_eq!(text(&header.start_tag), "<s:Header>");
    assert_eq!(text(header.end_tag.as_ref().unwrap()), "</s:Header>");
    assert_eq!(text(&e.body.start_tag), "<s:Body>");
    assert_eq!(
        text(&e.body.whole()),
        "<s:Body><q:Req xmlns:q=\"urn:q\"><q:x/></q:Req></s:Body>"
    );
    let child = e.body_child().unwrap();
    assert_eq!(child.namespace.as_deref(), Some("urn:q"));
    assert_eq!(
        text(&child.range),
        "<q:Req xmlns:q=\"urn:q\"><q:x/></q:Req>"
    );
    assert_eq!(
        text(&e.envelope.start_tag),
        format!(r#"<s:Envelope xmlns:s="{S12}" xmlns:a="http://www.w3.org/2005/08/addressing">"#)
    );
}

#[test]
fn a_default_namespace_envelope_a_bom_and_an_empty_header_are_fine() {
    let xml = format!("\u{FEFF}<Envelope xmlns=\"{S12}\"><Header/><Body/></Envelope>");
    let e = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(e.prefix, None);
    assert_eq!(e.header_soap_prefix, None);
    assert!(e.header_default_namespace);
    let header = e.header.clone().unwrap();
    assert_eq!(header.end_tag, None);
    assert_eq!(e.slice(&header.start_tag), b"<Header/>");
    assert!(e.body_children.is_empty());
    assert_eq!(e.action, None);
}

#[test]
fn the_structure_is_strict() {
    let cases: Vec<(String, ErrorClass, &str)> = vec![
        (env("", "").replace("<s:Body></s:Body>", "<s:Body/><s:Body/>"), ErrorClass::Struct, "more than one Body"),
        (env("<s:Header/><s:Header/>", ""), ErrorClass::Struct, "more than one Header"),
        (env("", "").replace("<s:Body></s:Body>", "<s:Body/><s:Header/>"), ErrorClass::Struct, "before the Body"),
        (env("", "") + "<s:Envelope xmlns:s=\"x\"/>", ErrorClass::Struct, "after the Envelope"),
        (env("", "") + "garbage", ErrorClass::Parse, "after the Envelope"),
        (env("", "") + "<!-- late -->", ErrorClass::Struct, "after the Envelope"),
        (env("", "").replace("<s:Body></s:Body>", ""), ErrorClass::Struct, "no Body"),
        (env("<s:Header><Action>x</Action></s:Header>", ""), ErrorClass::Struct, "not namespace-qualified"),
        (env("<s:Header><a:Action>x</a:Action><a:Action>y</a:Action></s:Header>", ""), ErrorClass::Struct, "more than one WS-Addressing Action"),
        (env("<s:Header><a:Action>x<!--c-->y</a:Action></s:Header>", ""), ErrorClass::Struct, "comments"),
        (env("<s:Header><a:Action><b/></a:Action></s:Header>", ""), ErrorClass::Struct, "must hold text"),
        (env("<s:Header><a:Action> </a:Action></s:Header>", ""), ErrorClass::Struct, "empty"),
        (env("<s:Header><a:To s:mustUnderstand=\"yes\">x</a:To></s:Header>", ""), ErrorClass::Parse, "boolean"),
        (env("", "text"), ErrorClass::Struct, "Body holds text"),
        (env("<s:Other/>", ""), ErrorClass::Struct, "other than Header and Body"),
        (format!("<s:Envelope xmlns:s=\"{S12}\"><s:Body>"), ErrorClass::Parse, "truncated"),
        (format!("<s:Envelope xmlns:s=\"{S12}\"><s:Body></s:Bod></s:Envelope>"), ErrorClass::Parse, "not well-formed"),
        ("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body/></s:Envelope>".into(), ErrorClass::Request, "SOAP 1.1"),
        ("<s:Envelope xmlns:s=\"urn:other\"><s:Body/></s:Envelope>".into(), ErrorClass::Struct, "not in the SOAP 1.2 namespace"),
        ("<Body/>".into(), ErrorClass::Struct, "not a SOAP Envelope"),
        ("".into(), ErrorClass::Parse, "no Envelope"),
        (env("", "<u:x/>"), ErrorClass::Parse, "undeclared namespace prefix"),
    ];
    for (xml, class, words) in cases {
        let r = refused(&xml);
        assert_eq!(r.class, class, "{xml}: {r}");
        assert!(r.message.contains(words), "{xml}: {r}");
    }
}

#[test]
fn dtds_entities_and_processing_instructions_are_refused() {
    let doctype = format!("<!DOCTYPE s:Envelope [<!ENTITY x \"y\">]><s:Envelope xmlns:s=\"{S12}\"><s:Body>&x;</s:Body></s:Envelope>");
    assert_eq!(refused(&doctype).class, ErrorClass::Forbidden);
    assert_eq!(
        refused(&env("", "<q:a xmlns:q=\"u\">&x;</q:a>")).class,
        ErrorClass::Forbidden
    );
    assert_eq!(
        refused(&env("", "<q:a xmlns:q=\"u\" b=\"&x;\"/>")).class,
        ErrorClass::Forbidden
    );
    assert_eq!(refused(&env("", "<?pi x?>")).class, ErrorClass::Forbidden);
    let pi_before = format!("<?pi x?><s:Envelope xmlns:s=\"{S12}\"><s:Body/></s:Envelope>");
    assert_eq!(refused(&pi_before).class, ErrorClass::Forbidden);
    let latin1 = env("", "").replace(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>",
    );
    assert_eq!(refused(&latin1).class, ErrorClass::Parse);
    let xinclude = env(
        "",
        "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"/etc/passwd\"/>",
    );
    assert_eq!(refused(&xinclude).class, ErrorClass::Forbidden);
    // Predefined and character references are text, not entities.
    let fine = env("", "<q:a xmlns:q=\"u\" b=\"&amp;&#65;\">&lt;&#x41;</q:a>");
    assert!(scan(fine.as_bytes(), &SoapLimits::default()).is_ok());
}

#[test]
fn not_utf8_is_refused() {
    let mut bytes = env("", "<q:a xmlns:q=\"u\">x</q:a>").into_bytes();
    let at = bytes.iter().position(|b| *b == b'x').unwrap();
    bytes[at] = 0xD8;
    let r = scan(&bytes, &SoapLimits::default()).unwrap_err();
    assert_eq!(r.class, ErrorClass::Parse);
    assert!(r.message.contains("UTF-8"));
}

#[test]
fn limits_are_checked_before_and_while_reading() {
    let xml = env(
        HEADER,
        "<q:a xmlns:q=\"u\"><q:b><q:c x=\"1\" y=\"2\"/></q:b></q:a>",
    );
    let ok = SoapLimits::default();
    assert!(scan(xml.as_bytes(), &ok).is_ok());
    let r = scan(
        xml.as_bytes(),
        &SoapLimits {
            max_bytes: xml.len() - 1,
            ..ok
        },
    )
    .unwrap_err();
    assert_eq!(r.class, ErrorClass::Limit);
    let r = scan(xml.as_bytes(), &SoapLimits { max_depth: 4, ..ok }).unwrap_err();
    assert!(
        r.class == ErrorClass::Limit && r.message.contains("deeper"),
        "{r}"
    );
    let r = scan(
        xml.as_bytes(),
        &SoapLimits {
            max_elements: 10,
            ..ok
        },
    )
    .unwrap_err();
    assert!(
        r.class == ErrorClass::Limit && r.message.contains("elements"),
        "{r}"
    );
    let r = scan(
        xml.as_bytes(),
        &SoapLimits {
            max_attributes_per_element: 1,
            ..ok
        },
    )
    .unwrap_err();
    assert!(
        r.class == ErrorClass::Limit && r.message.contains("attributes"),
        "{r}"
    );
    let r = scan(
        xml.as_bytes(),
        &SoapLimits {
            max_value_chars: 10,
            ..ok
        },
    )
    .unwrap_err();
    assert!(
        r.class == ErrorClass::Limit && r.message.contains("Action"),
        "{r}"
    );
    let r = scan(
        xml.as_bytes(),
        &SoapLimits {
            max_namespace_bindings: 2,
            ..ok
        },
    )
    .unwrap_err();
    assert_eq!(r.class, ErrorClass::Parse, "{r}");
}

#[test]
fn a_rebound_envelope_prefix_is_not_used_for_header_attributes() {
    let xml = format!(
        "<s:Envelope xmlns:s=\"{S12}\"><h:Header xmlns:h=\"{S12}\" xmlns:s=\"urn:other\"/><s2:Body xmlns:s2=\"{S12}\"/></s:Envelope>"
    );
    let e = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert_eq!(e.prefix.as_deref(), Some("s"));
    assert_eq!(e.header_soap_prefix.as_deref(), Some("h"));
}

#[test]
fn debug_does_not_show_the_message() {
    let xml = env(HEADER, "<q:Req xmlns:q=\"urn:q\">21868534521</q:Req>");
    let e = scan(xml.as_bytes(), &SoapLimits::default()).unwrap();
    assert!(!format!("{e:?}").contains("21868534521"));
}
