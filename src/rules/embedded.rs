//! The rules files shipped in `mappings/rules/`, compiled into the binary, and loading a folder of them.

use std::path::Path;

use super::codes::CodeTables;
use super::source;
use super::table::RuleSet;
use crate::mapping::MappingError;

/// The rules files shipped in `mappings/rules/`, compiled into the binary.
const EMBEDDED_RULES: &[(&str, &str)] = &[
    (
        "mappings/rules/no-pjd.toml",
        include_str!("../../mappings/rules/no-pjd.toml"),
    ),
    (
        "mappings/rules/ihe-iua.toml",
        include_str!("../../mappings/rules/ihe-iua.toml"),
    ),
];

/// The names of the embedded rules files, so a test can check the list matches the folder.
pub fn embedded_rule_files() -> impl Iterator<Item = &'static str> {
    EMBEDDED_RULES.iter().map(|(name, _)| *name)
}

impl RuleSet {
    /// The rules files shipped in `mappings/rules/`, as compiled into the binary.
    pub fn embedded(codes: &CodeTables) -> Result<Vec<Self>, MappingError> {
        EMBEDDED_RULES
            .iter()
            .map(|(file, text)| Self::from_toml(&format!("embedded:{file}"), text, codes))
            .collect()
    }

    /// Every `*.toml` in `dir` (a mappings folder's `rules/`).
    pub fn load_dir(dir: &Path, codes: &CodeTables) -> Result<Vec<Self>, MappingError> {
        source::read_tables(dir)?
            .into_iter()
            .map(|(file, text)| Self::from_toml(&file, &text, codes))
            .collect()
    }
}
