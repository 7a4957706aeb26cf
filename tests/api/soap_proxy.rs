//! The XCA proxy over HTTP: a real upstream (`samples/upstream.py`) checks the injected assertion with the
//! xmlsec1 CLI against `/saml/metadata`'s certificate, the patient and the body bytes; its answers (ITI-38,
//! MTOM ITI-39, a SOAP fault) come back unchanged. Every refusal is a Fault, audited, and the upstream
//! receives nothing for a request that failed; an upstream that is slow, down, redirects or presents a
//! certificate the route does not trust is a Fault too.

use std::time::Duration;

use serde_json::json;
use xua_gateway::model::Outcome;

use crate::helpers::*;
use crate::multipart;
use crate::oauth::*;
use crate::soap_helpers::*;
use crate::upstream::Upstream;
use crate::xmlsec1::xmlsec1_available;

const MTOM_RESPONSE_CT: &str = r#"multipart/related; type="application/xop+xml";start="<http://tempuri.org/0>";boundary="uuid:34605f3a-f898-4d62-99a5-c0fc113a7e59+id=51889";start-info="application/soap+xml""#;

fn bearer(jwt: &str) -> String {
    format!("Bearer {jwt}")
}

fn nothing_received(up: &Upstream) -> bool {
    !up.record_path().exists()
}

#[actix_web::test]
async fn an_iti38_query_is_forwarded_with_a_signed_assertion_and_the_answer_comes_back_unchanged() {
    if !xmlsec1_available() {
        return;
    }
    let (Some(request), Some(response)) = (
        corpus_file(ITI38_REQUEST),
        corpus_file("xca/metriport_dq_multiple_docs.xml"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("metadata.crt.pem");
    let up = Upstream::start(&[
        "--cert",
        cert.to_str().unwrap(),
        "--expect-patient-id",
        QUERY_PATIENT,
        "--expect-body",
        request.to_str().unwrap(),
        "--response",
        response.to_str().unwrap(),
    ]);
    let app = spawn_soap(dir.path(), &route("/xca/nhn", &up.url("http"), "")).await;
    assert_eq!(metadata_cert(&app, dir.path()).await, cert);
    let sent = std::fs::read(&request).unwrap();

    // The token names the query's patient; then a token naming none takes the query's.
    for jwt in [jwt_for(Some(QUERY_PATIENT), None), jwt_for(None, None)] {
        let answer = post_soap(
            &app,
            "/xca/nhn",
            SOAP,
            sent.clone(),
            &[("Authorization", &bearer(&jwt))],
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.body, std::fs::read(&response).unwrap());
        let meta = up.received_meta();
        assert_eq!(
            meta["checks"],
            json!({"signature": "ok", "patient": "ok", "body": "ok"}),
            "{meta}"
        );
        // Neither the token nor any other client header travels on.
        let headers = meta["headers"].to_string().to_ascii_lowercase();
        assert!(
            !headers.contains("authorization")
                && !headers.contains(&jwt.to_ascii_lowercase()[..40]),
            "{headers}"
        );
        // The client's Timestamp-only security header was replaced: one Security block, ours.
        let received = String::from_utf8(up.received()).unwrap();
        assert_eq!(
            received.matches("<wsse:Security").count(),
            1,
            "one Security block"
        );
        assert_eq!(
            received.matches("</wsse:Security>").count(),
            1,
            "one Security block"
        );
        assert!(
            !received.contains("2025-07-31"),
            "the client's Timestamp is gone"
        );

        let records = app.records();
        let (issued, forwarded) = (&records[records.len() - 2], &records[records.len() - 1]);
        assert_eq!(issued.outcome, Outcome::Issued);
        assert_eq!(forwarded.outcome, Outcome::Forwarded);
        for r in [issued, forwarded] {
            assert_eq!(
                r.soap_action.as_deref(),
                Some("urn:ihe:iti:2007:CrossGatewayQuery")
            );
            assert_eq!(r.proxy_route.as_deref(), Some("/xca/nhn"));
            assert_eq!(r.request_id, issued.request_id);
        }
        assert_eq!(forwarded.upstream_status, Some(200));
        assert_eq!(forwarded.output_token_id, issued.output_token_id);
    }
}

#[actix_web::test]
async fn an_mtom_iti39_answer_is_streamed_back_byte_for_byte() {
    let (Some(request), Some(response)) = (
        corpus_file("xca/nist-toolkit2_soap-xcr-req.xml"),
        corpus_file("xca/metriport_multi-mtom.txt"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start(&[
        "--response",
        response.to_str().unwrap(),
        "--response-type",
        MTOM_RESPONSE_CT,
        "--chunk-size",
        "700",
        "--chunk-delay",
        "0.01",
    ]);
    let app = spawn_soap(dir.path(), &route("/xca/retrieve", &up.url("http"), "")).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let res = client
        .post(format!("{}/xca/retrieve", app.address))
        .header("Content-Type", SOAP)
        .header("Authorization", bearer(&jwt_for(None, None)))
        .body(std::fs::read(&request).unwrap())
        .send()
        .await
        .unwrap();
    // A retrieve names no patient: the token must.
    assert_eq!(res.status(), 400);
    let answer = String::from_utf8(res.bytes().await.unwrap().to_vec()).unwrap();
    assert!(answer.contains("xg:CLAIM"), "{answer}");
    assert!(nothing_received(&up));

    let res = client
        .post(format!("{}/xca/retrieve", app.address))
        .header("Content-Type", SOAP)
        .header("Authorization", bearer(&jwt_for(Some(QUERY_PATIENT), None)))
        .body(std::fs::read(&request).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    let mut pieces = 0;
    let mut body = Vec::new();
    let mut res = res;
    while let Some(chunk) = res.chunk().await.unwrap() {
        pieces += 1;
        body.extend_from_slice(&chunk);
    }
    assert!(pieces > 1, "the answer came in {pieces} piece(s)");
    let sent = std::fs::read(&response).unwrap();
    multipart::assert_same_package((MTOM_RESPONSE_CT, &sent), (&content_type, &body));
    let last = last_record(&app);
    assert_eq!(
        last.soap_action.as_deref(),
        Some("urn:ihe:iti:2007:CrossGatewayRetrieve")
    );
    assert_eq!(last.upstream_status, Some(200));
}

#[actix_web::test]
async fn an_upstream_soap_fault_is_passed_on_unchanged() {
    let Some(request) = corpus_file(ITI38_REQUEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // The upstream expects another body, so it answers 400 with its own Fault.
    let other = write_temp(dir.path(), "other.xml", b"<x/>");
    let up = Upstream::start(&["--expect-body", other.to_str().unwrap()]);
    let app = spawn_soap(dir.path(), &route("/xca", &up.url("http"), "")).await;
    let jwt = jwt_for(Some(QUERY_PATIENT), None);
    let answer = post_soap(
        &app,
        "/xca",
        SOAP,
        std::fs::read(&request).unwrap(),
        &[("Authorization", &bearer(&jwt))],
    )
    .await;
    assert_eq!(answer.status, 400);
    assert!(
        answer.text().contains("Fault") && !answer.text().contains("xg:"),
        "{}",
        answer.text()
    );
    let last = last_record(&app);
    assert_eq!(last.outcome, Outcome::Forwarded);
    assert_eq!(last.upstream_status, Some(400));
}

#[actix_web::test]
async fn refused_requests_are_audited_faults_and_never_reach_the_upstream() {
    let Some(request) = corpus_file(ITI38_REQUEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start(&[]);
    let app = spawn_soap(dir.path(), &route("/xca", &up.url("http"), "")).await;
    let good = std::fs::read_to_string(&request).unwrap();
    let jwt = jwt_for(Some(QUERY_PATIENT), None);
    let auth = bearer(&jwt);
    let envelope_start = good.find("<s:Envelope").unwrap();
    // What, body, content type, headers, status, error class.
    type Case<'a> = (
        &'a str,
        String,
        &'a str,
        Vec<(&'a str, String)>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        ("no token", good.clone(), SOAP, vec![], 400, "REQUEST"),
        (
            "a bad token",
            good.clone(),
            SOAP,
            vec![("Authorization", "Bearer not.a.jwt".into())],
            400,
            "PARSE",
        ),
        (
            "another scheme",
            good.clone(),
            SOAP,
            vec![("Authorization", "Basic dXNlcjpwdw==".into())],
            400,
            "REQUEST",
        ),
        (
            "a body over the limit",
            good.replace(
                "</s:Body>",
                &format!("<!--{}--></s:Body>", "x".repeat(70_000)),
            ),
            SOAP,
            vec![("Authorization", auth.clone())],
            400,
            "LIMIT",
        ),
        (
            "a DOCTYPE",
            format!(
                "<!DOCTYPE x [<!ENTITY e \"e\">]>{}",
                &good[envelope_start..]
            ),
            SOAP,
            vec![("Authorization", auth.clone())],
            400,
            "FORBIDDEN",
        ),
        (
            "two envelopes",
            format!("{good}{}", &good[envelope_start..]),
            SOAP,
            vec![("Authorization", auth.clone())],
            400,
            "STRUCT",
        ),
        (
            "SOAP 1.1's content type",
            good.clone(),
            "text/xml",
            vec![("Authorization", auth.clone())],
            400,
            "REQUEST",
        ),
        (
            "an unknown action",
            good.replace("urn:ihe:iti:2007:CrossGatewayQuery", "urn:example:Other"),
            SOAP,
            vec![("Authorization", auth.clone())],
            400,
            "REQUEST",
        ),
    ];
    for (what, body, ct, headers, status, class) in cases {
        let before = app.records().len();
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = post_soap(&app, "/xca", ct, body.into_bytes(), &headers).await;
        answer.assert_fault(status, class);
        let records = app.records();
        assert_eq!(records.len(), before + 1, "{what}: one record");
        let last = records.last().unwrap();
        assert_eq!(last.outcome, Outcome::Rejected, "{what}");
        assert_eq!(last.error_class.map(|c| c.as_str()), Some(class), "{what}");
        assert_eq!(last.proxy_route.as_deref(), Some("/xca"), "{what}");
        assert!(nothing_received(&up), "{what}: the upstream received it");
    }
    // The patient mismatch: the sample physician's token names 03128734502, the query 17855599120.
    let jwt = jwt_for(Some("03128734502"), None);
    let answer = post_soap(
        &app,
        "/xca",
        SOAP,
        good.clone().into_bytes(),
        &[("Authorization", &bearer(&jwt))],
    )
    .await;
    answer.assert_fault(400, "CLAIM");
    assert!(
        answer.text().contains("names another patient"),
        "{}",
        answer.text()
    );
    let last = last_record(&app);
    assert_eq!(
        last.soap_action.as_deref(),
        Some("urn:ihe:iti:2007:CrossGatewayQuery")
    );
    assert!(nothing_received(&up));
}

#[actix_web::test]
async fn a_slow_a_redirecting_a_missing_and_a_wrongly_certified_upstream_are_faults() {
    let Some(request) = corpus_file(ITI38_REQUEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let slow = Upstream::start(&["--delay", "3"]);
    let redirecting = Upstream::start(&["--redirect", "http://127.0.0.1:9/elsewhere"]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    // A TLS upstream whose self-signed certificate is not the route's CA.
    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "up.key",
            "-out",
            "up.crt",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
    );
    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "1",
            "-subj",
            "/CN=Some other CA",
        ],
    );
    let tls = Upstream::start(&[
        "--tls-cert",
        dir.path().join("up.crt").to_str().unwrap(),
        "--tls-key",
        dir.path().join("up.key").to_str().unwrap(),
    ]);
    let ca = dir.path().join("ca.crt");
    let routes = [
        route("/slow", &slow.url("http"), "timeout_ms = 500"),
        route("/redirect", &redirecting.url("http"), ""),
        route(
            "/down",
            &format!("http://127.0.0.1:{closed_port}/xca"),
            "connect_timeout_ms = 500",
        ),
        route(
            "/tls",
            &tls.url("https"),
            &format!("ca_file = \"{}\"", ca.display()),
        ),
    ]
    .concat();
    let app = spawn_soap(dir.path(), &routes).await;
    let jwt = jwt_for(Some(QUERY_PATIENT), None);
    let body = std::fs::read(&request).unwrap();
    for (path, words, status) in [
        ("/slow", "did not answer within 500 ms", None),
        ("/redirect", "redirect (HTTP 302)", Some(302)),
        ("/down", "could not be reached", None),
        ("/tls", "TLS handshake", None),
    ] {
        let started = std::time::Instant::now();
        let answer = post_soap(
            &app,
            path,
            SOAP,
            body.clone(),
            &[("Authorization", &bearer(&jwt))],
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{path}: no hang"
        );
        answer.assert_fault(500, "UNAVAILABLE");
        assert!(answer.text().contains(words), "{path}: {}", answer.text());
        let records = app.records();
        let (issued, failed) = (&records[records.len() - 2], &records[records.len() - 1]);
        assert_eq!(issued.outcome, Outcome::Issued, "{path}");
        assert_eq!(failed.outcome, Outcome::Rejected, "{path}");
        assert_eq!(failed.upstream_status, status, "{path}");
        assert_eq!(failed.proxy_route.as_deref(), Some(path));
    }
}

#[actix_web::test]
async fn dpop_at_the_soap_edge_needs_a_proof_of_the_bound_key_for_this_token_and_route() {
    let Some(request) = corpus_file(ITI38_REQUEST) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let up = Upstream::start(&[]);
    let app = spawn_soap(dir.path(), &route("/xca", &up.url("http"), "")).await;
    let key = ec_key(dir.path(), "holder.pem");
    let thief = ec_key(dir.path(), "thief.pem");
    let jwt = jwt_for(Some(QUERY_PATIENT), Some(thumbprint(&key)));
    let htu = format!("{}/xca", app.address);
    let ath = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(openssl::sha::sha256(jwt.as_bytes()))
    };
    let body = std::fs::read(&request).unwrap();
    let dpop = format!("DPoP {jwt}");
    let send = |headers: Vec<(&'static str, String)>| {
        let app = &app;
        let body = body.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_soap(app, "/xca", SOAP, body, &headers).await
        }
    };

    let proof = dpop_proof(&key, &htu, json!({"payload": {"ath": ath}}));
    let ok = send(vec![("Authorization", dpop.clone()), ("DPoP", proof)]).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let records = app.records();
    assert_eq!(records[records.len() - 2].dpop_jkt, Some(thumbprint(&key)));

    for (what, headers, class) in [
        ("no proof", vec![("Authorization", dpop.clone())], "PROOF"),
        (
            "a proof without ath",
            vec![
                ("Authorization", dpop.clone()),
                ("DPoP", dpop_proof(&key, &htu, json!({}))),
            ],
            "PROOF",
        ),
        (
            "a proof for another token",
            vec![
                ("Authorization", dpop.clone()),
                (
                    "DPoP",
                    dpop_proof(&key, &htu, json!({"payload": {"ath": "x".repeat(43)}})),
                ),
            ],
            "PROOF",
        ),
        (
            "a proof for another URL",
            vec![
                ("Authorization", dpop.clone()),
                (
                    "DPoP",
                    dpop_proof(
                        &key,
                        &format!("{}/token", app.address),
                        json!({"payload": {"ath": ath}}),
                    ),
                ),
            ],
            "PROOF",
        ),
        (
            "a proof by another key",
            vec![
                ("Authorization", dpop.clone()),
                (
                    "DPoP",
                    dpop_proof(&thief, &htu, json!({"payload": {"ath": ath}})),
                ),
            ],
            "BINDING",
        ),
        (
            "the bound token as Bearer",
            vec![("Authorization", bearer(&jwt))],
            "BINDING",
        ),
        (
            "a proof with Bearer",
            vec![
                ("Authorization", bearer(&jwt)),
                (
                    "DPoP",
                    dpop_proof(&key, &htu, json!({"payload": {"ath": ath}})),
                ),
            ],
            "PROOF",
        ),
    ] {
        let answer = send(headers).await;
        answer.assert_fault(400, class);
        assert_eq!(last_record(&app).outcome, Outcome::Rejected, "{what}");
    }
    // An unbound token presented as DPoP.
    let plain = jwt_for(Some(QUERY_PATIENT), None);
    let plain_ath = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(openssl::sha::sha256(plain.as_bytes()))
    };
    let proof = dpop_proof(&key, &htu, json!({"payload": {"ath": plain_ath}}));
    let answer = send(vec![
        ("Authorization", format!("DPoP {plain}")),
        ("DPoP", proof),
    ])
    .await;
    answer.assert_fault(400, "BINDING");
    // Only the one good request reached the upstream.
    assert_eq!(
        app.records()
            .iter()
            .filter(|r| r.outcome == Outcome::Forwarded)
            .count(),
        1
    );
}
