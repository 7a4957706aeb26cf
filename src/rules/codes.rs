//! Code tables (`mappings/codes/*.toml`): which codes exist in which code system, with their display texts
//! and the system's name.
//!
//! The validator uses them to accept or refuse codes; the encoders use [`CodeTables::display`] and
//! [`CodeTables::system_name`] to fill a missing `displayName` / `text` and the HL7 `codeSystemName`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::source::{read_tables, Source};
use crate::mapping::hl7::normalize_system;
use crate::mapping::MappingError;

/// The code tables shipped in `mappings/codes/`, compiled into the binary.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "mappings/codes/20448-purpose-of-use.toml",
        include_str!("../../mappings/codes/20448-purpose-of-use.toml"),
    ),
    (
        "mappings/codes/7750-lege-forhold.toml",
        include_str!("../../mappings/codes/7750-lege-forhold.toml"),
    ),
    (
        "mappings/codes/8254-relasjon.toml",
        include_str!("../../mappings/codes/8254-relasjon.toml"),
    ),
    (
        "mappings/codes/8655-helsehjelpsomrade.toml",
        include_str!("../../mappings/codes/8655-helsehjelpsomrade.toml"),
    ),
    (
        "mappings/codes/8663-tjenestetyper-kommunal.toml",
        include_str!("../../mappings/codes/8663-tjenestetyper-kommunal.toml"),
    ),
    (
        "mappings/codes/8666-felles-tjenestetyper.toml",
        include_str!("../../mappings/codes/8666-felles-tjenestetyper.toml"),
    ),
    (
        "mappings/codes/8668-tjenestetyper-spesialist.toml",
        include_str!("../../mappings/codes/8668-tjenestetyper-spesialist.toml"),
    ),
    (
        "mappings/codes/9060-kategori-helsepersonell.toml",
        include_str!("../../mappings/codes/9060-kategori-helsepersonell.toml"),
    ),
    (
        "mappings/codes/9151-iplos-tjenester.toml",
        include_str!("../../mappings/codes/9151-iplos-tjenester.toml"),
    ),
    (
        "mappings/codes/carerelation.toml",
        include_str!("../../mappings/codes/carerelation.toml"),
    ),
    (
        "mappings/codes/iso14265-purpose-of-use.toml",
        include_str!("../../mappings/codes/iso14265-purpose-of-use.toml"),
    ),
];

/// The names of the embedded tables, so a test can check the list matches the folder.
pub fn embedded_files() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(name, _)| *name)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeFile {
    system: SystemHeader,
    codes: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemHeader {
    uri: Spanned<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    source: String,
}

/// One code system.
#[derive(Debug, Clone)]
pub struct CodeSystem {
    /// The model's form of the system (`urn:oid:...` for an OID).
    pub uri: String,
    /// The HL7 `codeSystemName`, when a source gives one.
    pub name: Option<String>,
    /// Where the codes come from.
    pub source: String,
    /// The table file, for messages.
    pub file: String,
    codes: BTreeMap<String, String>,
}

impl CodeSystem {
    pub fn display(&self, code: &str) -> Option<&str> {
        self.codes.get(code).map(String::as_str)
    }

    pub fn codes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.codes.iter().map(|(c, d)| (c.as_str(), d.as_str()))
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }
}

/// All loaded code systems, by system URI.
#[derive(Debug, Clone, Default)]
pub struct CodeTables {
    systems: HashMap<String, CodeSystem>,
}

impl CodeTables {
    /// The tables shipped in `mappings/codes/`, as compiled into the binary.
    pub fn embedded() -> Result<Self, MappingError> {
        Self::from_texts(
            EMBEDDED
                .iter()
                .map(|(file, text)| (format!("embedded:{file}"), (*text).to_string())),
        )
    }

    /// Every `*.toml` in `dir` (a mappings folder's `codes/`).
    pub fn load_dir(dir: &Path) -> Result<Self, MappingError> {
        Self::from_texts(read_tables(dir)?)
    }

    /// Compiles tables from `(file name, text)` pairs.
    pub fn from_texts(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, MappingError> {
        let mut tables = Self::default();
        for (file, text) in files {
            let system = compile(&Source {
                file: &file,
                text: &text,
            })?;
            if let Some(other) = tables.systems.get(&system.uri) {
                return Err(MappingError {
                    file,
                    line: None,
                    message: format!(
                        "code system {} is already defined by {}",
                        system.uri, other.file
                    ),
                });
            }
            tables.systems.insert(system.uri.clone(), system);
        }
        Ok(tables)
    }

    fn lookup(&self, system: &str) -> Option<&CodeSystem> {
        // The model holds systems in normalised form, so the direct lookup is the usual one; the second
        // accepts a bare OID from a caller that did not normalise.
        self.systems
            .get(system)
            .or_else(|| self.systems.get(&normalize_system(system)))
    }

    /// The code system, if a table defines it.
    pub fn system(&self, system: &str) -> Option<&CodeSystem> {
        self.lookup(system)
    }

    /// The display text of `code` in `system`.
    pub fn display(&self, system: &str, code: &str) -> Option<&str> {
        self.lookup(system)?.display(code)
    }

    /// The HL7 `codeSystemName` of `system`, when a source gives one.
    pub fn system_name(&self, system: &str) -> Option<&str> {
        self.lookup(system)?.name.as_deref()
    }

    /// Whether `code` exists in `system`.
    pub fn contains(&self, system: &str, code: &str) -> bool {
        self.display(system, code).is_some()
    }

    /// Gives every coded value without a display text the one its code table has.
    pub fn fill_display_texts(&self, ctx: &mut crate::model::AccessContext) {
        use crate::model::{FieldId, FieldKind, FieldValue};
        for field in FieldId::all()
            .iter()
            .copied()
            .filter(|f| f.kind() == FieldKind::Coded)
        {
            let mut values = ctx.field_values(field);
            let mut changed = false;
            for v in &mut values {
                if let FieldValue::Coded(c) = v {
                    if c.text.is_none() {
                        if let Some(display) =
                            c.system.as_deref().and_then(|s| self.display(s, &c.code))
                        {
                            c.text = Some(display.to_string());
                            changed = true;
                        }
                    }
                }
            }
            if changed {
                ctx.set_field_values(field, values);
            }
        }
    }

    pub fn has_system(&self, system: &str) -> bool {
        self.lookup(system).is_some()
    }

    /// The systems loaded, sorted.
    pub fn systems(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.systems.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

fn compile(src: &Source<'_>) -> Result<CodeSystem, MappingError> {
    let parsed: CodeFile = src.parse()?;
    let raw = parsed.system.uri.get_ref();
    let uri = normalize_system(raw);
    if uri.is_empty() {
        return Err(src.err(parsed.system.uri.span(), "system.uri must not be empty"));
    }
    if uri != *raw {
        return Err(src.err(
            parsed.system.uri.span(),
            format!("write the system as the model holds it: {uri:?}"),
        ));
    }
    if parsed
        .system
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        return Err(src.whole("system.name, when given, must not be empty"));
    }
    if parsed.codes.is_empty() {
        return Err(src.whole("[codes] lists no code"));
    }
    let mut codes = BTreeMap::new();
    for (code, display) in parsed.codes {
        let span = display.span();
        if code.is_empty() || code.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(src.err(
                span,
                "a code must be non-empty and hold no whitespace or control character",
            ));
        }
        let display = display.into_inner();
        if display.trim().is_empty() || display.chars().any(char::is_control) {
            return Err(src.err(
                span,
                format!("the display text of code {code:?} must be non-empty plain text"),
            ));
        }
        codes.insert(code, display);
    }
    Ok(CodeSystem {
        uri,
        name: parsed.system.name,
        source: parsed.system.source,
        file: src.file.to_string(),
        codes,
    })
}

impl crate::mapping::SystemNames for CodeTables {
    fn system_name(&self, system: &str) -> Option<&str> {
        CodeTables::system_name(self, system)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_load_and_answer() {
        let t = CodeTables::embedded().unwrap();
        let r = "urn:oid:2.16.578.1.12.4.1.1.9060";
        assert_eq!(t.display(r, "LE"), Some("Lege"));
        assert_eq!(t.system_name(r), Some("Kategori helsepersonell"));
        assert_eq!(t.system(r).unwrap().len(), 32);
        assert!(
            t.contains("2.16.578.1.12.4.1.1.9060", "SP"),
            "bare OIDs are looked up too"
        );
        assert!(!t.contains(r, "le"));
        assert!(!t.contains("urn:oid:1.2.3", "LE"));
        assert_eq!(t.system_name("urn:oid:2.16.578.1.12.4.1.1.8254"), None);
        for s in ["8655", "8663", "8666"] {
            assert!(
                t.contains(&format!("urn:oid:2.16.578.1.12.4.1.1.{s}"), "KX17"),
                "KX17 under {s}"
            );
        }
    }

    #[test]
    fn broken_tables_name_file_and_line() {
        let err = CodeTables::from_texts([(
            "x.toml".to_string(),
            "[system]\nuri = \"urn:oid:1.2.3\"\n[codes]\nA = \"\"\n".to_string(),
        )])
        .unwrap_err();
        assert_eq!(err.file, "x.toml");
        assert_eq!(err.line, Some(4));
        assert!(err.message.contains("display text"), "{err}");

        let err = CodeTables::from_texts([(
            "y.toml".to_string(),
            "[system]\nuri = \"1.2.3\"\n[codes]\nA = \"a\"\n".to_string(),
        )])
        .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("urn:oid:1.2.3"), "{err}");

        let one = "[system]\nuri = \"urn:oid:1.2.3\"\n[codes]\nA = \"a\"\n".to_string();
        let err = CodeTables::from_texts([
            ("a.toml".to_string(), one.clone()),
            ("b.toml".to_string(), one),
        ])
        .unwrap_err();
        assert!(err.message.contains("already defined by a.toml"), "{err}");

        let err = CodeTables::from_texts([(
            "z.toml".to_string(),
            "[system]\nuri = \"urn:oid:1.2.3\"\ncolour = 1\n[codes]\nA = \"a\"\n".to_string(),
        )])
        .unwrap_err();
        assert_eq!(err.line, Some(3));
    }
}
