//! The review's period: a quarter (`2026-Q4`), a month (`2026-11`), a year (`2026`) or dates
//! (`2026-10-01..2026-12-31`, both days included), as local days in the reports' time zone.

use jiff::civil::Date;
use jiff::ToSpan;

use super::zone::Zone;

/// A period of whole local days `[first, last]` and its instants `[since_ms, until_ms)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// As given.
    pub label: String,
    pub first: Date,
    pub last: Date,
    pub since_ms: i64,
    pub until_ms: i64,
}

fn date(y: i16, m: i8, d: i8) -> Option<Date> {
    Date::new(y, m, d).ok()
}

fn last_of_month(y: i16, m: i8) -> Option<Date> {
    Some(date(y, m, 1)?.last_of_month())
}

fn year(s: &str) -> Option<i16> {
    (s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn days(text: &str) -> Option<(Date, Date)> {
    if let Some((a, b)) = text.split_once("..") {
        let first: Date = a.trim().parse().ok()?;
        let last: Date = b.trim().parse().ok()?;
        return (first <= last).then_some((first, last));
    }
    if let Some((y, q)) = text.split_once("-Q") {
        let y = year(y)?;
        let q: i8 = q.parse().ok().filter(|q| (1..=4).contains(q))?;
        let first_month = (q - 1) * 3 + 1;
        return Some((date(y, first_month, 1)?, last_of_month(y, first_month + 2)?));
    }
    if let Some((y, m)) = text.split_once('-') {
        let y = year(y)?;
        let m: i8 = (m.len() == 2).then(|| m.parse().ok()).flatten()?;
        return Some((date(y, m, 1)?, last_of_month(y, m)?));
    }
    let y = year(text)?;
    Some((date(y, 1, 1)?, date(y, 12, 31)?))
}

impl Period {
    /// Parses `text`; none when it is none of the forms above.
    pub fn parse(text: &str, zone: &Zone) -> Option<Self> {
        let (first, last) = days(text.trim())?;
        let after = last.checked_add(1.day()).ok()?;
        Some(Self {
            label: text.trim().to_string(),
            first,
            last,
            since_ms: zone.start_of(first)?,
            until_ms: zone.start_of(after)?,
        })
    }

    /// The instant local midnight `days` days before the period began.
    pub fn history_since(&self, zone: &Zone, days: u32) -> Option<i64> {
        let start = self.first.checked_sub(i64::from(days).days()).ok()?;
        zone.start_of(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date as d;

    #[test]
    fn quarters_months_years_and_ranges() {
        let oslo = Zone::named("Europe/Oslo").unwrap();
        let q4 = Period::parse("2026-Q4", &oslo).unwrap();
        assert_eq!((q4.first, q4.last), (d(2026, 10, 1), d(2026, 12, 31)));
        // 1 October is summer time (UTC+2), 1 January winter time (UTC+1).
        assert_eq!(q4.since_ms, 1_790_805_600_000);
        assert_eq!(q4.until_ms, 1_798_758_000_000);
        let feb = Period::parse("2028-02", &oslo).unwrap();
        assert_eq!(feb.last, d(2028, 2, 29));
        let y = Period::parse("2026", &oslo).unwrap();
        assert_eq!(y.last, d(2026, 12, 31));
        let r = Period::parse("2026-11-02..2026-11-08", &oslo).unwrap();
        assert_eq!(r.until_ms - r.since_ms, 7 * 86_400_000);
        for bad in [
            "2026-Q5",
            "2026-13",
            "26",
            "2026-11-08..2026-11-02",
            "last week",
            "",
        ] {
            assert!(Period::parse(bad, &oslo).is_none(), "{bad}");
        }
    }
}
