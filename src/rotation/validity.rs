//! A certificate's validity period (RFC 5280 §4.1.2.5: valid from notBefore through notAfter, both
//! inclusive), and where an instant stands in it.

use time::{Duration, OffsetDateTime};

use crate::clock::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Where `now` stands in a validity period, given how early expiry is to be announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    NotYetValid,
    Valid,
    /// Valid, but ends within the warning period.
    ExpiringSoon,
    Expired,
}

impl Standing {
    /// The name used as a metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::NotYetValid => "not_yet_valid",
            Standing::Valid => "valid",
            Standing::ExpiringSoon => "expiring",
            Standing::Expired => "expired",
        }
    }

    pub fn is_usable(self) -> bool {
        matches!(self, Standing::Valid | Standing::ExpiringSoon)
    }
}

impl Validity {
    pub fn contains(&self, now: OffsetDateTime) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    pub fn standing(&self, now: OffsetDateTime, warning: Duration) -> Standing {
        if now < self.not_before {
            Standing::NotYetValid
        } else if now > self.not_after {
            Standing::Expired
        } else if self.not_after - now <= warning {
            Standing::ExpiringSoon
        } else {
            Standing::Valid
        }
    }

    /// Time left until the period ends (negative once it has).
    pub fn remaining(&self, now: OffsetDateTime) -> Duration {
        self.not_after - now
    }

    /// Why the period does not contain `now`, for a message ("expired at …", "not valid before …").
    pub fn why_not(&self, now: OffsetDateTime) -> Option<String> {
        if now < self.not_before {
            Some(format!("is not valid before {}", rfc3339(self.not_before)))
        } else if now > self.not_after {
            Some(format!("expired at {}", rfc3339(self.not_after)))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn both_ends_of_the_period_are_inside_it() {
        let v = Validity {
            not_before: datetime!(2025-01-01 0:00 UTC),
            not_after: datetime!(2025-12-31 23:59:59 UTC),
        };
        let day = Duration::days(30);
        assert!(v.contains(v.not_before) && v.contains(v.not_after));
        assert_eq!(
            v.standing(v.not_before - Duration::seconds(1), day),
            Standing::NotYetValid
        );
        assert_eq!(
            v.standing(datetime!(2025-06-01 0:00 UTC), day),
            Standing::Valid
        );
        assert_eq!(
            v.standing(datetime!(2025-12-15 0:00 UTC), day),
            Standing::ExpiringSoon
        );
        assert_eq!(
            v.standing(v.not_after + Duration::seconds(1), day),
            Standing::Expired
        );
        assert_eq!(
            v.why_not(v.not_after + Duration::seconds(1)).unwrap(),
            "expired at 2025-12-31T23:59:59Z"
        );
        assert_eq!(v.why_not(v.not_after), None);
    }
}
