//! The SOAP edge's own cost, as a ratio to the SAML pre-scan of the assertion it carries (measured in the
//! same run): scanning an ITI-38 request, reading its patient, injecting the security header, and the same
//! for an MTOM package.
//!
//! `cargo bench --bench soap`.

use criterion::{criterion_group, criterion_main, Criterion};
use time::{Duration, OffsetDateTime};

use xua_gateway::mapping::ProfileSet;
use xua_gateway::saml::prescan;
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::soap::inject::{inject_security, Window};
use xua_gateway::soap::mtom::Multipart;
use xua_gateway::soap::xca::read_request;
use xua_gateway::soap::{scan, SoapLimits};

const REQUEST: &str = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing">
    <s:Header>
        <a:Action s:mustUnderstand="1">urn:ihe:iti:2007:CrossGatewayQuery</a:Action>
        <a:MessageID>urn:uuid:c6fda90e-a5ec-4f8d-aa1b-14802f4bf68d</a:MessageID>
        <a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>
        <a:To s:mustUnderstand="1">https://upstream.example/xca</a:To>
    </s:Header>
    <s:Body>
        <AdhocQueryRequest xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0">
            <ResponseOption returnType="LeafClass" returnComposedObjects="true" />
            <AdhocQuery xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d">
                <Slot name="$XDSDocumentEntryPatientId"><ValueList><Value>'21868534521^^^&amp;2.16.578.1.12.4.1.4.1&amp;ISO'</Value></ValueList></Slot>
                <Slot name="$XDSDocumentEntryStatus"><ValueList><Value>('urn:oasis:names:tc:ebxml-regrep:StatusType:Approved')</Value></ValueList></Slot>
            </AdhocQuery>
        </AdhocQueryRequest>
    </s:Body>
</s:Envelope>"#;

const MTOM_CT: &str =
    r#"multipart/related; type="application/xop+xml"; start="<root@x>"; boundary="B0""#;

fn bench(c: &mut Criterion) {
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let profiles = ProfileSet::embedded("no-pjd").expect("profiles");
    let now = OffsetDateTime::now_utc();
    let assertion = samples::mint_assertion(
        profiles.default_profile(),
        &claims,
        &MintOptions::default(),
        &samples::sample_idp().expect("idp"),
        now,
    )
    .expect("assertion");
    let window = Window {
        created: now,
        expires: now + Duration::minutes(5),
    };
    let limits = SoapLimits::default();
    let injected = {
        let env = scan(REQUEST.as_bytes(), &limits).expect("scan");
        inject_security(&env, &assertion, &window).expect("inject")
    };
    let mut package = b"--B0\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"application/soap+xml\"\r\nContent-ID: <root@x>\r\n\r\n".to_vec();
    package.extend_from_slice(REQUEST.as_bytes());
    package.extend_from_slice(b"\r\n--B0\r\nContent-ID: <doc@x>\r\n\r\n");
    package.extend_from_slice(&vec![b'x'; 64 * 1024]);
    package.extend_from_slice(b"\r\n--B0--\r\n");

    let mut g = c.benchmark_group("soap");
    g.bench_function("baseline_saml_prescan_of_the_assertion", |b| {
        b.iter(|| prescan::scan(&assertion, &Default::default()).expect("prescan"))
    });
    g.bench_function("scan_injected_request", |b| {
        b.iter(|| scan(&injected, &limits).expect("scan"))
    });
    g.bench_function("scan_and_read_patient", |b| {
        b.iter(|| {
            let env = scan(REQUEST.as_bytes(), &limits).expect("scan");
            read_request(&env).expect("read")
        })
    });
    g.bench_function("scan_and_inject", |b| {
        b.iter(|| {
            let env = scan(REQUEST.as_bytes(), &limits).expect("scan");
            inject_security(&env, &assertion, &window).expect("inject")
        })
    });
    g.bench_function("mtom_parse_scan_inject_rebuild_64k_attachment", |b| {
        b.iter(|| {
            let m = Multipart::parse(MTOM_CT, &package).expect("multipart");
            let env = scan(m.root_bytes(), &limits).expect("scan");
            let root = inject_security(&env, &assertion, &window).expect("inject");
            m.with_root(&root)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
