//! HPR (Helsepersonellregisteret): which authorizations a health professional holds, each with its category
//! (Volven 9060) and the period it is valid. A file backend (`samples/hpr-register.toml`, TEST-ONLY) and an
//! HTTP backend (`GET <url template with {hpr}>`, the authorizations read at configured JSON pointers).
//!
//! The register answers with what it lists; whether that authorizes this exchange (the category the token
//! claims, valid at the exchange's time) is the rule's decision (`rules/checks/hpr.rs`), so a cached answer
//! stays right as time passes.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::macros::{format_description, offset};
use time::{Date, OffsetDateTime};

use super::client::{
    check_pointer, find, malformed, text_of, Found, HttpClientSettings, Looked, Parsed,
    RegisterClient,
};
use super::file::keyed_section;
use super::{RegisterError, RegisterStats};
use crate::mapping::MappingError;
use crate::rules::ident::HprNumber;
use crate::rules::source::Source;

/// When an authorization holds: from `from` (inclusive) until `until` (exclusive); either may be open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validity {
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

impl Validity {
    pub fn holds_at(&self, at: OffsetDateTime) -> bool {
        self.from.is_none_or(|f| f <= at) && self.until.is_none_or(|u| at < u)
    }

    /// Reads `valid_from` and `valid_to` as a register writes them: RFC 3339 times, or dates. A date is a
    /// day in Norway, whose offset is +01:00 or +02:00; it is read so that it never lasts longer than that
    /// day: `valid_from` begins at the later of the two midnights, `valid_to` (the last valid day) ends at the
    /// earlier one.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, &'static str> {
        let from = from.map(|s| instant(s, Edge::Start)).transpose()?;
        let until = to.map(|s| instant(s, Edge::End)).transpose()?;
        if let (Some(f), Some(u)) = (from, until) {
            if u <= f {
                return Err("an authorization ends before it begins");
            }
        }
        Ok(Self { from, until })
    }
}

#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

fn instant(s: &str, edge: Edge) -> Result<OffsetDateTime, &'static str> {
    const BAD: &str = "an authorization's validity is neither an RFC 3339 time nor a date";
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let date = Date::parse(s, format_description!("[year]-[month]-[day]")).map_err(|_| BAD)?;
    match edge {
        Edge::Start => Ok(date.midnight().assume_offset(offset!(+1))),
        Edge::End => date
            .next_day()
            .map(|d| d.midnight().assume_offset(offset!(+2)))
            .ok_or(BAD),
    }
}

/// One authorization (autorisasjon or lisens) as the register lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The health-personnel category, a code of Volven 9060 (`LE`, `SP`, ...).
    pub category: String,
    pub validity: Validity,
}

/// Answers "which authorizations does this HPR number hold?".
pub trait HprRegister: Send + Sync + std::fmt::Debug {
    /// The authorizations listed for `hpr`; `None` when the register does not know the number.
    fn authorizations(
        &self,
        hpr: &HprNumber,
    ) -> Result<Looked<Option<Arc<[Authorization]>>>, RegisterError>;

    /// The backend's name in metrics (`file`, `http`, `none`).
    fn kind(&self) -> &'static str;
}

// ── file ─────────────────────────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PractitionerEntry {
    #[serde(default)]
    authorizations: Vec<AuthorizationEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizationEntry {
    category: String,
    #[serde(default)]
    valid_from: Option<String>,
    #[serde(default)]
    valid_to: Option<String>,
}

/// An HPR extract read from a TOML file at start-up: `[practitioner."<HPR number>"] authorizations = [...]`.
#[derive(Clone, Default)]
pub struct HprFile {
    practitioners: std::collections::HashMap<String, Arc<[Authorization]>>,
}

// The map holds identifiers of persons; Debug shows only its size so it can never reach a log.
impl std::fmt::Debug for HprFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HprFile")
            .field("practitioners", &self.practitioners.len())
            .finish()
    }
}

fn hpr_key(key: &str) -> Result<(), &'static str> {
    HprNumber::parse(key)
        .map(drop)
        .map_err(|_| "a practitioner key must be an HPR number (1 to 9 digits)")
}

impl HprFile {
    /// Parses a register file; `file` names it in error messages.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, MappingError> {
        let src = Source { file, text };
        let mut practitioners = std::collections::HashMap::new();
        for (hpr, entry) in keyed_section::<PractitionerEntry>(&src, "practitioner", hpr_key)? {
            let span = entry.span();
            let mut list = Vec::new();
            for a in &entry.get_ref().authorizations {
                if a.category.trim().is_empty() {
                    return Err(src.err(span, "an authorization needs a category (Volven 9060)"));
                }
                let validity = Validity::parse(a.valid_from.as_deref(), a.valid_to.as_deref())
                    .map_err(|why| src.err(span.clone(), why))?;
                list.push(Authorization {
                    category: a.category.trim().to_string(),
                    validity,
                });
            }
            practitioners.insert(hpr, list.into());
        }
        Ok(Self { practitioners })
    }

    pub fn len(&self) -> usize {
        self.practitioners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.practitioners.is_empty()
    }
}

impl HprRegister for HprFile {
    fn authorizations(
        &self,
        hpr: &HprNumber,
    ) -> Result<Looked<Option<Arc<[Authorization]>>>, RegisterError> {
        Ok(Looked {
            answer: self.practitioners.get(hpr.as_str()).cloned(),
            cached: false,
        })
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

// ── HTTP ─────────────────────────────────────────────────────────────────────────────────────────────────

/// Where the fields are in the register's JSON answer (RFC 6901 pointers). `authorizations` points at the
/// list; the others are relative to one entry of it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HprPointers {
    pub authorizations: String,
    pub category: String,
    pub valid_from: String,
    pub valid_to: String,
}

impl Default for HprPointers {
    fn default() -> Self {
        Self {
            authorizations: "/authorizations".into(),
            category: "/category".into(),
            valid_from: "/validFrom".into(),
            valid_to: "/validTo".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HprHttpSettings {
    /// The URL template holds `{hpr}`.
    pub client: HttpClientSettings,
    pub pointers: HprPointers,
}

/// HPR asked over HTTP. 404 (or an empty answer) is "number not known"; a known number with no
/// authorizations is an empty list. Both are negative answers (cached for the shorter TTL).
pub struct HprHttp {
    pointers: HprPointers,
    client: RegisterClient<Option<Arc<[Authorization]>>>,
}

impl std::fmt::Debug for HprHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HprHttp")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// A text at a pointer of one entry, if there is one (absent and `null` are the same).
fn optional_text(entry: &Value, pointer: &str) -> Result<Option<String>, RegisterError> {
    match find(entry, pointer) {
        Found::Missing | Found::Null => Ok(None),
        Found::Value(v) => text_of(v)
            .map(Some)
            .ok_or_else(|| malformed("an authorization's field is not text")),
    }
}

impl HprHttp {
    pub fn new(settings: HprHttpSettings, stats: Arc<RegisterStats>) -> Result<Self, String> {
        let p = &settings.pointers;
        for (name, pointer) in [
            ("pointers.authorizations", &p.authorizations),
            ("pointers.category", &p.category),
            ("pointers.valid_from", &p.valid_from),
            ("pointers.valid_to", &p.valid_to),
        ] {
            check_pointer(name, pointer)?;
        }
        Ok(Self {
            client: RegisterClient::new("{hpr}", settings.client, stats)?,
            pointers: settings.pointers,
        })
    }

    fn parse(
        &self,
        json: Option<&Value>,
    ) -> Result<Parsed<Option<Arc<[Authorization]>>>, RegisterError> {
        let Some(json) = json else {
            return Ok(Parsed {
                value: None,
                negative: true,
            });
        };
        let entries = match find(json, &self.pointers.authorizations) {
            Found::Null => &[][..],
            Found::Value(Value::Array(list)) => list.as_slice(),
            Found::Value(_) => return Err(malformed("the authorizations are not a list")),
            Found::Missing => {
                return Err(malformed(
                    "the answer has nothing at the configured pointer",
                ))
            }
        };
        let mut list = Vec::with_capacity(entries.len());
        for entry in entries {
            let category = optional_text(entry, &self.pointers.category)?
                .filter(|c| !c.is_empty())
                .ok_or_else(|| malformed("an authorization has no category"))?;
            let from = optional_text(entry, &self.pointers.valid_from)?;
            let to = optional_text(entry, &self.pointers.valid_to)?;
            let validity = Validity::parse(from.as_deref(), to.as_deref())
                .map_err(|_| malformed("an authorization's validity is not a time or a date"))?;
            list.push(Authorization { category, validity });
        }
        Ok(Parsed {
            negative: list.is_empty(),
            value: Some(list.into()),
        })
    }
}

impl HprRegister for HprHttp {
    fn authorizations(
        &self,
        hpr: &HprNumber,
    ) -> Result<Looked<Option<Arc<[Authorization]>>>, RegisterError> {
        self.client.lookup(hpr.as_str(), |json| self.parse(json))
    }

    fn kind(&self) -> &'static str {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_never_last_longer_than_the_day_in_norway() {
        let v = Validity::parse(Some("2020-01-01"), Some("2020-06-30")).unwrap();
        assert_eq!(v.from, Some(datetime!(2020-01-01 00:00 +1)));
        assert_eq!(v.until, Some(datetime!(2020-07-01 00:00 +2)));
        assert!(v.holds_at(datetime!(2020-06-30 21:59 UTC)));
        assert!(!v.holds_at(datetime!(2020-06-30 22:00 UTC)));
        assert!(!v.holds_at(datetime!(2019-12-31 22:30 UTC)));
        let t = Validity::parse(Some("2020-01-01T08:00:00Z"), None).unwrap();
        assert!(t.holds_at(datetime!(2030-01-01 00:00 UTC)));
        assert!(Validity::parse(Some("yesterday"), None).is_err());
        assert!(Validity::parse(Some("2020-02-01"), Some("2020-01-01")).is_err());
    }

    #[test]
    fn reads_the_sample_register() {
        let text = include_str!("../../../samples/hpr-register.toml");
        let r = HprFile::from_toml("samples/hpr-register.toml", text).unwrap();
        let fastlege = HprNumber::parse("565501872").unwrap();
        let list = r.authorizations(&fastlege).unwrap().answer.unwrap();
        assert!(list.iter().any(|a| a.category == "LE"));
        assert_eq!(
            r.authorizations(&HprNumber::parse("1").unwrap())
                .unwrap()
                .answer,
            None
        );
        assert!(!format!("{r:?}").contains("565501872"));
    }

    #[test]
    fn bad_entries_name_the_line() {
        let err = HprFile::from_toml("h.toml", "[practitioner.\"0123\"]\nauthorizations = []\n")
            .unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("h.toml", Some(1)));
        assert!(err.message.contains("HPR number"), "{err}");
        let err = HprFile::from_toml(
            "h.toml",
            "\n[practitioner.\"123\"]\nauthorizations = [{ category = \"LE\", valid_to = \"soon\" }]\n",
        )
        .unwrap_err();
        assert!(err.message.contains("validity"), "{err}");
        let err = HprFile::from_toml("h.toml", "[gp]\n").unwrap_err();
        assert!(err.message.contains("[practitioner]"), "{err}");
    }
}
