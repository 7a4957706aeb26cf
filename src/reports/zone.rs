//! Local time in the reports' time zone (`mappings/reports/settings.toml`, Europe/Oslo by default), from
//! the tz database compiled into the binary (jiff's bundled copy): `time` has no time-zone database, and
//! summer time must be right for working hours and for the times shown to a patient.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use time::OffsetDateTime;

/// A named time zone.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

/// An instant as a wall clock in the zone shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub date: Date,
    pub hour: i8,
    pub minute: i8,
    /// Monday = 0 … Sunday = 6.
    pub weekday: usize,
}

impl Local {
    /// Minutes since local midnight.
    pub fn minute_of_day(&self) -> i32 {
        i32::from(self.hour) * 60 + i32::from(self.minute)
    }
}

fn weekday_index(w: Weekday) -> usize {
    usize::try_from(w.to_monday_zero_offset()).unwrap_or(0)
}

impl Zone {
    /// The zone by its IANA name; none when the bundled database does not know it.
    pub fn named(name: &str) -> Option<Self> {
        let tz = jiff::tz::db().get(name).ok()?;
        Some(Self {
            name: name.to_string(),
            tz,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wall-clock time of an instant.
    pub fn local(&self, t: OffsetDateTime) -> Local {
        self.local_ms(millis(t))
    }

    /// The wall-clock time of milliseconds since the epoch.
    pub fn local_ms(&self, ms: i64) -> Local {
        let ts = Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let z = ts.to_zoned_datetime(self.tz.clone());
        Local {
            date: z.date(),
            hour: z.hour(),
            minute: z.minute(),
            weekday: weekday_index(z.weekday()),
        }
    }

    /// The instant (milliseconds since the epoch) local midnight of `date` begins.
    pub fn start_of(&self, date: Date) -> Option<i64> {
        let z = date.to_zoned_datetime(self.tz.clone()).ok()?;
        Some(z.timestamp().as_millisecond())
    }
}

/// Milliseconds since the epoch, as the access log's `time_ms` column holds them.
pub fn millis(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oslo_has_summer_time() {
        let oslo = Zone::named("Europe/Oslo").unwrap();
        // 12:00 UTC is 14:00 in July (CEST) and 13:00 in January (CET).
        let summer = oslo.local(time::macros::datetime!(2026-07-01 12:00 UTC));
        assert_eq!((summer.hour, summer.minute), (14, 0));
        let winter = oslo.local(time::macros::datetime!(2026-01-05 12:00 UTC));
        assert_eq!(winter.hour, 13);
        assert_eq!(winter.weekday, 0, "5 January 2026 is a Monday");
        let oct1 = oslo.start_of(jiff::civil::date(2026, 10, 1)).unwrap();
        assert_eq!(oct1, millis(time::macros::datetime!(2026-09-30 22:00 UTC)));
        assert!(Zone::named("Europe/Nowhere").is_none());
    }
}
