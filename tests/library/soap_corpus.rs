//! The SOAP edge against the public IHE corpus (`../shared/corpus/ihe`, read in place): what each XCA/XDS.b
//! message, WS-Trust request and eHDSI SOAP header yields (Action, patient, header blocks, RST fields), or
//! why it is refused.

use std::path::{Path, PathBuf};

use xua_gateway::error::ErrorClass;
use xua_gateway::soap::mtom::Multipart;
use xua_gateway::soap::wstrust::{read_issue, SubjectToken, TokenSource};
use xua_gateway::soap::xca::{read_request, Transaction, XcaRequest};
use xua_gateway::soap::{scan, BlockKind, SoapLimits};

/// The corpus beside the project. Missing in CI (CI=true) is a failure; elsewhere a loud skip.
fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/ihe");
    if root.join("xca").is_dir() {
        return Some(root);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "the corpus {} is required in CI",
        root.display()
    );
    eprintln!(
        "!!!!!!!! SKIPPING SOAP corpus checks: {} is missing !!!!!!!!",
        root.display()
    );
    None
}

fn read(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(root.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn limits() -> SoapLimits {
    SoapLimits::default()
}

use BlockKind::*;

/// (file, Action, header block kinds in order, what the XCA reader yields)
enum Yields {
    Query(Transaction, &'static str, &'static str),
    Retrieve(Transaction, usize),
    /// Not a request the proxy takes (a response or a fault); the XCA reader refuses it with this class.
    NotARequest,
}

#[test]
fn every_xca_request_and_response_yields_what_it_says() {
    let Some(root) = corpus() else { return };
    let cases: Vec<(&str, Option<&str>, Vec<BlockKind>, Yields)> = vec![
        ("xca/connect_saml_header_diff_order.xml", Some("urn:ihe:iti:2007:CrossGatewayRetrieve"),
            vec![To, Action, ReplyTo, MessageId, Security], Yields::Retrieve(Transaction::Iti39, 1)),
        ("xca/dk-ehdsi_test-tool_template_xca_query_request-ps.xml", Some("urn:ihe:iti:2007:CrossGatewayQuery"),
            vec![Action, MessageId, Security], Yields::Query(Transaction::Iti38, "0410009234", "urn:oid:1.2.208.176.1.2")),
        ("xca/epr-by-example_samples_ITI-43_request_raw.xml", Some("urn:ihe:iti:2007:RetrieveDocumentSet"),
            vec![To, MessageId, Action, Security], Yields::Retrieve(Transaction::Iti43, 1)),
        ("xca/metriport_dq_multiple_docs.xml", Some("urn:ihe:iti:2007:CrossGatewayQueryResponse"),
            vec![To, Action, MessageId, RelatesTo, Security], Yields::NotARequest),
        ("xca/metriport_dr_soap_error.xml",
            Some("urn:ihe:iti:xds-b:2007:RespondingGateway_PortType:RespondingGateway_CrossGatewayQuery:Fault:Fault"),
            vec![Action, MessageId, To, RelatesTo], Yields::NotARequest),
        ("xca/metriport_epic-iti-38-request.xml", Some("urn:ihe:iti:2007:CrossGatewayQuery"),
            vec![To, Action, MessageId, ReplyTo, Security],
            Yields::Query(Transaction::Iti38, "EV10045900", "urn:oid:1.2.840.114350.1.13.11511.3.7.3.688884.100.1000")),
        ("xca/nhn-xcads_IT_iti-38_request.xml", Some("urn:ihe:iti:2007:CrossGatewayQuery"),
            vec![Action, MessageId, ReplyTo, To, Security],
            Yields::Query(Transaction::Iti38, "17855599120", "urn:oid:2.16.578.1.12.4.1.4.1")),
        ("xca/nhn-xcads_iti38-iti40-request-kj.xml", Some("urn:ihe:iti:2007:CrossGatewayQuery"),
            vec![Action, MessageId, ReplyTo, To, Security],
            Yields::Query(Transaction::Iti38, "17855599120", "urn:oid:2.16.578.1.12.4.1.4.1")),
        ("xca/nist-toolkit2_soap-xcq-req.xml", Some("urn:ihe:iti:2007:CrossGatewayQuery"),
            vec![Action, RelatesTo],
            Yields::Query(Transaction::Iti38, "c4d77e21d0dd487", "urn:oid:1.3.6.1.4.1.21367.2005.3.7")),
        ("xca/nist-toolkit2_soap-xcq-resp.xml", Some("urn:ihe:iti:2007:CrossGatewayQueryResponse"),
            vec![Action, RelatesTo], Yields::NotARequest),
        ("xca/nist-toolkit2_soap-xcr-req.xml", Some("urn:ihe:iti:2007:CrossGatewayRetrieve"),
            vec![Action, MessageId, ReplyTo, To], Yields::Retrieve(Transaction::Iti39, 2)),
        ("xua-ch/epr-by-example_samples_ITI-18_request_raw.xml", Some("urn:ihe:iti:2007:RegistryStoredQuery"),
            vec![To, MessageId, Action, Security],
            Yields::Query(Transaction::Iti18, "7e1c6e78-58f1-4a43-ae88-0d5a5c4ab43e", "urn:oid:1.3.6.1.4.1.21367.2017.2.5.45")),
    ];
    for (name, action, kinds, yields) in cases {
        let bytes = read(&root, name);
        let env = scan(&bytes, &limits()).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(env.action.as_deref(), action, "{name}");
        let got: Vec<BlockKind> = env.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(got, kinds, "{name}");
        match (read_request(&env), yields) {
            (Ok(XcaRequest::Query(q)), Yields::Query(t, id, system)) => {
                assert_eq!(q.transaction, t, "{name}");
                let p = q.patient.unwrap_or_else(|| panic!("{name}: no patient"));
                assert_eq!(
                    (p.id.as_str(), p.system.as_deref()),
                    (id, Some(system)),
                    "{name}"
                );
                assert_eq!(q.patient_slots, ["$XDSDocumentEntryPatientId"], "{name}");
            }
            (Ok(XcaRequest::Retrieve(r)), Yields::Retrieve(t, n)) => {
                assert_eq!(
                    (r.transaction, r.documents, r.document_unique_ids),
                    (t, n, n),
                    "{name}"
                );
                assert_eq!(r.repository_unique_ids, n, "{name}");
            }
            (Err(r), Yields::NotARequest) => {
                assert_eq!(r.class, ErrorClass::Request, "{name}: {r}")
            }
            (other, _) => panic!("{name}: unexpected {other:?}"),
        }
    }
}

#[test]
fn the_connect_retrieve_keeps_its_unqualified_must_understand_as_not_soap() {
    let Some(root) = corpus() else { return };
    let bytes = read(&root, "xca/connect_saml_header_diff_order.xml");
    let env = scan(&bytes, &limits()).unwrap();
    // `mustUnderstand="true"` without the SOAP prefix is not the SOAP attribute; on Security it is.
    let flags: Vec<bool> = env.blocks.iter().map(|b| b.must_understand).collect();
    assert_eq!(flags, [false, false, false, false, true]);
    // The WCF sample's `a:mustUnderstand` is in the WS-Addressing namespace, so SOAP ignores it too.
    let bytes = read(&root, "xca/nist-toolkit2_soap-xcr-req.xml");
    let env = scan(&bytes, &limits()).unwrap();
    assert!(!env.blocks[0].must_understand);
}

/// Splits the corpus' one raw HTTP capture into its Content-Type and body.
fn http_message(bytes: &[u8]) -> (String, &[u8]) {
    let at = bytes.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = std::str::from_utf8(&bytes[..at]).unwrap();
    let ct = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Type:"))
        .unwrap()
        .trim()
        .to_string();
    (ct, &bytes[at + 2..])
}

#[test]
fn mtom_packages_yield_their_root_envelope() {
    let Some(root) = corpus() else { return };
    // The WCF response, with the Content-Type its fixture's test serves (typo fixed: start="<...>").
    let ct = r#"multipart/related; type="application/xop+xml";start="<http://tempuri.org/0>";boundary="uuid:34605f3a-f898-4d62-99a5-c0fc113a7e59+id=51889";start-info="application/soap+xml""#;
    let bytes = read(&root, "xca/metriport_multi-mtom.txt");
    let m = Multipart::parse(ct, &bytes).unwrap();
    assert_eq!((m.parts.len(), m.root), (3, 0));
    let env = scan(m.root_bytes(), &limits()).unwrap();
    assert_eq!(
        env.action.as_deref(),
        Some("urn:ihe:iti:2007:CrossGatewayRetrieveResponse")
    );
    assert_eq!(m.with_root(m.root_bytes()), bytes);

    // The CXF response: capitalised media type, no start parameter, a trailing ';' in the root part type.
    let ct = r#"Multipart/Related; start-info="application/soap+xml"; type="application/xop+xml"; boundary="uuid:e59abb7b-d9c5-4f29-9854-e89b12b41e12""#;
    let bytes = read(&root, "xca/openhim-mediator-xds_retrieveResponse_wSOAP.xml");
    let m = Multipart::parse(ct, &bytes).unwrap();
    assert_eq!((m.parts.len(), m.root), (2, 0));
    assert_eq!(m.part_bytes(&m.parts[1]), b"My test document");
    let env = scan(m.root_bytes(), &limits()).unwrap();
    assert_eq!(
        env.action.as_deref(),
        Some("urn:ihe:iti:2007:RetrieveDocumentSetResponse")
    );

    // The raw HTTP capture (ITI-41, LF line ends, trailing spaces): parsed, and refused by the XCA reader.
    let bytes = read(&root, "xca/nist-toolkit2_http-mtom-pnr.txt");
    let (ct, body) = http_message(&bytes);
    let m = Multipart::parse(&ct, body).unwrap();
    assert_eq!((m.parts.len(), m.root), (2, 0));
    let env = scan(m.root_bytes(), &limits()).unwrap();
    assert_eq!(
        env.action.as_deref(),
        Some("urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b")
    );
    assert_eq!(read_request(&env).unwrap_err().class, ErrorClass::Request);
}

/// The NHN capture's HTTP Content-Type is not in the file; this is what its Axis2 sender writes.
const NHN_MTOM_CT: &str = r#"multipart/related; boundary=MIMEBoundary_cab1d70f258a850f06f926ab5645aaa9111f017d951cfe8d; type="application/xop+xml"; start="<0.dab1d70f258a850f06f926ab5645aaa9111f017d951cfe8d@apache.org>"; start-info="application/soap+xml""#;

#[test]
fn the_nhn_mtom_request_with_latin1_bytes_is_refused_and_its_utf8_form_is_a_retrieve() {
    let Some(root) = corpus() else { return };
    let bytes = read(&root, "xca/nhn-xcads_IT_iti-39_request-multipart.txt");
    let m = Multipart::parse(NHN_MTOM_CT, &bytes).unwrap();
    assert_eq!((m.parts.len(), m.root), (1, 0));
    let r = scan(m.root_bytes(), &limits()).unwrap_err();
    assert_eq!(r.class, ErrorClass::Parse);
    assert!(r.message.contains("UTF-8"), "{r}");

    // Re-encoded in memory (the two 0xD8 bytes become U+00D8), it is a well-formed ITI-39.
    let fixed: Vec<u8> = String::from_utf8(
        m.root_bytes()
            .iter()
            .flat_map(|&b| char::from(b).to_string().into_bytes())
            .collect(),
    )
    .map(|s| s.into_bytes())
    .unwrap();
    let env = scan(&fixed, &limits()).unwrap();
    let kinds: Vec<BlockKind> = env.blocks.iter().map(|b| b.kind).collect();
    assert_eq!(kinds, [ReplyTo, To, MessageId, Action, Security, Other]);
    assert_eq!(env.blocks[5].local, "context");
    let XcaRequest::Retrieve(r) = read_request(&env).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.transaction, r.documents, r.home_community_ids),
        (Transaction::Iti39, 1, 1)
    );
    // Rebuilt with that root, every byte outside the root part is as captured.
    let rebuilt = m.with_root(&fixed);
    let start = m.parts[0].content.start;
    assert_eq!(&rebuilt[..start], &bytes[..start]);
    assert_eq!(
        &rebuilt[start + fixed.len()..],
        &bytes[m.parts[0].content.end..]
    );
}

fn wrap_header(header: &[u8]) -> Vec<u8> {
    let mut out =
        b"<soapenv:Envelope xmlns:soapenv=\"http://www.w3.org/2003/05/soap-envelope\">".to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(b"<soapenv:Body/></soapenv:Envelope>");
    out
}

#[test]
fn the_ehdsi_soap_headers_yield_their_addressing_and_two_assertion_security() {
    let Some(root) = corpus() else { return };
    for name in [
        "ehdsi/dk-ehdsi_openncp_soap_header_FI-hcp_namespace-regression.xml",
        "ehdsi/dk-ehdsi_openncp_soap_header_bad-purposeofuse.xml",
        "ehdsi/dk-ehdsi_openncp_soap_header_hcp+trc_doctor.xml",
        "ehdsi/dk-ehdsi_openncp_soap_header_hcp+trc_pharmacist.xml",
    ] {
        let bytes = wrap_header(&read(&root, name));
        let env = scan(&bytes, &limits()).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(
            env.action.as_deref(),
            Some("urn:ihe:iti:2007:CrossGatewayQuery"),
            "{name}"
        );
        assert!(
            env.message_id
                .as_deref()
                .unwrap()
                .starts_with("urn:uuid:67e2f278"),
            "{name}"
        );
        let kinds: Vec<BlockKind> = env.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(kinds, [To, Action, MessageId, ReplyTo, Security], "{name}");
        assert!(
            env.blocks[0].must_understand && env.blocks[1].must_understand,
            "{name}"
        );
        // As a WS-Trust subject source the two assertions (HCP + TRC) are ambiguous.
        let as_rst = String::from_utf8(bytes.clone()).unwrap().replace(
            "<soapenv:Body/>",
            "<soapenv:Body><wst:RequestSecurityToken xmlns:wst=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\"><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType></wst:RequestSecurityToken></soapenv:Body>",
        );
        let env = scan(as_rst.as_bytes(), &limits()).unwrap();
        let r = read_issue(&env).unwrap_err();
        assert_eq!(r.class, ErrorClass::Request, "{name}: {r}");
    }
    // The bare assertions beside them are not SOAP messages.
    for name in [
        "ehdsi/openncp-legacy_hcp_SignedSamlAssertion.xml",
        "ehdsi/dk-ehdsi_test-tool_template_trc_unsigned.xml",
    ] {
        let r = scan(&read(&root, name), &limits()).unwrap_err();
        assert_eq!(r.class, ErrorClass::Struct, "{name}: {r}");
        assert!(r.message.contains("not a SOAP Envelope"), "{name}: {r}");
    }
}

#[test]
fn the_ws_trust_requests_are_refused_for_what_they_carry_that_the_gateway_does_not_implement() {
    let Some(root) = corpus() else { return };
    // Two concatenated documents: the scanner stops at the second.
    let bytes = read(&root, "wstrust/openncp-legacy_trc_SampleRST.xml");
    let r = scan(&bytes, &limits()).unwrap_err();
    assert_eq!(r.class, ErrorClass::Struct);
    assert!(r.message.contains("after the Envelope"), "{r}");
    // The first document alone: the epSOS TRC parameters (patient, purpose) are not supported.
    let text = String::from_utf8(bytes).unwrap();
    let first = &text[..text.find("</S:Envelope>").unwrap() + "</S:Envelope>".len()];
    let env = scan(first.as_bytes(), &limits()).unwrap();
    let r = read_issue(&env).unwrap_err();
    assert_eq!(r.class, ErrorClass::Request);
    assert!(r.message.contains("TRCParameters"), "{r}");
    // Without them: the subject is the header's HCP assertion, which relies on the Envelope's xs and wsu.
    let start = first.find("<trc:TRCParameters").unwrap();
    let end = first.find("</trc:TRCParameters>").unwrap() + "</trc:TRCParameters>".len();
    let plain = format!("{}{}", &first[..start], &first[end..]);
    let env = scan(plain.as_bytes(), &limits()).unwrap();
    let req = read_issue(&env).unwrap();
    assert_eq!(req.source, TokenSource::SecurityHeader);
    assert_eq!(
        req.token_type.unwrap().uri,
        "urn:oasis:names:tc:SAML:2.0:assertion"
    );
    assert_eq!(req.applies_to, None);
    assert_eq!(
        req.message_id.as_deref(),
        Some("uuid:3dfe5344-2b7e-490b-8a51-a93e7824a9c5")
    );
    let SubjectToken::Saml(cut) = &req.subject else {
        panic!()
    };
    let carried: Vec<&str> = cut
        .carried
        .iter()
        .filter_map(|(p, _)| p.as_deref())
        .collect();
    assert!(
        carried.contains(&"xs") && carried.contains(&"wsse"),
        "{carried:?}"
    );
    assert!(cut.bytes_as_sent().starts_with(b"<saml2:Assertion"));
    assert!(cut.bytes_as_sent().ends_with(b"</saml2:Assertion>"));

    // The Swiss X-Assertion requests ask with wst:Claims (role, purpose of use, patient).
    for name in [
        "xua-ch/epr-by-example_1_Get_X-User_Assertion_Request-Healthcare_Provider.xml",
        "xua-ch/epr-by-example_2_Get_X-User_Assertion_Request-Assistant.xml",
        "xua-ch/epr-by-example_3_Get_X-User_Assertion_Request-Technical_User.xml",
        "xua-ch/epr-by-example_samples_GetXAssertion_request_raw.xml",
    ] {
        let bytes = read(&root, name);
        let env = scan(&bytes, &limits()).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(
            env.action.as_deref(),
            Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue")
        );
        let r = read_issue(&env).unwrap_err();
        assert_eq!(r.class, ErrorClass::Request, "{name}: {r}");
        assert!(r.message.contains("Claims"), "{name}: {r}");
    }
    // The projectathon RSTRC is a well-formed response envelope.
    let bytes = read(
        &root,
        "xua-ch/epr-by-example_samples_GetXAssertion_response_raw.xml",
    );
    let env = scan(&bytes, &limits()).unwrap();
    assert_eq!(
        env.action.as_deref(),
        Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal")
    );
}
