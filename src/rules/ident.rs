//! Well-formedness of Norwegian identifiers: fødselsnummer and D-number (date and both mod-11 check digits),
//! organisation number (mod-11), HPR number and RESH id (form only: neither carries a published check digit).
//!
//! Every problem is a fixed phrase that describes what is wrong and never repeats the identifier, because
//! these messages reach error responses and ordinary logs.

use std::fmt;

/// Which check an identifier gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    /// A fødselsnummer or a D-number, whichever it is (`nin`).
    Nin,
    /// Fødselsnummer (urn:oid:2.16.578.1.12.4.1.4.1).
    Fnr,
    /// D-number (urn:oid:2.16.578.1.12.4.1.4.2): a fødselsnummer whose day has 4 added to its first digit.
    Dnr,
    /// HPR number (urn:oid:2.16.578.1.12.4.1.4.4).
    Hpr,
    /// Enhetsregisteret organisation number (urn:oid:2.16.578.1.12.4.1.4.101).
    Orgnr,
    /// RESH id of a health-trust unit (urn:oid:2.16.578.1.12.4.1.4.102).
    Resh,
}

impl IdKind {
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Nin => "nin",
            IdKind::Fnr => "fnr",
            IdKind::Dnr => "dnr",
            IdKind::Hpr => "hpr",
            IdKind::Orgnr => "orgnr",
            IdKind::Resh => "resh",
        }
    }

    pub fn parse(name: &str) -> Option<IdKind> {
        Some(match name {
            "nin" => IdKind::Nin,
            "fnr" => IdKind::Fnr,
            "dnr" => IdKind::Dnr,
            "hpr" => IdKind::Hpr,
            "orgnr" => IdKind::Orgnr,
            "resh" => IdKind::Resh,
            _ => return None,
        })
    }

    /// Whether an identifier whose system says `specific` satisfies a rule asking for `self`.
    pub fn accepts(self, specific: IdKind) -> bool {
        self == specific || (self == IdKind::Nin && matches!(specific, IdKind::Fnr | IdKind::Dnr))
    }

    pub const ALL: [IdKind; 6] = [
        IdKind::Nin,
        IdKind::Fnr,
        IdKind::Dnr,
        IdKind::Hpr,
        IdKind::Orgnr,
        IdKind::Resh,
    ];
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fødselsnummer or D-number that passed every check: both check digits, a real date, a century.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Nin {
    digits: String,
    d_number: bool,
}

impl Nin {
    /// `synthetic` accepts synthetic test numbers (month + 80, + 40 or + 60; see `synthetic_month_offset`).
    pub fn parse(id: &str, synthetic: bool) -> Result<Self, &'static str> {
        let d_number = check_nin(id, synthetic, None)?;
        Ok(Self {
            digits: id.to_string(),
            d_number,
        })
    }

    /// A D-number (its day has 4 added to its first digit) rather than a fødselsnummer.
    pub fn is_d_number(&self) -> bool {
        self.d_number
    }

    pub fn kind(&self) -> IdKind {
        if self.d_number {
            IdKind::Dnr
        } else {
            IdKind::Fnr
        }
    }

    pub fn as_str(&self) -> &str {
        &self.digits
    }
}

/// An HPR number of the right form (1 to 9 digits, no leading zero).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HprNumber(String);

impl HprNumber {
    pub fn parse(id: &str) -> Result<Self, &'static str> {
        check_serial(id)?;
        Ok(Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HprNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An Enhetsregisteret organisation number whose check digit is right.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrgNumber(String);

impl OrgNumber {
    pub fn parse(id: &str) -> Result<Self, &'static str> {
        check_orgnr(id)?;
        Ok(Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks one identifier. `synthetic` accepts synthetic test numbers (Skatteetaten's Tenor test data adds 80
/// to the month of a fødselsnummer or D-number, NAV's 40 or 60; NHN's test tokens use both).
pub fn check(kind: IdKind, id: &str, synthetic: bool) -> Result<(), &'static str> {
    match kind {
        IdKind::Nin => Nin::parse(id, synthetic).map(drop),
        IdKind::Fnr => check_nin(id, synthetic, Some(false)).map(drop),
        IdKind::Dnr => check_nin(id, synthetic, Some(true)).map(drop),
        IdKind::Orgnr => OrgNumber::parse(id).map(drop),
        IdKind::Hpr => HprNumber::parse(id).map(drop),
        IdKind::Resh => check_serial(id),
    }
}

fn digits<const N: usize>(id: &str) -> Option<[u32; N]> {
    let bytes = id.as_bytes();
    if bytes.len() != N || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut out = [0u32; N];
    for (slot, b) in out.iter_mut().zip(bytes) {
        *slot = u32::from(b - b'0');
    }
    Some(out)
}

/// The mod-11 check digit for `digits` under `weights`, or `None` when the remainder leaves no valid digit
/// (such numbers are never issued).
fn mod11(digits: &[u32], weights: &[u32]) -> Option<u32> {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        k => Some(k),
    }
}

const NIN_K1: [u32; 9] = [3, 7, 6, 1, 8, 9, 4, 5, 2];
const NIN_K2: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
const ORG_WEIGHTS: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

/// `want_dnr`: `Some(true)` requires a D-number, `Some(false)` a fødselsnummer, `None` either. Says
/// whether it is a D-number.
fn check_nin(id: &str, synthetic: bool, want_dnr: Option<bool>) -> Result<bool, &'static str> {
    let d = digits::<11>(id).ok_or("it is not 11 digits")?;
    if mod11(&d[..9], &NIN_K1) != Some(d[9]) {
        return Err("the first check digit is wrong");
    }
    if mod11(&d[..10], &NIN_K2) != Some(d[10]) {
        return Err("the second check digit is wrong");
    }
    let mut day = d[0] * 10 + d[1];
    let mut month = d[2] * 10 + d[3];
    let year = d[4] * 10 + d[5];
    let individual = d[6] * 100 + d[7] * 10 + d[8];

    let is_dnr = day > 40;
    match want_dnr {
        Some(true) if !is_dnr => {
            return Err("it is not a D-number (its day does not start with 4 to 7), but its system says D-number")
        }
        Some(false) if is_dnr => {
            return Err("it is a D-number, but its system says fødselsnummer")
        }
        _ => {}
    }
    if is_dnr {
        day -= 40;
    }
    if let Some(offset) = synthetic_month_offset(month) {
        if !synthetic {
            return Err(match offset {
                80 => "it is a synthetic test number (month + 80), which this deployment does not accept",
                _ => "it is a synthetic test number (month + 40 or + 60) or an H-number, which this deployment does not accept",
            });
        }
        month -= offset;
    }
    if !(1..=12).contains(&month) {
        return Err("the month is not a valid month");
    }
    let Some(full_year) = century(individual, year).map(|c| c + year) else {
        return Err("its individual number and year fit no century");
    };
    if day == 0 || day > days_in_month(month, full_year) {
        return Err("the day is not a valid day of its month");
    }
    Ok(is_dnr)
}

/// What synthetic test data adds to the month: Skatteetaten's Tenor adds 80 (81–92); NAV's test-data
/// generator (Dolly) adds 40 (41–52), and 60 (61–72) to the NAV person ids (NPID, month + 20) it makes
/// synthetic. NHN's test tokens carry both kinds (their patient 29698496140 has month 69). Month + 40 is
/// also the H-number's mark, which no outside party can tell apart: acceptable only where synthetic numbers
/// are (test deployments).
fn synthetic_month_offset(month: u32) -> Option<u32> {
    match month {
        81..=92 => Some(80),
        61..=72 => Some(60),
        41..=52 => Some(40),
        _ => None,
    }
}

/// The century a fødselsnummer's individual number assigns to its two-digit year (Skatteetaten's ranges).
fn century(individual: u32, year: u32) -> Option<u32> {
    match individual {
        0..=499 => Some(1900),
        500..=749 if year >= 54 => Some(1800),
        500..=999 if year <= 39 => Some(2000),
        900..=999 if year >= 40 => Some(1900),
        _ => None,
    }
}

fn days_in_month(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn check_orgnr(id: &str) -> Result<(), &'static str> {
    let d = digits::<9>(id).ok_or("it is not 9 digits")?;
    if mod11(&d[..8], &ORG_WEIGHTS) != Some(d[8]) {
        return Err("the check digit is wrong");
    }
    Ok(())
}

/// HPR numbers and RESH ids are serial numbers without a published check digit: 1 to 9 digits, no leading 0.
fn check_serial(id: &str) -> Result<(), &'static str> {
    let b = id.as_bytes();
    if b.is_empty() || b.len() > 9 || !b.iter().all(u8::is_ascii_digit) {
        return Err("it is not 1 to 9 digits");
    }
    if b.first() == Some(&b'0') {
        return Err("it starts with 0");
    }
    Ok(())
}

/// The identifier a condition needs, or why it cannot be used (no identifier, or one of another system:
/// HelseNorge's tokens carry the fødselsnummer in provider-identifier when there is no HPR number).
pub(super) fn identifier(
    ctx: &crate::model::AccessContext,
    field: crate::model::FieldId,
    systems: &[String],
) -> Result<crate::model::Identifier, String> {
    use crate::model::FieldValue;
    let Some(id) = ctx.field_values(field).into_iter().find_map(|v| match v {
        FieldValue::Identifier(i) if !i.id.trim().is_empty() => Some(i),
        _ => None,
    }) else {
        return Err(format!("{field} is absent"));
    };
    match &id.system {
        Some(s) if !systems.is_empty() && !systems.iter().any(|x| x == s) => Err(format!(
            "{field} is of another identifier system than the rule asks for"
        )),
        _ => Ok(id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_and_corpus_numbers_pass() {
        // Ordinary fødselsnumre (from the trust framework's and the data model's examples).
        for n in ["03128734502", "14035234595", "04056600324", "12119000465"] {
            assert_eq!(check(IdKind::Fnr, n, false), Ok(()), "{n}");
        }
        // Tenor synthetic numbers (month + 80): samples and NHN test tokens.
        for n in ["12837034688", "21868534521", "06828399789", "17855599120"] {
            assert_eq!(check(IdKind::Fnr, n, true), Ok(()), "{n}");
            assert_eq!(
                check(IdKind::Fnr, n, false),
                Err("it is a synthetic test number (month + 80), which this deployment does not accept")
            );
        }
        // NAV's synthetic numbers (Dolly: month + 40, and + 60 for its person ids), as in NHN's test tokens:
        // accepted with synthetic numbers on, refused without, like Tenor's.
        let dolly = with_checks("034387", 345);
        for n in ["29698496140", dolly.as_str()] {
            assert_eq!(check(IdKind::Fnr, n, true), Ok(()), "{n}");
            assert_eq!(check(IdKind::Nin, n, true), Ok(()), "{n}");
            assert!(check(IdKind::Fnr, n, false)
                .unwrap_err()
                .starts_with("it is a synthetic test number"));
        }
        for n in [
            "100100673",
            "993467049",
            "874716782",
            "910000012",
            "981275721",
        ] {
            assert_eq!(check(IdKind::Orgnr, n, false), Ok(()), "{n}");
        }
        for n in ["565501872", "9144900", "7123456"] {
            assert_eq!(check(IdKind::Hpr, n, false), Ok(()), "{n}");
        }
        assert_eq!(check(IdKind::Resh, "705592", false), Ok(()));
    }

    /// A number with valid check digits for a six-digit date, with the first individual number from `from`
    /// (upwards) for which both check digits exist.
    fn with_checks(date: &str, from: u32) -> String {
        (from..from + 50)
            .find_map(|individual| {
                let first9 = format!("{date}{individual:03}");
                let d: Vec<u32> = first9.bytes().map(|b| u32::from(b - b'0')).collect();
                let k1 = mod11(&d, &NIN_K1)?;
                let mut d10 = d.clone();
                d10.push(k1);
                let k2 = mod11(&d10, &NIN_K2)?;
                Some(format!("{first9}{k1}{k2}"))
            })
            .unwrap()
    }

    #[test]
    fn check_digits_are_checked_one_by_one() {
        let good = "03128734502";
        assert_eq!(
            check(IdKind::Nin, "03128734512", false),
            Err("the first check digit is wrong")
        );
        assert_eq!(
            check(IdKind::Nin, "03128734503", false),
            Err("the second check digit is wrong")
        );
        assert_eq!(check(IdKind::Nin, good, false), Ok(()));
        assert_eq!(
            check(IdKind::Nin, "0312873450", false),
            Err("it is not 11 digits")
        );
        assert_eq!(
            check(IdKind::Nin, "0312873450a", false),
            Err("it is not 11 digits")
        );
    }

    #[test]
    fn d_numbers_add_four_to_the_day() {
        let dnr = with_checks("431287", 345); // 3 December 1987 as a D-number
        assert_eq!(check(IdKind::Dnr, &dnr, false), Ok(()));
        assert_eq!(check(IdKind::Nin, &dnr, false), Ok(()));
        assert_eq!(
            check(IdKind::Fnr, &dnr, false),
            Err("it is a D-number, but its system says fødselsnummer")
        );
        assert!(check(IdKind::Dnr, "03128734502", false).is_err());
        let synthetic_dnr = with_checks("439287", 345);
        assert_eq!(check(IdKind::Dnr, &synthetic_dnr, true), Ok(()));
    }

    #[test]
    fn dates_must_exist() {
        assert_eq!(
            check(IdKind::Nin, &with_checks("311187", 345), false),
            Err("the day is not a valid day of its month")
        );
        assert_eq!(
            check(IdKind::Nin, &with_checks("031387", 345), false),
            Err("the month is not a valid month")
        );
        // H-numbers (month + 40) are not accepted as fødselsnumre.
        assert_eq!(
            check(IdKind::Nin, &with_checks("035287", 345), false),
            Err("it is a synthetic test number (month + 40 or + 60) or an H-number, which this deployment does not accept")
        );
        // Neither is a month that no scheme gives.
        for month in ["13", "20", "33", "53", "60", "73", "80", "93"] {
            assert_eq!(
                check(
                    IdKind::Nin,
                    &with_checks(&format!("03{month}87"), 345),
                    true
                ),
                Err("the month is not a valid month"),
                "{month}"
            );
        }
        // 29 February exists in 2000 (individual 500-999, year 00) but not in 1900 (individual 000-499).
        assert_eq!(
            check(IdKind::Nin, &with_checks("290200", 512), false),
            Ok(())
        );
        assert_eq!(
            check(IdKind::Nin, &with_checks("290200", 312), false),
            Err("the day is not a valid day of its month")
        );
    }

    #[test]
    fn organisation_numbers_have_one_check_digit() {
        assert_eq!(
            check(IdKind::Orgnr, "993467048", false),
            Err("the check digit is wrong")
        );
        assert_eq!(
            check(IdKind::Orgnr, "99346704", false),
            Err("it is not 9 digits")
        );
    }

    #[test]
    fn serial_numbers_are_digits_only() {
        assert_eq!(
            check(IdKind::Hpr, "", false),
            Err("it is not 1 to 9 digits")
        );
        assert_eq!(
            check(IdKind::Hpr, "1234567890", false),
            Err("it is not 1 to 9 digits")
        );
        assert_eq!(
            check(IdKind::Hpr, "12a", false),
            Err("it is not 1 to 9 digits")
        );
        assert_eq!(check(IdKind::Resh, "0123", false), Err("it starts with 0"));
        assert_eq!(IdKind::parse("nin"), Some(IdKind::Nin));
        assert!(IdKind::Nin.accepts(IdKind::Dnr));
        assert!(!IdKind::Fnr.accepts(IdKind::Dnr));
    }
}
