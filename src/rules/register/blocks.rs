//! The access-block register (sperringer): the blocks a patient has placed on access to their records, each
//! naming whom it blocks: practitioners, points of care or legal entities, or everyone except the ones it
//! names. A file backend (`samples/block-register.toml`, TEST-ONLY) and an HTTP backend (`GET <url template
//! with {patient}>`, the blocks read at configured JSON pointers).
//!
//! The register answers with the patient's blocks; whether one of them applies to this exchange is the
//! rule's decision (`rules/checks/blocks.rs`), so one cached answer serves every practitioner.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{
    check_pointer, find, malformed, text_of, Found, HttpClientSettings, Looked, Parsed,
    RegisterClient,
};
use super::file::{keyed_section, patient_key};
use super::{RegisterError, RegisterStats};
use crate::mapping::MappingError;
use crate::rules::source::Source;

/// Whom a block names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockScope {
    /// Health professionals, by HPR number or fødselsnummer.
    Practitioner,
    /// Points of care (organisation numbers).
    PointOfCare,
    /// Legal entities (organisation numbers).
    LegalEntity,
    /// Everyone except the practitioners and organisations it names.
    EveryoneExcept,
}

impl BlockScope {
    pub fn name(self) -> &'static str {
        match self {
            BlockScope::Practitioner => "practitioner",
            BlockScope::PointOfCare => "point-of-care",
            BlockScope::LegalEntity => "legal-entity",
            BlockScope::EveryoneExcept => "everyone-except",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            BlockScope::Practitioner,
            BlockScope::PointOfCare,
            BlockScope::LegalEntity,
            BlockScope::EveryoneExcept,
        ]
        .into_iter()
        .find(|b| b.name() == s)
    }
}

/// One block as the register lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The register's id of the block: it goes into the access log, never into a response or a log line.
    pub id: String,
    pub scope: BlockScope,
    /// The identifiers it names (blocked ones, or for `everyone-except` the ones let through).
    pub who: Vec<String>,
}

/// Answers "which blocks has this patient placed?".
pub trait BlockRegister: Send + Sync + std::fmt::Debug {
    /// The patient's blocks (empty when there are none). `patient` is a fødselsnummer or D-number.
    fn blocks(&self, patient: &str) -> Result<Looked<Arc<[Block]>>, RegisterError>;

    /// The backend's name in metrics (`file`, `http`, `none`).
    fn kind(&self) -> &'static str;
}

// ── file ─────────────────────────────────────────────────────────────────────────────────────────────────

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatientEntry {
    #[serde(default)]
    blocks: Vec<BlockEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockEntry {
    id: String,
    scope: String,
    who: Vec<String>,
}

const UNKNOWN_SCOPE: &str =
    "a block's scope must be practitioner, point-of-care, legal-entity or everyone-except";

fn block(id: String, scope: &str, who: Vec<String>) -> Result<Block, &'static str> {
    let scope = BlockScope::parse(scope.trim()).ok_or(UNKNOWN_SCOPE)?;
    let id = id.trim().to_string();
    if id.is_empty() {
        return Err("a block needs an id");
    }
    let who: Vec<String> = who.into_iter().map(|w| w.trim().to_string()).collect();
    if who.iter().any(String::is_empty) || (who.is_empty() && scope != BlockScope::EveryoneExcept) {
        return Err("a block names whom it blocks (who = [...]), none of them empty");
    }
    Ok(Block { id, scope, who })
}

/// A block-register extract read from a TOML file at start-up: `[patient."<fødselsnummer>"] blocks = [...]`.
#[derive(Clone, Default)]
pub struct BlockFile {
    patients: std::collections::HashMap<String, Arc<[Block]>>,
}

// The map holds identifiers of persons; Debug shows only its size so it can never reach a log.
impl std::fmt::Debug for BlockFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockFile")
            .field("patients", &self.patients.len())
            .finish()
    }
}

impl BlockFile {
    /// Parses a register file; `file` names it in error messages.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, MappingError> {
        let src = Source { file, text };
        let mut patients = std::collections::HashMap::new();
        let empty: Arc<[Block]> = Arc::new([]);
        for (patient, entry) in keyed_section::<PatientEntry>(&src, "patient", patient_key)? {
            let span = entry.span();
            let mut list = Vec::new();
            for b in entry.into_inner().blocks {
                list.push(block(b.id, &b.scope, b.who).map_err(|why| src.err(span.clone(), why))?);
            }
            patients.insert(
                patient,
                if list.is_empty() {
                    empty.clone()
                } else {
                    list.into()
                },
            );
        }
        Ok(Self { patients })
    }

    pub fn len(&self) -> usize {
        self.patients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patients.is_empty()
    }
}

impl BlockRegister for BlockFile {
    fn blocks(&self, patient: &str) -> Result<Looked<Arc<[Block]>>, RegisterError> {
        Ok(Looked {
            answer: self
                .patients
                .get(patient)
                .cloned()
                .unwrap_or_else(|| Arc::new([])),
            cached: false,
        })
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

// ── HTTP ─────────────────────────────────────────────────────────────────────────────────────────────────

/// Where the fields are in the register's JSON answer (RFC 6901 pointers). `blocks` points at the list; the
/// others are relative to one entry of it. `who` is a list of identifiers or a single one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockPointers {
    pub blocks: String,
    pub id: String,
    pub scope: String,
    pub who: String,
}

impl Default for BlockPointers {
    fn default() -> Self {
        Self {
            blocks: "/blocks".into(),
            id: "/id".into(),
            scope: "/scope".into(),
            who: "/who".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockHttpSettings {
    /// The URL template holds `{patient}`.
    pub client: HttpClientSettings,
    pub pointers: BlockPointers,
}

/// The access-block register asked over HTTP. 404, an empty answer, `null` or an empty list are "no blocks",
/// the negative answer (cached for the shorter TTL, so a new block is seen soon).
pub struct BlockHttp {
    pointers: BlockPointers,
    client: RegisterClient<Arc<[Block]>>,
}

impl std::fmt::Debug for BlockHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockHttp")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl BlockHttp {
    pub fn new(settings: BlockHttpSettings, stats: Arc<RegisterStats>) -> Result<Self, String> {
        let p = &settings.pointers;
        for (name, pointer) in [
            ("pointers.blocks", &p.blocks),
            ("pointers.id", &p.id),
            ("pointers.scope", &p.scope),
            ("pointers.who", &p.who),
        ] {
            check_pointer(name, pointer)?;
        }
        Ok(Self {
            client: RegisterClient::new("{patient}", settings.client, stats)?,
            pointers: settings.pointers,
        })
    }

    fn one(&self, entry: &Value) -> Result<Block, RegisterError> {
        let text = |pointer: &str| match find(entry, pointer) {
            Found::Value(v) => text_of(v),
            _ => None,
        };
        let id = text(&self.pointers.id).ok_or_else(|| malformed("a block has no id"))?;
        let scope = text(&self.pointers.scope).ok_or_else(|| malformed("a block has no scope"))?;
        let who = match find(entry, &self.pointers.who) {
            Found::Missing | Found::Null => Vec::new(),
            Found::Value(Value::Array(list)) => list
                .iter()
                .map(|v| text_of(v).ok_or_else(|| malformed("a block names a non-text identifier")))
                .collect::<Result<_, _>>()?,
            Found::Value(v) => {
                vec![text_of(v).ok_or_else(|| malformed("a block names a non-text identifier"))?]
            }
        };
        // An unknown scope is a register the gateway cannot read: unavailable, never "no block".
        block(id, &scope, who).map_err(malformed)
    }

    fn parse(&self, json: Option<&Value>) -> Result<Parsed<Arc<[Block]>>, RegisterError> {
        let none = || Parsed {
            value: Arc::from(Vec::new()),
            negative: true,
        };
        let Some(json) = json else { return Ok(none()) };
        let entries = match find(json, &self.pointers.blocks) {
            Found::Null => return Ok(none()),
            Found::Value(Value::Array(list)) => list,
            Found::Value(_) => return Err(malformed("the blocks are not a list")),
            Found::Missing => {
                return Err(malformed(
                    "the answer has nothing at the configured pointer",
                ))
            }
        };
        if entries.is_empty() {
            return Ok(none());
        }
        let list = entries
            .iter()
            .map(|e| self.one(e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Parsed {
            value: list.into(),
            negative: false,
        })
    }
}

impl BlockRegister for BlockHttp {
    fn blocks(&self, patient: &str) -> Result<Looked<Arc<[Block]>>, RegisterError> {
        self.client.lookup(patient, |json| self.parse(json))
    }

    fn kind(&self) -> &'static str {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sample_register() {
        let text = include_str!("../../../samples/block-register.toml");
        let r = BlockFile::from_toml("samples/block-register.toml", text).unwrap();
        assert!(!r.is_empty());
        assert!(r.blocks("00000000000").unwrap().answer.is_empty());
        assert!(!format!("{r:?}").contains("SPERRE"));
        assert!(!format!("{r:?}").contains("19916210070"));
    }

    #[test]
    fn bad_entries_name_the_line() {
        let err = BlockFile::from_toml(
            "b.toml",
            "[patient.\"21868534521\"]\nblocks = [{ id = \"b1\", scope = \"family\", who = [\"1\"] }]\n",
        )
        .unwrap_err();
        assert!(err.message.contains("scope"), "{err}");
        let err =
            BlockFile::from_toml("b.toml", "[patient.\"2186853452\"]\nblocks = []\n").unwrap_err();
        assert!(err.message.contains("11-digit"), "{err}");
        let err = BlockFile::from_toml(
            "b.toml",
            "[patient.\"21868534521\"]\nblocks = [{ id = \"b1\", scope = \"practitioner\", who = [] }]\n",
        )
        .unwrap_err();
        assert!(err.message.contains("whom"), "{err}");
    }
}
