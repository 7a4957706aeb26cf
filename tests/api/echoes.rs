//! What a caller sends may be repeated in an error message (an issuer, an audience, a profile, a `typ`, a
//! parameter name), but never a value shaped like a fødselsnummer: every echo passes the logs' redaction.

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::forge::{edit, resigned, PATIENT};
use crate::helpers::*;

fn assert_redacted(what: &str, status: u16, body: &Value) {
    let text = body.to_string();
    assert_eq!(status, 400, "{what}: {text}");
    assert!(!text.contains(PATIENT), "{what} echoes the number: {text}");
    assert!(
        text.contains("[fnr]"),
        "{what}: the echo is redacted, not dropped: {text}"
    );
}

#[actix_web::test]
async fn fodselsnummer_shaped_input_is_never_echoed() {
    let app = spawn_app().await;
    let issuer = xua_gateway::samples::SAMPLE_IDP;
    let foreign = resigned(|x| edit(&x, &format!(">{issuer}<"), &format!(">{PATIENT}<")));
    let (status, body) = app.exchange_saml(foreign.as_bytes(), &[]).await;
    assert_redacted("the assertion's Issuer", status, &body);

    let xml = mint_now("fastlege.json");
    for parameter in ["audience", "profile"] {
        let (status, body) = app.exchange_saml(&xml, &[(parameter, PATIENT)]).await;
        assert_redacted(parameter, status, &body);
    }
    for parameter in ["subject_token_type", "requested_token_type"] {
        let mut form = vec![
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token_type", TT_SAML2),
            ("subject_token", "abc"),
        ];
        form.retain(|(k, _)| *k != parameter);
        form.push((parameter, PATIENT));
        let (status, body) = app.post_form(&form).await;
        assert_redacted(parameter, status, &body);
    }
    let (status, body) = app
        .post_raw(&format!("grant_type=x&{PATIENT}=1&{PATIENT}=2"))
        .await;
    assert_redacted("a repeated parameter name", status, &body);

    // A JWT's typ header, signed by the trusted sample issuer.
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = claims_file("hospital-physician.json");
    claims.insert("iss".into(), json!(xua_gateway::samples::SAMPLE_JWT_ISSUER));
    claims.insert("aud".into(), json!(xua_gateway::samples::SAMPLE_AUDIENCE));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 60));
    let key = jsonwebtoken::EncodingKey::from_ec_pem(xua_gateway::samples::SAMPLE_JWT_KEY).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.typ = Some(PATIENT.to_string());
    let jwt = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let (status, body, _) = app.exchange_jwt(&jwt, &[]).await;
    assert_redacted("the JWT typ", status, &body);
}

#[actix_web::test]
async fn request_ids_never_look_like_identifiers() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for sent in [
        None,
        Some(PATIENT),
        Some("req-21868534521"),
        Some("trace-42"),
    ] {
        let mut req = app.client.get(format!("{}/healthz", app.address));
        if let Some(id) = sent {
            req = req.header("X-Request-Id", id);
        }
        let res = req.send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
        match sent {
            Some("trace-42") => assert_eq!(id, "trace-42"),
            Some(blanked) => assert!(!id.contains(blanked) && id.starts_with('r'), "{id}"),
            None => assert!(id.starts_with('r'), "{id}"),
        }
        ids.push(id);
    }
    // The id the audit record keeps is the one the log lines carry.
    let res = app
        .client
        .post(format!("{}/translate", app.address))
        .header("X-Request-Id", PATIENT)
        .header("Content-Type", "application/xml")
        .body(mint_now("fastlege.json"))
        .send()
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(app.records().last().unwrap().request_id, id);
    assert_ne!(id, PATIENT);
    for id in ids {
        assert_eq!(xua_gateway::redact::scrub_text(&id), id);
    }
}
