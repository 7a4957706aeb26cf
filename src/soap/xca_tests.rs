use super::*;
use crate::error::ErrorClass;
use crate::soap::{scan, SoapLimits};

const FIND: &str = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d";

fn query(action: &str, slots: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:r="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0">
<s:Header><a:Action>{action}</a:Action></s:Header>
<s:Body><AdhocQueryRequest xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0">
<ResponseOption returnType="LeafClass"/>
<r:AdhocQuery id="{FIND}">{slots}</r:AdhocQuery></AdhocQueryRequest></s:Body></s:Envelope>"#
    )
}

fn slot(name: &str, values: &[&str]) -> String {
    let values: String = values
        .iter()
        .map(|v| format!("<r:Value>{v}</r:Value>"))
        .collect();
    format!(r#"<r:Slot name="{name}"><r:ValueList>{values}</r:ValueList></r:Slot>"#)
}

const PID: &str = "'17855599120^^^&amp;2.16.578.1.12.4.1.4.1&amp;ISO'";

fn read(xml: &str) -> Result<XcaRequest, Rejection> {
    let env = scan(xml.as_bytes(), &SoapLimits::default())?;
    read_request(&env)
}

#[test]
fn a_find_documents_query_yields_its_patient() {
    let xml = query(
        uri::ACTION_ITI38,
        &(slot("$XDSDocumentEntryPatientId", &[PID])
            + &slot("$XDSDocumentEntryStatus", &["('x')"])),
    );
    let XcaRequest::Query(q) = read(&xml).unwrap() else {
        panic!()
    };
    assert_eq!(q.transaction, Transaction::Iti38);
    assert_eq!(q.query_id.as_deref(), Some(FIND));
    let p = q.patient.clone().unwrap();
    assert_eq!(p.id, "17855599120");
    assert_eq!(p.system.as_deref(), Some("urn:oid:2.16.578.1.12.4.1.4.1"));
    assert_eq!(q.patient_slots, ["$XDSDocumentEntryPatientId"]);
    assert!(!format!("{q:?}").contains("17855599120"));
    let XcaRequest::Query(q) = read(&xml.replace(uri::ACTION_ITI38, uri::ACTION_ITI18)).unwrap()
    else {
        panic!()
    };
    assert_eq!(q.transaction, Transaction::Iti18);
}

#[test]
fn two_different_patients_or_odd_values_are_refused() {
    let other = "'1^^^&amp;2.16.578.1.12.4.1.4.1&amp;ISO'";
    let two =
        slot("$XDSDocumentEntryPatientId", &[PID]) + &slot("$XDSSubmissionSetPatientId", &[other]);
    let r = read(&query(uri::ACTION_ITI38, &two)).unwrap_err();
    assert_eq!(r.class, ErrorClass::Claim);
    assert!(r.message.contains("two different patients"));
    assert!(!r.message.contains("17855599120"));
    let same = slot("$XDSDocumentEntryPatientId", &[PID]) + &slot("$XDSFolderPatientId", &[PID]);
    let XcaRequest::Query(q) = read(&query(uri::ACTION_ITI38, &same)).unwrap() else {
        panic!()
    };
    assert_eq!(q.patient_slots.len(), 2);

    let cases = [
        (slot("$XDSDocumentEntryPatientId", &[PID, PID]), ErrorClass::Struct),
        (slot("$XDSDocumentEntryPatientId", &[]), ErrorClass::Struct),
        (slot("$XDSDocumentEntryPatientId", &["17855599120^^^&amp;2.16.578.1.12.4.1.4.1&amp;ISO"]), ErrorClass::Parse),
        (slot("$XDSDocumentEntryPatientId", &["('a','b')"]), ErrorClass::Parse),
        (slot("$XDSDocumentEntryPatientId", &["'^^^&amp;1.2&amp;ISO'"]), ErrorClass::Claim),
        (slot("$XDSDocumentEntryPatientId", &[PID]) + &slot("$XDSDocumentEntryPatientId", &[PID]), ErrorClass::Struct),
        (r#"<r:Slot name="$XDSDocumentEntryPatientId"><r:ValueList><r:Value>'1<!-- -->2^^^&amp;1.2&amp;ISO'</r:Value></r:ValueList></r:Slot>"#.to_string(), ErrorClass::Struct),
    ];
    for (slots, class) in cases {
        let r = read(&query(uri::ACTION_ITI38, &slots)).unwrap_err();
        assert_eq!(r.class, class, "{slots}: {r}");
    }
}

#[test]
fn a_query_without_a_patient_slot_names_no_patient() {
    let xml = query(
        uri::ACTION_ITI38,
        &slot("$XDSDocumentEntryUUID", &["('urn:uuid:1')"]),
    );
    let XcaRequest::Query(q) = read(&xml).unwrap() else {
        panic!()
    };
    assert_eq!(q.patient, None);
    assert!(q.patient_slots.is_empty());
}

#[test]
fn the_action_must_match_the_body() {
    let xml = query(
        uri::ACTION_ITI39,
        &slot("$XDSDocumentEntryPatientId", &[PID]),
    );
    let r = read(&xml).unwrap_err();
    assert_eq!(r.class, ErrorClass::Request);
    assert!(r.message.contains("RetrieveDocumentSetRequest"));
    let r = read(&query(
        "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
        "",
    ))
    .unwrap_err();
    assert_eq!(r.class, ErrorClass::Request);
    let no_action = query(uri::ACTION_ITI38, "")
        .replace(&format!("<a:Action>{}</a:Action>", uri::ACTION_ITI38), "");
    assert_eq!(read(&no_action).unwrap_err().class, ErrorClass::Request);
}

fn retrieve(action: &str, requests: &str) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action>{action}</a:Action></s:Header><s:Body><x:RetrieveDocumentSetRequest xmlns:x="urn:ihe:iti:xds-b:2007">{requests}</x:RetrieveDocumentSetRequest></s:Body></s:Envelope>"#
    )
}

#[test]
fn a_retrieve_reports_counts_only() {
    let one = "<x:DocumentRequest><x:HomeCommunityId>urn:oid:1.2</x:HomeCommunityId><x:RepositoryUniqueId>1.3</x:RepositoryUniqueId><x:DocumentUniqueId>1.4</x:DocumentUniqueId></x:DocumentRequest>";
    let XcaRequest::Retrieve(r) =
        read(&retrieve(uri::ACTION_ITI39, &format!("{one}{one}"))).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (
            r.documents,
            r.home_community_ids,
            r.repository_unique_ids,
            r.document_unique_ids
        ),
        (2, 2, 2, 2)
    );
    assert_eq!(r.transaction, Transaction::Iti39);
    let r = read(&retrieve(uri::ACTION_ITI43, "")).unwrap_err();
    assert_eq!(r.class, ErrorClass::Struct);
}

#[test]
fn the_patient_is_resolved_against_the_token() {
    let xml = query(
        uri::ACTION_ITI38,
        &slot("$XDSDocumentEntryPatientId", &[PID]),
    );
    let request = read(&xml).unwrap();
    let XcaRequest::Query(q) = &request else {
        panic!()
    };
    let p = q.patient.clone().unwrap();
    assert_eq!(
        resolve_patient(&request, Some(&p)).unwrap(),
        Some(p.clone())
    );
    assert_eq!(resolve_patient(&request, None).unwrap(), Some(p.clone()));
    let other = Identifier {
        id: "1".into(),
        ..p.clone()
    };
    let r = resolve_patient(&request, Some(&other)).unwrap_err();
    assert_eq!(r.class, ErrorClass::Claim);
    let no_system = Identifier {
        system: None,
        ..p.clone()
    };
    assert!(resolve_patient(&request, Some(&no_system)).is_err());
    let retrieve = XcaRequest::Retrieve(Retrieve {
        transaction: Transaction::Iti39,
        documents: 1,
        home_community_ids: 1,
        repository_unique_ids: 1,
        document_unique_ids: 1,
    });
    assert_eq!(
        resolve_patient(&retrieve, Some(&other)).unwrap(),
        Some(other)
    );
    assert_eq!(resolve_patient(&retrieve, None).unwrap(), None);
}
