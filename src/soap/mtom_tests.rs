use super::*;
use crate::error::ErrorClass;

const CT: &str = r#"multipart/related; type="application/xop+xml"; start="<root@x>"; start-info="application/soap+xml"; boundary="b:1+x""#;

fn package(eol: &str) -> String {
    format!(
        concat!(
            "preamble{e}",
            "--b:1+x{e}Content-Type: application/octet-stream{e}Content-ID: <att@x>{e}{e}BIN\u{0}ARY{e}",
            "--b:1+x  {e}Content-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\";{e}",
            "Content-Transfer-Encoding: binary{e}Content-ID: <root@x>{e}{e}<env/>{e}",
            "--b:1+x--{e}epilogue"
        ),
        e = eol
    )
}

#[test]
fn finds_the_root_by_start_and_rebuilds_with_every_other_byte_kept() {
    for eol in ["\r\n", "\n"] {
        let body = package(eol);
        let m = Multipart::parse(CT, body.as_bytes()).unwrap();
        assert_eq!(m.parts.len(), 2);
        assert_eq!(m.root, 1);
        assert_eq!(m.root_bytes(), b"<env/>");
        assert_eq!(m.part_bytes(&m.parts[0]), b"BIN\0ARY");
        assert_eq!(m.parts[0].content_id.as_deref(), Some("<att@x>"));
        let rebuilt = m.with_root(b"<new-env>\n</new-env>");
        assert_eq!(
            String::from_utf8(rebuilt).unwrap(),
            body.replace("<env/>", "<new-env>\n</new-env>")
        );
    }
}

#[test]
fn without_start_the_first_part_is_the_root() {
    let ct = r#"Multipart/Related; type="application/xop+xml"; boundary=b"#;
    let body = "--b\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\n\n<e/>\n--b\nContent-Type: text/plain\n\nx\n--b--";
    let m = Multipart::parse(ct, body.as_bytes()).unwrap();
    assert_eq!(m.root, 0);
    assert_eq!(m.root_bytes(), b"<e/>");
    assert!(is_mtom(ct));
    assert!(!is_mtom("application/soap+xml"));
}

#[test]
fn malformed_packages_are_refused() {
    let ok_root = "Content-Type: application/xop+xml; type=\"application/soap+xml\"\n\n<e/>";
    let cases: Vec<(&str, String, ErrorClass)> = vec![
        ("application/soap+xml", String::new(), ErrorClass::Request),
        (r#"multipart/related; boundary=b"#, String::new(), ErrorClass::Request),
        (r#"multipart/related; type="application/xop+xml""#, String::new(), ErrorClass::Parse),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, format!("--b\n{ok_root}\n"), ErrorClass::Parse),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, format!("--b\n{ok_root}\n--b--x"), ErrorClass::Parse),
        (r#"multipart/related; type="application/xop+xml"; boundary=b; start="<nope>""#, format!("--b\n{ok_root}\n--b--"), ErrorClass::Struct),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, "--b\nContent-Type: text/xml\n\n<e/>\n--b--".into(), ErrorClass::Request),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, "--b\nContent-Type: application/xop+xml; type=\"text/xml\"\n\n<e/>\n--b--".into(), ErrorClass::Request),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, "--b\nContent-Type: application/xop+xml; charset=ISO-8859-1; type=\"application/soap+xml\"\n\n<e/>\n--b--".into(), ErrorClass::Parse),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, "--b\nContent-Transfer-Encoding: base64\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\n\nPGUvPg==\n--b--".into(), ErrorClass::Request),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, format!("--b\nContent-ID: <a>\nContent-ID: <b>\n{ok_root}\n--b--"), ErrorClass::Struct),
        (r#"multipart/related; type="application/xop+xml"; boundary=b"#, "--b\nno header line\n\n<e/>\n--b--".into(), ErrorClass::Parse),
    ];
    for (ct, body, class) in cases {
        let r = Multipart::parse(ct, body.as_bytes()).unwrap_err();
        assert_eq!(r.class, class, "{ct} / {body:?}: {r}");
    }
    let many: String = (0..=MAX_PARTS)
        .map(|_| "--b\nContent-Type: text/plain\n\nx\n")
        .collect::<String>()
        + "--b--";
    let r = Multipart::parse(
        r#"multipart/related; type="application/xop+xml"; boundary=b"#,
        many.as_bytes(),
    )
    .unwrap_err();
    assert_eq!(r.class, ErrorClass::Limit);
}

#[test]
fn a_boundary_inside_a_line_is_content() {
    let ct = r#"multipart/related; type="application/xop+xml"; boundary=b"#;
    let body = "--b\nContent-Type: application/xop+xml; type=\"application/soap+xml\"\n\n<e>x--b</e>\n--b--\n";
    let m = Multipart::parse(ct, body.as_bytes()).unwrap();
    assert_eq!(m.root_bytes(), b"<e>x--b</e>");
}
