//! A real HTTP server on 127.0.0.1 standing in for the sector's registers: HPR (`/hpr/{hpr}`), access blocks
//! (`/blocks/{patient}`) and the fastlege register (`/fastlege/{patient}`). One thread per connection,
//! `Connection: close`; it counts requests per path so tests can tell a cached answer from a fresh one.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ── HPR numbers ──────────────────────────────────────────────────────────────────────────────────────────
/// The sample practitioners: valid authorizations of the category their claims files name.
pub const FASTLEGE_HPR: &str = "565501872"; // LE
pub const HOSPITAL_HPR: &str = "9144900"; // LE (and a lapsed SP)
pub const NURSE_HPR: &str = "7123456"; // SP
/// LE, valid until the end of 2023.
pub const LAPSED_HPR: &str = "4456789";
/// Only SP: a token claiming LE names the wrong category.
pub const NURSE_ONLY_HPR: &str = "1111111";
/// 404: not known to the register.
pub const UNKNOWN_HPR: &str = "2222222";
/// Answers after 1.5 s.
pub const SLOW_HPR: &str = "3333333";
/// 500.
pub const FAILING_HPR: &str = "4444444";
/// Not JSON.
pub const GARBLED_HPR: &str = "5555555";
/// The category nested in an object and an RFC 3339 end time (for custom pointers).
pub const NESTED_HPR: &str = "6666666";

// ── patients (synthetic fødselsnumre, month + 80) ────────────────────────────────────────────────────────
/// The sample patients (fastlege, hospital physician, municipal nurse): no blocks (404, `[]`, 404).
pub const FASTLEGE_PATIENT: &str = "21868534521";
pub const HOSPITAL_PATIENT: &str = "03128734502";
pub const NURSE_PATIENT: &str = "14035234595";
/// A block on the hospital physician (HPR 9144900).
pub const BLOCKS_PRACTITIONER: &str = "19916210070";
/// A block on Oslo universitetssykehus HF (legal entity 993467049), and one on a point of care.
pub const BLOCKS_ORGANISATION: &str = "27869110049";
/// Everyone is blocked except the fastlege (HPR 565501872).
pub const BLOCKS_ALL_BUT_GP: &str = "08895810100";
/// Answers after 1.5 s.
pub const SLOW_PATIENT: &str = "02837120058";
/// 500.
pub const FAILING_PATIENT: &str = "11848020097";
/// A block of a scope the gateway does not know.
pub const ODD_SCOPE_PATIENT: &str = "23856620085";
/// Not JSON.
pub const GARBLED_PATIENT: &str = "30879520092";
/// No blocks (404), for the negative cache.
pub const UNBLOCKED_PATIENT: &str = "16908320003";

pub const BLOCK_ON_PRACTITIONER: &str = "HTTP-SPERRE-0001";
pub const BLOCK_ON_LEGAL_ENTITY: &str = "HTTP-SPERRE-0002";
pub const BLOCK_ON_ALL_BUT_GP: &str = "HTTP-SPERRE-0004";

pub struct Registers {
    pub port: u16,
    requests: Arc<Mutex<HashMap<String, usize>>>,
}

impl Registers {
    pub fn start() -> Self {
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

    pub fn url(&self, register: &str, placeholder: &str) -> String {
        format!("http://127.0.0.1:{}/{register}/{placeholder}", self.port)
    }

    /// How many requests asked for `/{register}/{key}`.
    pub fn requests(&self, register: &str, key: &str) -> usize {
        let path = format!("/{register}/{key}");
        self.requests
            .lock()
            .unwrap()
            .get(&path)
            .copied()
            .unwrap_or(0)
    }
}

fn hpr(key: &str) -> (&'static str, String) {
    let ok = |body: &str| ("200 OK", body.to_string());
    match key {
        FASTLEGE_HPR => ok(
            r#"{"hprNumber": "565501872", "authorizations": [{"category": "LE", "validFrom": "2005-08-15"}]}"#,
        ),
        HOSPITAL_HPR => ok(
            r#"{"authorizations": [{"category": "SP", "validFrom": "1993-06-01", "validTo": "1999-05-31"}, {"category": "LE", "validFrom": "1999-06-01", "validTo": null}]}"#,
        ),
        NURSE_HPR => ok(r#"{"authorizations": [{"category": "SP"}]}"#),
        LAPSED_HPR => ok(
            r#"{"authorizations": [{"category": "LE", "validFrom": "2015-03-01", "validTo": "2023-12-31"}]}"#,
        ),
        NURSE_ONLY_HPR => {
            ok(r#"{"authorizations": [{"category": "SP", "validFrom": "2010-01-01"}]}"#)
        }
        NESTED_HPR => ok(
            r#"{"person": {"godkjenninger": [{"kategori": {"kode": "LE"}, "gyldig": {"til": "2099-01-01T00:00:00Z"}}]}}"#,
        ),
        SLOW_HPR => {
            std::thread::sleep(Duration::from_millis(1500));
            ok(r#"{"authorizations": [{"category": "LE"}]}"#)
        }
        FAILING_HPR => ("500 Internal Server Error", "oops".to_string()),
        GARBLED_HPR => ok("<html>maintenance</html>"),
        _ => ("404 Not Found", r#"{"error": "not found"}"#.to_string()),
    }
}

fn blocks(key: &str) -> (&'static str, String) {
    let ok = |body: &str| ("200 OK", body.to_string());
    match key {
        HOSPITAL_PATIENT => ok(r#"{"blocks": []}"#),
        BLOCKS_PRACTITIONER => ok(
            r#"{"blocks": [{"id": "HTTP-SPERRE-0001", "scope": "practitioner", "who": ["9144900"]}]}"#,
        ),
        BLOCKS_ORGANISATION => ok(
            r#"{"blocks": [{"id": "HTTP-SPERRE-0002", "scope": "legal-entity", "who": "993467049"}, {"id": "HTTP-SPERRE-0003", "scope": "point-of-care", "who": ["910000020"]}]}"#,
        ),
        BLOCKS_ALL_BUT_GP => ok(
            r#"{"blocks": [{"id": "HTTP-SPERRE-0004", "scope": "everyone-except", "who": ["565501872"]}]}"#,
        ),
        SLOW_PATIENT => {
            std::thread::sleep(Duration::from_millis(1500));
            ok(r#"{"blocks": []}"#)
        }
        FAILING_PATIENT => ("503 Service Unavailable", "down".to_string()),
        ODD_SCOPE_PATIENT => {
            ok(r#"{"blocks": [{"id": "HTTP-SPERRE-0005", "scope": "family", "who": ["1"]}]}"#)
        }
        GARBLED_PATIENT => ok("not json"),
        _ => ("404 Not Found", String::new()),
    }
}

fn fastlege(key: &str) -> (&'static str, String) {
    match key {
        FASTLEGE_PATIENT => (
            "200 OK",
            r#"{"gp": {"hprNumber": "565501872"}}"#.to_string(),
        ),
        _ => ("404 Not Found", String::new()),
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
    let mut parts = path.split('/').skip(1);
    let register = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let (status, body) = match register {
        "hpr" => hpr(key),
        "blocks" => blocks(key),
        "fastlege" => fastlege(key),
        _ => ("404 Not Found", String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = stream;
    let _ = stream.write_all(response.as_bytes());
}
