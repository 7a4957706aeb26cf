//! JWKS fetched from a URL: cached, refreshed on an unknown `kid` at most once per interval.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use serde_json::json;
use time::OffsetDateTime;

use crate::helpers::*;

struct KeyServer {
    served: Mutex<JwkSet>,
    fetches: AtomicUsize,
}

fn new_key(kid: &str) -> (EncodingKey, Jwk) {
    let ec = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let enc = EncodingKey::from_ec_pem(&ec.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    (enc, jwk)
}

const ISSUER: &str = "https://remote-jwks.test.example";

fn token(key: &EncodingKey, kid: &str) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = claims_file("fastlege.json");
    claims.insert("iss".into(), json!(ISSUER));
    claims.insert("aud".into(), json!(xua_gateway::samples::SAMPLE_AUDIENCE));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 60));
    // Each exchange needs its own token: the gateway refuses a second exchange of one (replay).
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_string());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

#[actix_web::test]
async fn jwks_url_is_cached_and_refreshed_on_unknown_kid_at_most_once_per_interval() {
    let (key_a, jwk_a) = new_key("a");
    let (key_b, jwk_b) = new_key("b");
    let state = Arc::new(KeyServer {
        served: Mutex::new(JwkSet { keys: vec![jwk_a] }),
        fetches: AtomicUsize::new(0),
    });
    let data = web::Data::from(state.clone());
    // The key server runs on its own thread: the gateway fetches synchronously at start-up.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                App::new().app_data(data.clone()).route(
                    "/jwks",
                    web::get().to(|s: web::Data<KeyServer>| async move {
                        s.fetches.fetch_add(1, Ordering::SeqCst);
                        let body = serde_json::to_string(&*s.served.lock().unwrap()).unwrap();
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    }),
                )
            })
            .workers(1)
            .bind("127.0.0.1:0")
            .unwrap();
            tx.send(server.addrs()[0].port()).unwrap();
            let _ = server.run().await;
        })
    });
    let port = rx.recv().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "{}\n[[jwt.trust.issuers]]\nissuer = \"{ISSUER}\"\njwks_url = \"http://127.0.0.1:{port}/jwks\"\nalgorithms = [\"ES256\"]\ntimeout_ms = 1000\nrefresh_secs = 2\n",
        sample_config_text()
    );
    let app = spawn_app_with_text(&config, dir.path()).await;
    let fetches = || state.fetches.load(Ordering::SeqCst);
    assert_eq!(fetches(), 1, "fetched once at start-up");

    let (status, body, _) = app.exchange_jwt(&token(&key_a, "a"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = app.exchange_jwt(&token(&key_a, "a"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(fetches(), 1, "served from the cache");

    // The issuer rotates to key b. A token with the unknown kid triggers one refresh... (within the interval
    // since start-up, so not yet).
    *state.served.lock().unwrap() = JwkSet { keys: vec![jwk_b] };
    let (status, body, _) = app.exchange_jwt(&token(&key_b, "b"), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_class"], "SIG");
    assert_eq!(fetches(), 1, "no refresh within the interval");

    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (status, body, _) = app.exchange_jwt(&token(&key_b, "b"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fetches(), 2, "refreshed once after the interval");

    // Unknown kids in a burst cost at most one fetch per interval.
    for _ in 0..5 {
        let (status, _, _) = app.exchange_jwt(&token(&key_b, "zzz"), &[]).await;
        assert_eq!(status, 400);
    }
    assert_eq!(fetches(), 2);
}
