//! Declarative mapping between the model and each transport.
//!
//! A profile (`mappings/profiles/*.toml`) says, for each model field, which XUA attribute carries it and in
//! which value encoding, and where it sits in the JWT claims. This module loads and checks those tables and
//! runs them in both directions; it holds no knowledge of any particular profile.

mod assemble;
mod claims;
mod entry;
pub mod explain;
pub mod hl7;
mod indexed;
mod table;
mod xua;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

pub use claims::ClaimsOutput;
pub use xua::{XuaInput, XuaOutput};

use crate::model::{FieldId, FieldPart};

/// Names of code systems (HL7 `codeSystemName`), from the code tables, for encoders that write them.
pub trait SystemNames {
    fn system_name(&self, system: &str) -> Option<&str>;
}

/// A broken table: which file, which line, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for MappingError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidForm {
    Urn,
    Bare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownPolicy {
    Reject,
    Ignore,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatPolicy {
    Reject,
    Merge,
}

#[derive(Debug, Clone)]
pub struct XuaSettings {
    pub emit_legacy: bool,
    pub hl7_as_element: bool,
    pub ce_system_form: OidForm,
    pub ii_root_form: OidForm,
    pub name_format: Option<String>,
    pub unknown_attributes: UnknownPolicy,
    pub ignore: HashSet<String>,
    pub repeated_attributes: RepeatPolicy,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub rar_types: Vec<String>,
    /// The field whose value is the JWT's `sub`.
    pub subject: Option<FieldId>,
    /// The claim whose time is the assertion's AuthnInstant.
    pub authn_time_claim: Option<String>,
    /// Code systems named differently in JWT Codings: (model/XUA name, JWT name).
    pub system_aliases: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XuaSource {
    NameId,
    /// The NameID's `NameQualifier` (the domain that qualifies the name: e.g. the identifier's authority).
    NameQualifier,
    Attribute {
        name: String,
        legacy: Vec<String>,
    },
}

/// XUA value encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XuaCodec {
    Text,
    Ce,
    Ii,
    Cx,
    DecisionRef,
    Oid,
    List,
}

impl XuaCodec {
    pub fn name(self) -> &'static str {
        match self {
            XuaCodec::Text => "text",
            XuaCodec::Ce => "hl7_ce",
            XuaCodec::Ii => "hl7_ii",
            XuaCodec::Cx => "cx",
            XuaCodec::DecisionRef => "decision_ref",
            XuaCodec::Oid => "oid",
            XuaCodec::List => "list",
        }
    }
}

#[derive(Debug, Clone)]
pub struct XuaField {
    pub field: FieldId,
    pub part: FieldPart,
    pub source: XuaSource,
    pub codec: XuaCodec,
    /// Element name of an HL7 CE/II value (`Role`, `Purpose`, `id`).
    pub element: String,
    pub text_fallback: bool,
    pub separator: String,
    pub oid_form: OidForm,
    pub name_format: Option<String>,
    pub xsi_type: Option<String>,
    pub default: Option<String>,
}

/// JWT claim encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtCodec {
    String,
    Identifier,
    Coded,
    CodedArray,
    Coding,
    CodingArray,
    DecisionRef,
    SpaceList,
    StringArray,
    Bool,
    /// HL7 v2 CX as a JSON string (IHE BPPC `patient_id`).
    Cx,
}

#[derive(Debug, Clone)]
pub struct JwtField {
    pub field: FieldId,
    pub part: FieldPart,
    /// Written on encode and read on decode.
    pub claim: Option<Vec<String>>,
    /// Read on decode only.
    pub legacy: Vec<Vec<String>>,
    pub codec: JwtCodec,
}

/// A checked profile, ready to run.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub title: String,
    /// Where the table came from (file path or `embedded:...`), for messages.
    pub source: String,
    pub xua: XuaSettings,
    pub jwt: JwtSettings,
    pub xua_fields: Vec<XuaField>,
    pub jwt_fields: Vec<JwtField>,
    pub default_system: HashMap<FieldId, String>,
    pub max: HashMap<FieldId, usize>,
    /// Longest string any decoded value may hold (`[limits] max_value_chars`; the tables do not set it).
    pub max_value_chars: usize,
    /// Every attribute name the table maps or ignores, computed once for the unknown-attribute check.
    pub(crate) known_attributes: HashSet<String>,
}

impl Profile {
    /// The model of a verified assertion: the only way the pipeline decodes XUA.
    pub fn decode_assertion(
        &self,
        verified: &crate::saml::verify::Verified,
    ) -> Result<crate::model::AccessContext, crate::error::Rejection> {
        let view = verified.view();
        self.decode_xua(XuaInput {
            name_id: view.name_id.as_deref(),
            name_qualifier: view.name_id_qualifier.as_deref(),
            attributes: &view.attributes,
        })
    }

    /// The model of a verified JWT: the only way the pipeline decodes claims.
    pub fn decode_jwt(
        &self,
        verified: &crate::jwt::VerifiedJwt,
    ) -> Result<crate::model::AccessContext, crate::error::Rejection> {
        self.decode_claims(verified.claims())
    }

    /// The model of a verified JWT once per entry when it describes several where the profile reads one
    /// (several patients); the caller picks one or refuses.
    pub fn decode_jwt_each(
        &self,
        verified: &crate::jwt::VerifiedJwt,
    ) -> Result<Vec<crate::model::AccessContext>, crate::error::Rejection> {
        self.decode_claims_each(verified.claims())
    }

    /// Whether the table writes `field` into the JWT claims it issues.
    pub fn writes_jwt(&self, field: FieldId) -> bool {
        self.jwt_fields
            .iter()
            .any(|f| f.field == field && f.claim.is_some())
    }

    /// Whether the table writes `field` into the XUA assertions it issues.
    pub fn writes_xua(&self, field: FieldId) -> bool {
        self.xua_fields.iter().any(|f| f.field == field)
    }

    /// The JWT `sub` for a model: the value of the field the table names (`[jwt] subject`).
    pub fn jwt_subject(&self, ctx: &crate::model::AccessContext) -> Option<String> {
        let field = self.jwt.subject?;
        ctx.field_values(field).first().map(|v| v.key().to_string())
    }

    /// When the user authenticated, from the claim the table names (`[jwt] authn_time`).
    pub fn jwt_authn_time(
        &self,
        verified: &crate::jwt::VerifiedJwt,
    ) -> Option<time::OffsetDateTime> {
        let claim = self.jwt.authn_time_claim.as_deref()?;
        verified
            .claims()
            .get(claim)
            .and_then(serde_json::Value::as_i64)
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
    }

    /// Compiles one profile table from its text; `file` names it in error messages.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, MappingError> {
        table::compile(file, text)
    }

    /// The most values a field may hold in this profile (1 for single-valued fields).
    pub fn max_values(&self, field: FieldId) -> usize {
        if field.is_list() {
            self.max.get(&field).copied().unwrap_or(usize::MAX)
        } else {
            1
        }
    }
}

/// The profiles the gateway runs, by name, with one default.
#[derive(Debug, Clone)]
pub struct ProfileSet {
    profiles: Vec<Profile>,
    default: usize,
}

/// Tables compiled into the binary, so the gateway runs with no files beside it.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "mappings/profiles/no-pjd.toml",
        include_str!("../../mappings/profiles/no-pjd.toml"),
    ),
    (
        "mappings/profiles/ihe-iua.toml",
        include_str!("../../mappings/profiles/ihe-iua.toml"),
    ),
];

impl ProfileSet {
    /// The tables shipped in `mappings/`, as compiled into the binary.
    pub fn embedded(default: &str) -> Result<Self, MappingError> {
        let profiles = EMBEDDED
            .iter()
            .map(|(file, text)| Profile::from_toml(&format!("embedded:{file}"), text))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(profiles, default)
    }

    /// Every `*.toml` in `dir/profiles` (or `dir` itself when it has no `profiles` folder).
    pub fn load_dir(dir: &Path, default: &str) -> Result<Self, MappingError> {
        let folder = if dir.join("profiles").is_dir() {
            dir.join("profiles")
        } else {
            dir.to_path_buf()
        };
        let io_err = |message: String| MappingError {
            file: folder.display().to_string(),
            line: None,
            message,
        };
        let mut paths: Vec<_> = std::fs::read_dir(&folder)
            .map_err(|e| io_err(format!("cannot read the mapping folder: {e}")))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        paths.sort();
        let mut profiles = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| MappingError {
                file: path.display().to_string(),
                line: None,
                message: format!("cannot read: {e}"),
            })?;
            profiles.push(Profile::from_toml(&path.display().to_string(), &text)?);
        }
        Self::new(profiles, default)
    }

    fn new(profiles: Vec<Profile>, default: &str) -> Result<Self, MappingError> {
        let mut names = HashSet::new();
        for p in &profiles {
            if !names.insert(p.name.clone()) {
                return Err(MappingError {
                    file: p.source.clone(),
                    line: None,
                    message: format!("profile name {:?} is used by two tables", p.name),
                });
            }
        }
        let Some(default) = profiles.iter().position(|p| p.name == default) else {
            return Err(MappingError {
                file: "mappings".to_string(),
                line: None,
                message: format!(
                    "the default profile {default:?} is not among the loaded tables ({})",
                    profiles
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        Ok(Self { profiles, default })
    }

    /// Applies `[limits] max_value_chars` to every profile.
    pub fn set_max_value_chars(&mut self, chars: usize) {
        for p in &mut self.profiles {
            p.max_value_chars = chars;
        }
    }

    pub fn default_profile(&self) -> &Profile {
        // `new` checked that `default` indexes a loaded profile, and the set never shrinks.
        #[allow(clippy::indexing_slicing)]
        &self.profiles[self.default]
    }

    pub fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// Where a profile stands in the set, for choices resolved once at start-up.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }

    pub fn by_index(&self, index: usize) -> Option<&Profile> {
        self.profiles.get(index)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.profiles.iter().map(|p| p.name.as_str())
    }
}

/// The names of the embedded profile tables, so a test can check the list matches the folder.
pub fn embedded_profile_files() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(name, _)| *name)
}
