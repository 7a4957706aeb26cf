//! The review's pass over the log: one scan of the period (with the volume flag's history before it) that
//! counts, raises the per-record flags, tracks refusal bursts and draws the sample; and, only when some
//! practitioner-day is unusual, a second scan of the period for that day's records.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use jiff::civil::Date;
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

use super::{Counts, Finding, Item, ReviewRequest};
use crate::audit::log::{verified, AuditLog, ReadError, Selection, Stored};
use crate::audit::AuditRecord;
use crate::model::Outcome;
use crate::reports::describe::Describer;
use crate::reports::flags::{FlagKind, FlagTable};
use crate::reports::ChainSummary;

pub(super) struct Scanned {
    pub chain: ChainSummary,
    pub counts: Counts,
    pub findings: Vec<Finding>,
    pub population: u64,
    pub sample: Vec<Item>,
}

/// Whose access it was: the national identity number, else the HPR number.
fn practitioner_key(r: &AuditRecord) -> Option<String> {
    let p = &r.context.as_ref()?.practitioner;
    p.identifier
        .as_ref()
        .map(|i| i.id.clone())
        .or_else(|| p.hpr_nr.as_ref().map(|h| format!("hpr:{}", h.id)))
}

fn patient_of(r: &AuditRecord) -> Option<&str> {
    r.context
        .as_ref()?
        .patients
        .first()?
        .identifier
        .as_ref()
        .map(|i| i.id.as_str())
}

fn item(d: &Describer<'_>, s: &Stored) -> Item {
    let r = &s.record;
    let ctx = r.context.as_ref();
    let p = ctx.map(|c| &c.practitioner);
    let name = p
        .and_then(|p| p.identifier.as_ref())
        .and_then(|i| i.name.clone());
    let hpr = p.and_then(|p| p.hpr_nr.as_ref()).map(|h| h.id.clone());
    let practitioner = match (name, hpr) {
        (Some(n), Some(h)) => format!("{n} (HPR {h})"),
        (Some(n), None) => n,
        (None, Some(h)) => format!("HPR {h}"),
        (None, None) => p
            .and_then(|p| p.identifier.as_ref())
            .map(|i| i.id.clone())
            .unwrap_or_default(),
    };
    let grounds = ctx.map_or(String::new(), |c| {
        let care = &c.care_relationship;
        let mut parts: Vec<String> = care.purpose_of_use.iter().map(|c| d.coded(c)).collect();
        parts.extend(care.healthcare_service.as_ref().map(|c| d.coded(c)));
        parts.extend(care.purpose_of_use_details.as_ref().map(|c| d.coded(c)));
        parts.join("; ")
    });
    Item {
        record: s.seq,
        time: r.time,
        when: d.when(r.time),
        practitioner,
        patient: patient_of(r).map(str::to_string),
        organisation: p.and_then(|p| d.named(p.legal_entity.as_ref())),
        grounds,
        outcome: r.outcome.as_str(),
    }
}

/// A practitioner's open refusal window and the burst it last raised.
#[derive(Default)]
struct Refusals {
    window: VecDeque<(i64, Item)>,
    /// Index into the findings of the burst still open, and the time of its last refusal.
    open: Option<(usize, i64)>,
}

fn median(mut v: Vec<u64>) -> f64 {
    v.sort_unstable();
    let n = v.len();
    let at = |i: usize| v.get(i).copied().unwrap_or(0) as f64;
    if n % 2 == 1 {
        at(n / 2)
    } else {
        (at(n / 2 - 1) + at(n / 2)) / 2.0
    }
}

struct Pass<'a> {
    d: &'a Describer<'a>,
    flags: &'a FlagTable,
    request: &'a ReviewRequest,
    counts: Counts,
    findings: Vec<Finding>,
    /// practitioner → local day → granted accesses, before the period and in it.
    history: HashMap<String, HashMap<Date, u64>>,
    days: HashMap<String, BTreeMap<Date, u64>>,
    refusals: HashMap<String, Refusals>,
    rng: ChaCha20Rng,
    population: u64,
    sample: Vec<Item>,
}

impl Pass<'_> {
    fn flag(&mut self, flag: FlagKind, detail: Option<String>, items: Vec<Item>) -> usize {
        let title = self
            .d
            .words()
            .get(&format!("review.flag.{}", flag.id()))
            .to_string();
        self.findings.push(Finding {
            flag,
            title,
            detail,
            items,
        });
        self.findings.len() - 1
    }

    fn record(&mut self, s: &Stored) {
        let r = &s.record;
        let ms = crate::reports::zone::millis(r.time);
        let in_period = ms >= self.request.period.since_ms;
        if !r.direction.is_exchange() || r.outcome == Outcome::Forwarded {
            // A use of the log itself, or the proxy's second record of an access its `issued` record
            // already stands for: counted, never flagged or sampled.
            self.counts.records += u64::from(in_period);
            return;
        }
        let zone = &self.d.tables.zone;
        let key = practitioner_key(r);
        if !in_period {
            if r.outcome == Outcome::Issued {
                if let Some(k) = key {
                    let day = zone.local_ms(ms).date;
                    *self.history.entry(k).or_default().entry(day).or_default() += 1;
                }
            }
            return;
        }
        self.counts.records += 1;
        let patient = patient_of(r);
        if self.flags.watch_list && patient.is_some_and(|p| self.request.watch_list.contains(p)) {
            let it = item(self.d, s);
            self.flag(FlagKind::WatchList, None, vec![it]);
        }
        match r.outcome {
            Outcome::Issued => self.granted(s, ms, key, patient),
            Outcome::Rejected => self.refused(s, ms, key),
            Outcome::Forwarded => {}
        }
    }

    fn granted(&mut self, s: &Stored, ms: i64, key: Option<String>, patient: Option<&str>) {
        let r = &s.record;
        self.counts.accesses += 1;
        let local = self.d.tables.zone.local_ms(ms);
        if self.flags.self_lookup {
            let own = r
                .context
                .as_ref()
                .and_then(|c| c.practitioner.identifier.as_ref())
                .map(|i| i.id.as_str());
            if own.is_some() && own == patient {
                let it = item(self.d, s);
                self.flag(FlagKind::SelfLookup, None, vec![it]);
            }
        }
        if let Some(h) = &self.flags.outside_hours {
            if !h.within(local.weekday, local.minute_of_day()) {
                let w = self.d.words();
                let detail = w.fill(
                    "review.detail.outside_hours",
                    &[
                        ("hour", &format!("{:02}", local.hour)),
                        ("minute", &format!("{:02}", local.minute)),
                        (
                            "weekday",
                            w.list_item("review.detail.weekdays", local.weekday),
                        ),
                    ],
                );
                let it = item(self.d, s);
                self.flag(FlagKind::OutsideHours, Some(detail), vec![it]);
            }
        }
        if let (Some(codes), Some(ctx)) = (&self.flags.emergency, r.context.as_ref()) {
            let care = &ctx.care_relationship;
            let hit = care
                .purpose_of_use
                .iter()
                .chain(care.purpose_of_use_details.iter())
                .any(|c| {
                    c.system
                        .as_deref()
                        .is_some_and(|sys| codes.iter().any(|(s2, c2)| s2 == sys && *c2 == c.code))
                });
            if hit {
                let it = item(self.d, s);
                self.flag(FlagKind::Emergency, None, vec![it]);
            }
        }
        if let (Some(rules), Some(f)) = (&self.flags.rule_override, r.fastlege.as_ref()) {
            if rules.contains(&f.rule) {
                let unknown = self.d.words().get("language.unknown").to_string();
                let original = f
                    .original
                    .as_ref()
                    .map_or(unknown.clone(), |c| self.d.coded(c));
                let replacement = r
                    .context
                    .as_ref()
                    .and_then(|c| c.care_relationship.healthcare_service.as_ref())
                    .map_or(unknown, |c| self.d.coded(c));
                let detail = self.d.words().fill(
                    "review.detail.rule_override",
                    &[
                        ("rule", &f.rule),
                        ("original", &original),
                        ("replacement", &replacement),
                    ],
                );
                let it = item(self.d, s);
                self.flag(FlagKind::RuleOverride, Some(detail), vec![it]);
            }
        }
        if let Some(k) = key {
            *self
                .days
                .entry(k)
                .or_default()
                .entry(local.date)
                .or_default() += 1;
        }
        // Reservoir sampling: each granted access ends up in the sample with the same probability.
        let k = usize::try_from(self.request.sample).unwrap_or(usize::MAX);
        let seen = self.population;
        self.population += 1;
        if self.sample.len() < k {
            self.sample.push(item(self.d, s));
        } else if k > 0 {
            let j = self.rng.random_range(0..=seen);
            if let Some(slot) = usize::try_from(j).ok().and_then(|j| self.sample.get_mut(j)) {
                *slot = item(self.d, s);
            }
        }
    }

    fn refused(&mut self, s: &Stored, ms: i64, key: Option<String>) {
        self.counts.refusals += 1;
        let (Some(burst), Some(k)) = (self.flags.refusal_burst.clone(), key) else {
            return;
        };
        let it = item(self.d, s);
        let mut state = self.refusals.remove(&k).unwrap_or_default();
        state.window.push_back((ms, it.clone()));
        while state
            .window
            .front()
            .is_some_and(|(t, _)| *t < ms - burst.within_ms)
        {
            state.window.pop_front();
        }
        match state.open {
            Some((i, last)) if ms - last <= burst.within_ms => {
                if let Some(f) = self.findings.get_mut(i) {
                    f.items.push(it);
                }
                state.open = Some((i, ms));
            }
            _ if state.window.len() >= burst.count => {
                let items: Vec<Item> = state.window.iter().map(|(_, i)| i.clone()).collect();
                let minutes = (burst.within_ms / 60_000).to_string();
                let detail = self.d.words().fill(
                    "review.detail.refusal_burst",
                    &[("count", &items.len().to_string()), ("minutes", &minutes)],
                );
                let i = self.flag(FlagKind::RefusalBurst, Some(detail), items);
                state.open = Some((i, ms));
            }
            _ => state.open = None,
        }
        self.refusals.insert(k, state);
    }
}

/// The whole review pass.
pub(super) fn run(
    log: &dyn AuditLog,
    d: &Describer<'_>,
    request: &ReviewRequest,
) -> Result<Scanned, ReadError> {
    let flags = &d.tables.flags;
    let zone = &d.tables.zone;
    let mut pass = Pass {
        d,
        flags,
        request,
        counts: Counts::default(),
        findings: Vec::new(),
        history: HashMap::new(),
        days: HashMap::new(),
        refusals: HashMap::new(),
        rng: ChaCha20Rng::seed_from_u64(request.seed),
        population: 0,
        sample: Vec::new(),
    };
    let since = flags
        .unusual_volume
        .as_ref()
        .and_then(|v| request.period.history_since(zone, v.history_days))
        .unwrap_or(request.period.since_ms);
    let mut chain = ChainSummary::default();
    log.read(&mut |snapshot| {
        let coverage = verified(snapshot)?;
        chain = ChainSummary::of(&coverage);
        let through = coverage.through();
        snapshot.scan(
            Selection::Period {
                since_ms: since,
                until_ms: request.period.until_ms,
            },
            through,
            &mut |s| {
                pass.record(&s);
                Ok(())
            },
        )?;
        let unusual = unusual_days(&pass);
        if unusual.is_empty() {
            return Ok(());
        }
        let mut open: HashMap<(String, Date), usize> = HashMap::new();
        for (k, day, detail) in unusual {
            let i = pass.flag(FlagKind::UnusualVolume, Some(detail), Vec::new());
            open.insert((k, day), i);
        }
        snapshot.scan(
            Selection::Period {
                since_ms: request.period.since_ms,
                until_ms: request.period.until_ms,
            },
            through,
            &mut |s| {
                if s.record.outcome != Outcome::Issued || !s.record.direction.is_exchange() {
                    return Ok(());
                }
                let Some(k) = practitioner_key(&s.record) else {
                    return Ok(());
                };
                let day = zone.local(s.record.time).date;
                if let Some(i) = open.get(&(k, day)) {
                    let it = item(d, &s);
                    if let Some(f) = pass.findings.get_mut(*i) {
                        f.items.push(it);
                    }
                }
                Ok(())
            },
        )
    })?;
    let mut findings = pass.findings;
    if let Some(burst) = &flags.refusal_burst {
        // A burst grows after it is raised: say how many it came to.
        let minutes = (burst.within_ms / 60_000).to_string();
        for f in findings
            .iter_mut()
            .filter(|f| f.flag == FlagKind::RefusalBurst)
        {
            f.detail = Some(d.words().fill(
                "review.detail.refusal_burst",
                &[("count", &f.items.len().to_string()), ("minutes", &minutes)],
            ));
        }
    }
    findings.sort_by_key(|f| (f.flag, f.items.first().map(|i| i.record)));
    let mut sample = pass.sample;
    sample.sort_by_key(|i| i.record);
    Ok(Scanned {
        chain,
        counts: pass.counts,
        findings,
        population: pass.population,
        sample,
    })
}

/// The practitioner-days of the period above the volume rule, with the detail in words.
fn unusual_days(pass: &Pass<'_>) -> Vec<(String, Date, String)> {
    let Some(v) = &pass.flags.unusual_volume else {
        return Vec::new();
    };
    let w = pass.d.words();
    let history = v.history_days.to_string();
    let mut out = Vec::new();
    let empty = HashMap::new();
    let keys: HashSet<&String> = pass.days.keys().collect();
    let mut keys: Vec<&String> = keys.into_iter().collect();
    keys.sort();
    for k in keys {
        let Some(days) = pass.days.get(k) else {
            continue;
        };
        let past: Vec<u64> = pass
            .history
            .get(k)
            .unwrap_or(&empty)
            .values()
            .copied()
            .collect();
        let active = past.len();
        let med = if past.is_empty() { 0.0 } else { median(past) };
        for (day, count) in days {
            if *count < v.min_accesses {
                continue;
            }
            let date = pass.d.date(*day);
            let detail = if active == 0 {
                w.fill(
                    "review.detail.unusual_volume_new",
                    &[
                        ("count", &count.to_string()),
                        ("date", &date),
                        ("history", &history),
                    ],
                )
            } else if (*count as f64) > v.factor * med {
                w.fill(
                    "review.detail.unusual_volume",
                    &[
                        ("count", &count.to_string()),
                        ("date", &date),
                        ("median", &format!("{med}")),
                        ("days", &active.to_string()),
                        ("history", &history),
                    ],
                )
            } else {
                continue;
            };
            out.push((k.clone(), *day, detail));
        }
    }
    out
}
