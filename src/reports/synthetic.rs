//! TEST-ONLY: a synthetic access log with known patterns, for the reports' tests, their benchmark and the
//! sample reports (`xua-gateway sample access-log`). Every identifier in it is made up.
//!
//! Background traffic: each practitioner makes a few granted accesses on each weekday between 08:00 and
//! 16:00 local time, to patients drawn from a pool, with an occasional lone refusal. None of it is meant to
//! raise a flag of the shipped `mappings/review/flags.toml`. Planted in the last month of the span (the
//! review period of the tests): a snooper's day, a self-lookup, an access to a watch-listed patient, two
//! night-time accesses, a burst of refusals, a fastlege override and a break-the-glass access. Their
//! request ids start with `planted-<pattern>-`.

use jiff::civil::Date;
use jiff::ToSpan;
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use time::OffsetDateTime;

use super::zone::Zone;
use crate::audit::{AuditRecord, OverrideAudit};
use crate::error::ErrorClass;
use crate::model::{
    AccessContext, CareRelationship, Coded, Direction, Identifier, Outcome, Patient, Practitioner,
};

const NIN: &str = "urn:oid:2.16.578.1.12.4.1.4.1";
const HPR: &str = "urn:oid:2.16.578.1.12.4.1.4.4";
const ORG: &str = "urn:oid:2.16.578.1.12.4.1.4.101";
const CATEGORY: &str = "urn:oid:2.16.578.1.12.4.1.1.9060";
const POU: &str = "urn:oid:2.16.840.1.113883.1.11.20448";
const KOMMUNAL: &str = "urn:oid:2.16.578.1.12.4.1.1.8663";
const OMRADE: &str = "urn:oid:2.16.578.1.12.4.1.1.8655";
const SPESIALIST: &str = "urn:oid:2.16.578.1.12.4.1.1.8668";

/// The shape of the log.
#[derive(Debug, Clone)]
pub struct Plan {
    /// First and last local day of traffic; the patterns go into the last month.
    pub first: Date,
    pub last: Date,
    pub practitioners: usize,
    /// Granted accesses per practitioner per weekday: from..=to.
    pub per_day: (u32, u32),
    pub patients: usize,
    pub seed: u64,
}

impl Plan {
    /// The tests' log: four months before the end of November 2026, about 2,500 records.
    pub fn small() -> Self {
        Self {
            first: jiff::civil::date(2026, 8, 1),
            last: jiff::civil::date(2026, 11, 30),
            practitioners: 8,
            per_day: (1, 5),
            patients: 400,
            seed: 7,
        }
    }

    /// About `records` records over 2026 (for the benchmark).
    pub fn sized(records: u64) -> Self {
        let weekdays = 261u64;
        let per_practitioner = weekdays * 10;
        Self {
            first: jiff::civil::date(2026, 1, 1),
            last: jiff::civil::date(2026, 12, 31),
            practitioners: usize::try_from((records / per_practitioner).max(1)).unwrap_or(1),
            per_day: (6, 14),
            patients: usize::try_from((records / 20).max(500)).unwrap_or(500),
            seed: 11,
        }
    }

    /// The month the patterns are planted in, as a review period (`2026-11`).
    pub fn review_period(&self) -> String {
        format!("{:04}-{:02}", self.last.year(), self.last.month())
    }
}

/// Who is who in the generated log.
#[derive(Debug, Clone)]
pub struct Cast {
    /// The watch-listed patient.
    pub watched: String,
    /// The patient whose insight report the tests read: a fastlege access, two hospital accesses and a
    /// refusal, nothing else.
    pub insight_patient: String,
    /// The practitioner whose day is unusual, and that day.
    pub snooper: String,
    pub snoop_day: Date,
}

struct Person {
    nin: String,
    name: String,
    hpr: String,
    category: &'static str,
    org: (String, String),
    place: (String, String),
    service: (&'static str, &'static str),
}

const ORGS: [(&str, &str, &str, &str, &str, &str); 4] = [
    (
        "100100673",
        "Fagersta Testlegekontor",
        "100100673",
        "Fagersta Testlegekontor",
        "LE",
        "KA01",
    ),
    (
        "983974899",
        "Testsykehuset HF",
        "974589095",
        "Testsykehuset HF, Medisinsk klinikk",
        "LE",
        "S03",
    ),
    (
        "983974899",
        "Testsykehuset HF",
        "974589096",
        "Testsykehuset HF, Anestesiavdelingen",
        "SP",
        "S08",
    ),
    (
        "944117784",
        "Testkommune helse og omsorg",
        "974600951",
        "Testkommune hjemmesykepleie",
        "SP",
        "KP02",
    ),
];

fn people(n: usize) -> Vec<Person> {
    (0..n)
        .map(|i| {
            let (org_id, org, place_id, place, cat, svc) = ORGS
                .get(i % ORGS.len())
                .copied()
                .unwrap_or(("", "", "", "", "LE", "KA01"));
            let system = match svc {
                "KA01" | "KP02" => KOMMUNAL,
                "S03" => OMRADE,
                _ => SPESIALIST,
            };
            Person {
                nin: format!("0{:010}", 1_000_000 + i),
                name: format!("TEST HELSEPERSONELL {:03}", i + 1),
                hpr: format!("{}", 900_000_000 + i),
                category: cat,
                org: (org_id.to_string(), org.to_string()),
                place: (place_id.to_string(), place.to_string()),
                service: (system, svc),
            }
        })
        .collect()
}

fn coded(system: &str, code: &str) -> Coded {
    Coded {
        code: code.to_string(),
        text: None,
        system: Some(system.to_string()),
        assigner: None,
    }
}

fn ident(system: &str, id: &str, name: Option<&str>) -> Identifier {
    Identifier {
        id: id.to_string(),
        name: name.map(str::to_string),
        system: Some(system.to_string()),
        authority: None,
    }
}

/// An access record of `p` to `patient` at `t`.
fn access(
    p: &Person,
    patient: &str,
    t: OffsetDateTime,
    request_id: String,
    purpose: &str,
) -> AuditRecord {
    let mut r = AuditRecord::begin(Direction::SamlToJwt, t, &request_id, Some("192.0.2.10"));
    r.outcome = Outcome::Issued;
    r.input_issuer = Some("https://idp.test.xua-gateway.example".into());
    r.input_token_id = Some(format!("_in-{request_id}"));
    r.output_token_id = Some(format!("out-{request_id}"));
    r.output_audience = Some("nhn:dokumentdeling".into());
    r.output_expires = Some(t + time::Duration::minutes(5));
    r.profile = Some("no-pjd".into());
    r.context = Some(AccessContext {
        practitioner: Practitioner {
            identifier: Some(ident(NIN, &p.nin, Some(&p.name))),
            hpr_nr: Some(ident(HPR, &p.hpr, None)),
            authorization: vec![coded(CATEGORY, p.category)],
            legal_entity: Some(ident(ORG, &p.org.0, Some(&p.org.1))),
            point_of_care: Some(ident(ORG, &p.place.0, Some(&p.place.1))),
            department: None,
        },
        care_relationship: CareRelationship {
            healthcare_service: Some(coded(p.service.0, p.service.1)),
            purpose_of_use: vec![coded(POU, purpose)],
            purpose_of_use_details: None,
            decision_ref: None,
        },
        patients: vec![Patient {
            identifier: Some(ident(NIN, patient, None)),
            ..Patient::default()
        }],
        ..AccessContext::default()
    });
    r
}

fn refusal(p: &Person, patient: &str, t: OffsetDateTime, request_id: String) -> AuditRecord {
    let mut r = access(p, patient, t, request_id, "TREAT");
    r.outcome = Outcome::Rejected;
    r.error_class = Some(ErrorClass::Claim);
    r.error = Some("practitioner.hpr_nr is not a valid HPR number".into());
    r.output_token_id = None;
    r.output_expires = None;
    r
}

fn at(zone: &Zone, day: Date, hour: i8, minute: i8, second: i8) -> OffsetDateTime {
    let ms = zone.start_of(day).unwrap_or(0).saturating_add(
        ((i64::from(hour) * 60 + i64::from(minute)) * 60 + i64::from(second)) * 1000,
    );
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn is_weekday(d: Date) -> bool {
    d.weekday().to_monday_zero_offset() < 5
}

/// The first weekday on or after `d`.
fn weekday_from(mut d: Date) -> Date {
    while !is_weekday(d) {
        d = d.checked_add(1.day()).unwrap_or(d);
    }
    d
}

/// Generates the log in time order, handing each record to `each`; returns who is who.
pub fn generate(plan: &Plan, zone: &Zone, each: &mut dyn FnMut(AuditRecord)) -> Cast {
    let mut rng = ChaCha20Rng::seed_from_u64(plan.seed);
    let staff = people(plan.practitioners.max(8));
    let pool: Vec<String> = (0..plan.patients.max(10))
        .map(|i| format!("2{:010}", 5_000_000 + i))
        .collect();
    let watched = "29999999901".to_string();
    let insight_patient = "29999999902".to_string();
    let month = Date::new(plan.last.year(), plan.last.month(), 1).unwrap_or(plan.last);
    // The planted days: weekdays in the last month.
    let d1 = weekday_from(month.checked_add(2.days()).unwrap_or(month));
    let d2 = weekday_from(d1.checked_add(3.days()).unwrap_or(d1));
    let d3 = weekday_from(d2.checked_add(3.days()).unwrap_or(d2));
    let pick = |i: usize| staff.get(i % staff.len());
    let (
        Some(snooper),
        Some(selfish),
        Some(b),
        Some(night),
        Some(burster),
        Some(gp),
        Some(hospital),
        Some(nurse),
    ) = (
        pick(1),
        pick(2),
        pick(3),
        pick(5),
        pick(6),
        pick(0),
        pick(1),
        pick(2),
    )
    else {
        return Cast {
            watched,
            insight_patient,
            snooper: String::new(),
            snoop_day: d1,
        };
    };
    let mut day = plan.first;
    let mut n = 0u64;
    while day <= plan.last {
        let mut today: Vec<AuditRecord> = Vec::new();
        if is_weekday(day) {
            for p in &staff {
                let count = rng.random_range(plan.per_day.0..=plan.per_day.1);
                for _ in 0..count {
                    let minute = rng.random_range(0..8 * 60);
                    let t = at(
                        zone,
                        day,
                        8 + (minute / 60) as i8,
                        (minute % 60) as i8,
                        rng.random_range(0..60),
                    );
                    let patient = pool
                        .get(rng.random_range(0..pool.len()))
                        .cloned()
                        .unwrap_or_default();
                    let purpose = if rng.random_range(0..10) == 0 {
                        "COC"
                    } else {
                        "TREAT"
                    };
                    n += 1;
                    today.push(access(p, &patient, t, format!("bg-{n}"), purpose));
                }
            }
            let planted_day = day == d1 || day == d2 || day == d3;
            if rng.random_range(0..4) == 0 && !planted_day {
                if let Some(p) = staff.get(rng.random_range(0..staff.len())) {
                    let minute = rng.random_range(0..8 * 60);
                    let t = at(zone, day, 8 + (minute / 60) as i8, (minute % 60) as i8, 0);
                    n += 1;
                    let patient = pool.first().cloned().unwrap_or_default();
                    today.push(refusal(p, &patient, t, format!("bg-{n}")));
                }
            }
        }
        let planted = |pattern: &str, i: usize| format!("planted-{pattern}-{i}");
        if day == d1 {
            for i in 0..40usize {
                let patient = pool
                    .get((i * 7 + 3) % pool.len())
                    .cloned()
                    .unwrap_or_default();
                let t = at(zone, day, 9 + (i / 8) as i8, ((i % 8) * 7) as i8, 5);
                today.push(access(snooper, &patient, t, planted("snooper", i), "TREAT"));
            }
            today.push(access(
                selfish,
                &selfish.nin.clone(),
                at(zone, day, 10, 12, 0),
                planted("self", 0),
                "TREAT",
            ));
        }
        if day == d2 {
            today.push(access(
                b,
                &watched,
                at(zone, day, 11, 3, 0),
                planted("watched", 0),
                "TREAT",
            ));
            let patient = pool.get(17).cloned().unwrap_or_default();
            today.push(access(
                night,
                &patient,
                at(zone, day, 2, 30, 0),
                planted("night", 0),
                "TREAT",
            ));
            today.push(access(
                night,
                &patient,
                at(zone, day, 23, 15, 0),
                planted("night", 1),
                "TREAT",
            ));
            for i in 0..6usize {
                let second = i * 55;
                let t = at(zone, day, 13, (20 + second / 60) as i8, (second % 60) as i8);
                today.push(refusal(burster, &patient, t, planted("burst", i)));
            }
        }
        if day == d3 {
            let mut r = access(
                gp,
                &insight_patient,
                at(zone, day, 8, 45, 0),
                planted("fastlege", 0),
                "TREAT",
            );
            r.fastlege = Some(OverrideAudit {
                rule: "fastlege".into(),
                original: Some(coded(OMRADE, "S03")),
                register_answer: "listed".into(),
            });
            today.push(r);
            today.push(access(
                hospital,
                &insight_patient,
                at(zone, day, 9, 30, 0),
                "insight-1".into(),
                "TREAT",
            ));
            today.push(access(
                nurse,
                &insight_patient,
                at(zone, day, 14, 5, 0),
                "insight-2".into(),
                "COC",
            ));
            today.push(refusal(
                nurse,
                &insight_patient,
                at(zone, day, 14, 1, 0),
                "insight-refused".into(),
            ));
            let patient = pool.get(23).cloned().unwrap_or_default();
            let mut r = access(
                hospital,
                &patient,
                at(zone, day, 12, 0, 0),
                planted("emergency", 0),
                "BTG",
            );
            if let Some(c) = r.context.as_mut() {
                c.care_relationship.healthcare_service = Some(coded(OMRADE, "S03"));
            }
            today.push(r);
        }
        today.sort_by_key(|r| r.time);
        for r in today {
            each(r);
        }
        day = match day.checked_add(1.day()) {
            Ok(d) => d,
            Err(_) => break,
        };
    }
    Cast {
        watched,
        insight_patient,
        snooper: snooper.nin.clone(),
        snoop_day: d1,
    }
}

/// Writes the generated log through `sink` (a real store) and returns who is who and how many records were
/// written. One thread keeps the records in time order (the tests' expectations rely on it); more threads
/// let group commit fill its batches, at the price of neighbouring records swapping places.
pub fn write_log(
    sink: &dyn crate::audit::AuditSink,
    plan: &Plan,
    zone: &Zone,
    threads: usize,
) -> Result<(Cast, u64), crate::audit::AuditError> {
    use std::sync::{mpsc, Mutex};
    let mut written = 0u64;
    let mut failure: Option<crate::audit::AuditError> = None;
    if threads <= 1 {
        let cast = generate(plan, zone, &mut |r| {
            if failure.is_none() {
                match sink.write(&r) {
                    Ok(()) => written += 1,
                    Err(e) => failure = Some(e),
                }
            }
        });
        return match failure {
            Some(e) => Err(e),
            None => Ok((cast, written)),
        };
    }
    let (tx, rx) = mpsc::sync_channel::<AuditRecord>(threads * 64);
    let rx = Mutex::new(rx);
    let failed = Mutex::new(None::<crate::audit::AuditError>);
    let count = std::sync::atomic::AtomicU64::new(0);
    let cast = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let next = rx.lock().ok().and_then(|r| r.recv().ok());
                let Some(r) = next else { return };
                match sink.write(&r) {
                    Ok(()) => {
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(e) => {
                        if let Ok(mut f) = failed.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
            });
        }
        let cast = generate(plan, zone, &mut |r| {
            let _ = tx.send(r);
        });
        drop(tx);
        cast
    });
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok((cast, count.into_inner()))
}
