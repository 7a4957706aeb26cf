//! The review's flags as `mappings/review/flags.toml` declares them: which kinds apply, and their limits.
//! The kinds are what the review knows how to look for; the table decides which of them a deployment uses
//! and where each one's threshold lies.

use serde::{Deserialize, Serialize};

use crate::mapping::MappingError;
use crate::rules::source::Source;
use crate::rules::CodeTables;

/// What a flag looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    WatchList,
    SelfLookup,
    UnusualVolume,
    OutsideHours,
    RefusalBurst,
    Emergency,
    RuleOverride,
}

impl FlagKind {
    pub const ALL: [FlagKind; 7] = [
        FlagKind::WatchList,
        FlagKind::SelfLookup,
        FlagKind::UnusualVolume,
        FlagKind::OutsideHours,
        FlagKind::RefusalBurst,
        FlagKind::Emergency,
        FlagKind::RuleOverride,
    ];

    /// The flag's name in the tables, the CSV and the words (`review.flag.<id>`).
    pub fn id(self) -> &'static str {
        match self {
            FlagKind::WatchList => "watch_list",
            FlagKind::SelfLookup => "self_lookup",
            FlagKind::UnusualVolume => "unusual_volume",
            FlagKind::OutsideHours => "outside_hours",
            FlagKind::RefusalBurst => "refusal_burst",
            FlagKind::Emergency => "emergency",
            FlagKind::RuleOverride => "rule_override",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlagFile {
    sample: SampleSection,
    watch_list: Toggle,
    self_lookup: Toggle,
    unusual_volume: VolumeSection,
    outside_hours: HoursSection,
    refusal_burst: BurstSection,
    emergency: EmergencySection,
    rule_override: OverrideSection,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleSection {
    size: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Toggle {
    enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VolumeSection {
    enabled: bool,
    history_days: u32,
    factor: f64,
    min_accesses: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoursSection {
    enabled: bool,
    days: Vec<String>,
    from: String,
    until: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BurstSection {
    enabled: bool,
    count: usize,
    within_minutes: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmergencySection {
    enabled: bool,
    codes: Vec<CodeRef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRef {
    system: String,
    code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideSection {
    enabled: bool,
    rules: Vec<String>,
}

/// The unusual-volume rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub history_days: u32,
    pub factor: f64,
    pub min_accesses: u64,
}

/// Working hours: the days (Monday = 0) and the minutes of the day `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    pub days: [bool; 7],
    pub from: i32,
    pub until: i32,
}

impl Hours {
    pub fn within(&self, weekday: usize, minute_of_day: i32) -> bool {
        self.days.get(weekday).copied().unwrap_or(false)
            && minute_of_day >= self.from
            && minute_of_day < self.until
    }
}

/// The refusal-burst rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Burst {
    pub count: usize,
    pub within_ms: i64,
}

/// The compiled flags table; a disabled flag is `None` / `false`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagTable {
    pub sample_size: u64,
    pub watch_list: bool,
    pub self_lookup: bool,
    pub unusual_volume: Option<Volume>,
    pub outside_hours: Option<Hours>,
    pub refusal_burst: Option<Burst>,
    /// (system, code) pairs.
    pub emergency: Option<Vec<(String, String)>>,
    /// Rule names (as `OverrideAudit::rule` holds them).
    pub rule_override: Option<Vec<String>>,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn minutes(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..=24).contains(&h) && (0..60).contains(&m) && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl FlagTable {
    pub(crate) fn compile(src: &Source<'_>, codes: &CodeTables) -> Result<Self, MappingError> {
        let f: FlagFile = src.parse()?;
        let v = &f.unusual_volume;
        if v.enabled
            && (!(v.factor > 1.0 && v.factor.is_finite())
                || v.min_accesses == 0
                || v.history_days == 0)
        {
            return Err(src.whole(
                "[unusual_volume]: factor must be above 1, min_accesses and history_days above 0",
            ));
        }
        let h = &f.outside_hours;
        let mut days = [false; 7];
        for d in &h.days {
            let i = DAYS.iter().position(|x| x == d).ok_or_else(|| {
                src.whole(format!(
                    "[outside_hours] days: {d:?} is not one of {}",
                    DAYS.join(", ")
                ))
            })?;
            if let Some(slot) = days.get_mut(i) {
                *slot = true;
            }
        }
        let (from, until) = match (minutes(&h.from), minutes(&h.until)) {
            (Some(a), Some(b)) if a < b => (a, b),
            _ => {
                return Err(src
                    .whole("[outside_hours] from and until must be HH:MM with from before until"))
            }
        };
        let b = &f.refusal_burst;
        if b.enabled && (b.count < 2 || b.within_minutes == 0) {
            return Err(
                src.whole("[refusal_burst]: count must be at least 2 and within_minutes above 0")
            );
        }
        let mut emergency = Vec::new();
        for c in &f.emergency.codes {
            if !codes.contains(&c.system, &c.code) {
                return Err(src.whole(format!(
                    "[emergency]: code {} of {} is not in the code tables (mappings/codes)",
                    c.code, c.system
                )));
            }
            emergency.push((c.system.clone(), c.code.clone()));
        }
        if f.rule_override.rules.iter().any(|r| r.trim().is_empty()) {
            return Err(src.whole("[rule_override] rules must name rules"));
        }
        Ok(Self {
            sample_size: f.sample.size,
            watch_list: f.watch_list.enabled,
            self_lookup: f.self_lookup.enabled,
            unusual_volume: v.enabled.then_some(Volume {
                history_days: v.history_days,
                factor: v.factor,
                min_accesses: v.min_accesses,
            }),
            outside_hours: h.enabled.then_some(Hours { days, from, until }),
            refusal_burst: b.enabled.then(|| Burst {
                count: b.count,
                within_ms: i64::from(b.within_minutes) * 60_000,
            }),
            emergency: f.emergency.enabled.then_some(emergency),
            rule_override: f
                .rule_override
                .enabled
                .then(|| f.rule_override.rules.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<FlagTable, MappingError> {
        FlagTable::compile(
            &Source {
                file: "flags.toml",
                text,
            },
            &CodeTables::embedded().unwrap(),
        )
    }

    const SHIPPED: &str = include_str!("../../mappings/review/flags.toml");

    #[test]
    fn the_shipped_table_compiles() {
        let t = compile(SHIPPED).unwrap();
        let h = t.outside_hours.unwrap();
        assert!(h.within(0, 7 * 60));
        assert!(!h.within(0, 17 * 60));
        assert!(!h.within(5, 12 * 60), "Saturday");
        assert_eq!(t.refusal_burst.unwrap().within_ms, 600_000);
        assert!(t
            .emergency
            .unwrap()
            .contains(&("urn:oid:2.16.840.1.113883.1.11.20448".into(), "BTG".into())));
    }

    #[test]
    fn bad_tables_are_refused_with_the_reason() {
        let e = compile(&SHIPPED.replace("code = \"BTG\"", "code = \"GLASS\"")).unwrap_err();
        assert!(e.message.contains("GLASS"), "{e}");
        let e = compile(&SHIPPED.replace("\"fri\"]", "\"friday\"]")).unwrap_err();
        assert!(e.message.contains("friday"), "{e}");
        let e = compile(&SHIPPED.replace("until = \"17:00\"", "until = \"06:00\"")).unwrap_err();
        assert!(e.message.contains("from before until"), "{e}");
        let e = compile(&SHIPPED.replace("factor = 3.0", "factor = 0.5")).unwrap_err();
        assert!(e.message.contains("factor"), "{e}");
        let e = compile(&format!("{SHIPPED}\n[colour]\nenabled = true\n")).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
    }
}
