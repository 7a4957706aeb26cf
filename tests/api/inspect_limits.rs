//! `/inspect` runs the input limits before it builds any tree: one element with 20,000 attributes is reported
//! as over the limit at once, with nothing else read from it.

use serde_json::Value;

use crate::helpers::*;

fn with_many_attributes(n: usize) -> String {
    let xml = String::from_utf8(mint_now("fastlege.json")).unwrap();
    let attributes: String = (0..n).map(|i| format!(" a{i}=\"\"")).collect();
    let at = xml.find("<saml:Issuer").unwrap() + "<saml:Issuer".len();
    format!("{}{attributes}{}", &xml[..at], &xml[at..])
}

#[actix_web::test]
async fn an_element_with_twenty_thousand_attributes_is_refused_before_any_tree() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/inspect", app.address))
        .body(with_many_attributes(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["accepted"], false);
    let tokens = report["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{report}");
    assert_eq!(tokens[0]["label"], "document", "{report}");
    assert!(tokens[0]["items"].as_array().unwrap().is_empty());
    let limits = &tokens[0]["checks"][0];
    assert_eq!(limits["name"], "limits");
    assert_eq!(limits["status"], "fail");
    assert!(limits["message"]
        .as_str()
        .unwrap()
        .contains("more than 64 attributes"));

    // Within the limit, the report reads the assertion as always (and says what the extra attributes do).
    let res = app
        .client
        .post(format!("{}/inspect", app.address))
        .body(with_many_attributes(3))
        .send()
        .await
        .unwrap();
    let report: Value = res.json().await.unwrap();
    assert_ne!(report["tokens"][0]["label"], "document", "{report}");
}
