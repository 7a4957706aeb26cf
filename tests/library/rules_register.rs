//! The HTTP fastlege register against a real HTTP server on 127.0.0.1 started by the test: hit, miss,
//! timeout, 5xx, malformed answers, the cache, bounded concurrency, and the failure policy through the
//! rule engine.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xua_gateway::config::RulesConfig;
use xua_gateway::error::ErrorClass;
use xua_gateway::inspect::unverified::DecodeUnverified;
use xua_gateway::mapping::ProfileSet;
use xua_gateway::rules::{
    CodeTables, FastlegeRegister, HttpRegister, HttpRegisterSettings, OnUnavailable,
    RegisterAnswer, RegisterError, RegisterStats, RuleDirection, RuleSet, Rules,
};

const GP_PATIENT: &str = "21868534521"; // GP 565501872 (the fastlege sample)
const OTHER_GP_PATIENT: &str = "03128734502"; // GP 9876543, answered as a JSON number
const UNLISTED: &str = "14035234595"; // 404
const NULL_GP: &str = "11111111111"; // {"gp": null}
const SLOW: &str = "22222222222"; // answers after 3 s
const FAILING: &str = "33333333333"; // 500
const NOT_JSON: &str = "44444444444";
const WRONG_SHAPE: &str = "55555555555"; // JSON without the pointer's target
const REDIRECT: &str = "66666666666"; // 302 elsewhere
const WORDS: &str = "77777777777"; // an HPR "number" that is not digits
const LAGGY: &str = "88888888888"; // answers a hit after 200 ms

/// A tiny HTTP/1.1 server: one thread per connection, `Connection: close`, counts requests per path.
struct Register {
    port: u16,
    requests: Arc<Mutex<HashMap<String, usize>>>,
}

impl Register {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(HashMap::new()));
        let counts = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let counts = counts.clone();
                std::thread::spawn(move || serve(stream, &counts));
            }
        });
        Self { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/fastlege/{{patient}}/gp", self.port)
    }

    fn requests(&self, patient: &str) -> usize {
        let path = format!("/fastlege/{patient}/gp");
        self.requests
            .lock()
            .unwrap()
            .get(&path)
            .copied()
            .unwrap_or(0)
    }
}

fn serve(stream: TcpStream, counts: &Mutex<HashMap<String, usize>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" => break,
            Ok(_) => {}
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    *counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    let patient = path.split('/').nth(2).unwrap_or_default();
    let (status, body, extra) = match patient {
        GP_PATIENT => (
            "200 OK",
            r#"{"gp": {"hprNumber": "565501872"}}"#.to_string(),
            "",
        ),
        OTHER_GP_PATIENT => (
            "200 OK",
            r#"{"gp": {"hprNumber": 9876543}}"#.to_string(),
            "",
        ),
        NULL_GP => ("200 OK", r#"{"gp": null}"#.to_string(), ""),
        SLOW => {
            std::thread::sleep(Duration::from_millis(3000));
            (
                "200 OK",
                r#"{"gp": {"hprNumber": "565501872"}}"#.to_string(),
                "",
            )
        }
        LAGGY => {
            std::thread::sleep(Duration::from_millis(200));
            (
                "200 OK",
                r#"{"gp": {"hprNumber": "565501872"}}"#.to_string(),
                "",
            )
        }
        FAILING => ("500 Internal Server Error", "oops".to_string(), ""),
        NOT_JSON => ("200 OK", "<html>maintenance</html>".to_string(), ""),
        WRONG_SHAPE => (
            "200 OK",
            r#"{"fastlege": {"hpr": "565501872"}}"#.to_string(),
            "",
        ),
        REDIRECT => (
            "302 Found",
            String::new(),
            "Location: http://127.0.0.1:9/elsewhere\r\n",
        ),
        WORDS => (
            "200 OK",
            r#"{"gp": {"hprNumber": "Dr. Svendsen"}}"#.to_string(),
            "",
        ),
        _ => ("404 Not Found", r#"{"error": "not found"}"#.to_string(), ""),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}

fn settings(url: String) -> HttpRegisterSettings {
    HttpRegisterSettings {
        url,
        hpr_pointer: "/gp/hprNumber".into(),
        // Generous for a loaded CI machine; the slow endpoint takes far longer.
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_millis(1000),
        ..HttpRegisterSettings::default()
    }
}

fn register(server: &Register) -> (HttpRegister, Arc<RegisterStats>) {
    let stats = Arc::new(RegisterStats::default());
    (
        HttpRegister::new(settings(server.url()), stats.clone()).unwrap(),
        stats,
    )
}

#[test]
fn hit_miss_and_the_cache() {
    let server = Register::start();
    let (reg, stats) = register(&server);

    let started = Instant::now();
    assert_eq!(
        reg.gp_of(GP_PATIENT)
            .unwrap()
            .map(|h| h.to_string())
            .as_deref(),
        Some("565501872")
    );
    let uncached = started.elapsed();
    assert_eq!(
        reg.gp_of(OTHER_GP_PATIENT)
            .unwrap()
            .map(|h| h.to_string())
            .as_deref(),
        Some("9876543")
    );
    assert_eq!(reg.gp_of(UNLISTED).unwrap(), None, "404 is no GP");
    assert_eq!(reg.gp_of(NULL_GP).unwrap(), None, "null is no GP");

    // A repeat is served from the cache, without a second request: also for "no GP".
    let started = Instant::now();
    assert_eq!(
        reg.gp_of(GP_PATIENT)
            .unwrap()
            .map(|h| h.to_string())
            .as_deref(),
        Some("565501872")
    );
    let cached = started.elapsed();
    assert_eq!(reg.gp_of(UNLISTED).unwrap(), None);
    assert_eq!(server.requests(GP_PATIENT), 1);
    assert_eq!(server.requests(UNLISTED), 1);
    let s = stats.snapshot();
    assert_eq!((s.http_requests, s.cache_hits, s.http_errors), (4, 2, 0));
    eprintln!("register lookup over loopback HTTP: uncached {uncached:?}, cached {cached:?}");

    // Without a cache every lookup asks.
    let stats = Arc::new(RegisterStats::default());
    let mut s = settings(server.url());
    s.cache_ttl = Duration::ZERO;
    let uncached_reg = HttpRegister::new(s, stats.clone()).unwrap();
    uncached_reg.gp_of(OTHER_GP_PATIENT).unwrap();
    uncached_reg.gp_of(OTHER_GP_PATIENT).unwrap();
    assert_eq!(server.requests(OTHER_GP_PATIENT), 3);
    assert_eq!(stats.snapshot().cache_hits, 0);
}

#[test]
fn the_cache_expires() {
    let server = Register::start();
    let stats = Arc::new(RegisterStats::default());
    let mut s = settings(server.url());
    s.cache_ttl = Duration::from_millis(600);
    let reg = HttpRegister::new(s, stats).unwrap();
    reg.gp_of(GP_PATIENT).unwrap();
    reg.gp_of(GP_PATIENT).unwrap();
    assert_eq!(server.requests(GP_PATIENT), 1);
    std::thread::sleep(Duration::from_millis(900));
    reg.gp_of(GP_PATIENT).unwrap();
    assert_eq!(server.requests(GP_PATIENT), 2);
}

#[test]
fn failures_are_unavailable_and_not_cached() {
    let server = Register::start();
    let (reg, stats) = register(&server);

    let started = Instant::now();
    assert_eq!(reg.gp_of(SLOW), Err(RegisterError::Timeout));
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "the timeout did not cut the slow answer short: {:?}",
        started.elapsed()
    );
    assert_eq!(reg.gp_of(FAILING), Err(RegisterError::Status(500)));
    assert_eq!(
        reg.gp_of(NOT_JSON),
        Err(RegisterError::Malformed("the answer is not JSON".into()))
    );
    assert_eq!(
        reg.gp_of(WRONG_SHAPE),
        Err(RegisterError::Malformed(
            "the answer has nothing at the configured pointer".into()
        ))
    );
    assert_eq!(
        reg.gp_of(WORDS),
        Err(RegisterError::Malformed(
            "the value at the configured pointer is not an HPR number".into()
        ))
    );
    assert_eq!(
        reg.gp_of(REDIRECT),
        Err(RegisterError::Status(302)),
        "redirects are not followed"
    );
    // Errors are not cached: the next lookup asks again.
    assert_eq!(reg.gp_of(FAILING), Err(RegisterError::Status(500)));
    assert_eq!(server.requests(FAILING), 2);
    let s = stats.snapshot();
    assert_eq!(s.timeouts, 1);
    assert_eq!(s.http_errors, 6);
    assert_eq!(s.cache_hits, 0);

    // Nothing listening at all.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let stats = Arc::new(RegisterStats::default());
    let nowhere = HttpRegister::new(
        settings(format!("http://127.0.0.1:{port}/{{patient}}")),
        stats,
    )
    .unwrap();
    assert_eq!(nowhere.gp_of(GP_PATIENT), Err(RegisterError::Connect));

    // No error names the patient or the URL.
    for e in [
        RegisterError::Timeout,
        RegisterError::Status(500),
        RegisterError::Connect,
    ] {
        assert!(!e.to_string().contains(GP_PATIENT));
        assert!(!e.to_string().contains("127.0.0.1"));
    }
}

#[test]
fn concurrency_is_bounded_and_one_patient_is_asked_once() {
    let server = Register::start();
    let stats = Arc::new(RegisterStats::default());
    let mut s = settings(server.url());
    s.max_concurrent = 1;
    s.queue_wait = Duration::from_millis(50);
    s.timeout = Duration::from_millis(1500);
    let reg = Arc::new(HttpRegister::new(s, stats.clone()).unwrap());

    // One slot, held by a slow lookup: another patient's lookup gives up after the queue wait.
    let holder = {
        let reg = reg.clone();
        std::thread::spawn(move || reg.gp_of(SLOW))
    };
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(reg.gp_of(GP_PATIENT), Err(RegisterError::Saturated));
    assert_eq!(holder.join().unwrap(), Err(RegisterError::Timeout));
    assert_eq!(stats.snapshot().saturated, 1);
    // The slot is free again.
    assert_eq!(
        reg.gp_of(GP_PATIENT)
            .unwrap()
            .map(|h| h.to_string())
            .as_deref(),
        Some("565501872")
    );

    // Concurrent lookups of one patient share one request (and need only one slot).
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let reg = reg.clone();
            std::thread::spawn(move || reg.gp_of(LAGGY))
        })
        .collect();
    for t in threads {
        assert_eq!(
            t.join().unwrap().unwrap().map(|h| h.to_string()).as_deref(),
            Some("565501872")
        );
    }
    assert_eq!(server.requests(LAGGY), 1);
}

fn rules(register: Arc<dyn FastlegeRegister>, on_unavailable: OnUnavailable) -> Rules {
    let codes = Arc::new(CodeTables::embedded().unwrap());
    let sets = RuleSet::embedded(&codes).unwrap();
    let mut cfg = RulesConfig {
        synthetic_nin: true,
        ..RulesConfig::default()
    };
    cfg.fastlege.on_unavailable = on_unavailable;
    Rules::new(
        codes,
        sets,
        &cfg.settings(),
        register,
        Arc::new(RegisterStats::default()),
    )
    .unwrap()
}

/// Runs the encode-xua rules (validation is left out: the test patients' numbers are not fødselsnumre).
fn apply(
    rules: &Rules,
    ctx: &mut xua_gateway::model::AccessContext,
) -> Result<Vec<xua_gateway::rules::RuleDecision>, xua_gateway::error::Rejection> {
    rules
        .engine("no-pjd")
        .unwrap()
        .apply(RuleDirection::EncodeXua, ctx, rules.register())
}

fn fastlege_context(patient: &str) -> xua_gateway::model::AccessContext {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/claims/fastlege.json"),
    )
    .unwrap();
    let mut claims: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).unwrap();
    claims["nhn:tillitsrammeverk:parameters"]["patients"][0]["identifier"]["id"] =
        serde_json::json!(patient);
    ProfileSet::embedded("no-pjd")
        .unwrap()
        .default_profile()
        .decode_claims_unverified(&claims)
        .unwrap()
}

#[test]
fn the_failure_policy_applies_to_the_http_register() {
    let server = Register::start();
    let (reg, _) = register(&server);
    let reg: Arc<dyn FastlegeRegister> = Arc::new(reg);

    // A hit over HTTP overrides, like the file register.
    let keep = rules(reg.clone(), OnUnavailable::Keep);
    let mut ctx = fastlege_context(GP_PATIENT);
    let outcome = keep
        .run("no-pjd", &[RuleDirection::EncodeXua], &mut ctx)
        .unwrap();
    assert!(outcome.warnings.is_empty());
    assert_eq!(outcome.decisions[0].register_answer, RegisterAnswer::Hit);
    assert_eq!(
        ctx.care_relationship.healthcare_service.unwrap().code,
        "KX17"
    );

    // keep: a 5xx leaves the value as it came, and the decision says why.
    let mut ctx = fastlege_context(FAILING);
    let decisions = apply(&keep, &mut ctx).unwrap();
    assert_eq!(
        decisions[0].register_answer,
        RegisterAnswer::Unavailable(RegisterError::Status(500))
    );
    assert!(!decisions[0].applied);
    assert_eq!(
        ctx.care_relationship.healthcare_service.unwrap().code,
        "KA01"
    );

    // reject: a timeout refuses the exchange with UNAVAILABLE.
    let reject = rules(reg, OnUnavailable::Reject);
    let mut ctx = fastlege_context(SLOW);
    let err = apply(&reject, &mut ctx).unwrap_err();
    assert_eq!(err.class, ErrorClass::Unavailable);
    assert!(err.message.contains("did not answer in time"), "{err}");
    assert!(!err.message.contains(SLOW));
}
