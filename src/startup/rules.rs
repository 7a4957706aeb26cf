//! `[rules]` and the rules tables → the rules stage.

use std::sync::Arc;

use super::StartupError;
use crate::config::{ConfigError, LoadedConfig, RegisterBackend};
use crate::mapping::{MappingError, ProfileSet};
use crate::rules::{
    CodeTables, FastlegeRegister, FileRegister, HttpRegister, NoRegister, RegisterStats, RuleSet,
    Rules,
};

/// The rules stage from the configuration: tables from `gateway.mappings` (or the embedded ones), the
/// register from `[rules.fastlege]`. Every problem stops start-up with the file and line.
pub(super) fn build(loaded: &LoadedConfig, profiles: &ProfileSet) -> Result<Rules, StartupError> {
    let c = &loaded.config;
    let (codes, sets) = if c.gateway.mappings.is_empty() {
        let codes = CodeTables::embedded()?;
        let sets = RuleSet::embedded(&codes)?;
        (codes, sets)
    } else {
        let dir = loaded.resolve_dir(&c.gateway.mappings);
        let codes = CodeTables::load_dir(&dir.join("codes"))?;
        let sets = RuleSet::load_dir(&dir.join("rules"), &codes)?;
        (codes, sets)
    };
    let invalid = |message: String| ConfigError::Invalid {
        file: loaded.origin.label(),
        message,
    };
    for set in &sets {
        if profiles.get(&set.profile).is_none() {
            return Err(MappingError {
                file: set.source.clone(),
                line: None,
                message: format!(
                    "these rules are for profile {:?}, which is not loaded",
                    set.profile
                ),
            }
            .into());
        }
    }
    for name in c.rules.unknown_codes.keys() {
        if profiles.get(name).is_none() {
            return Err(invalid(format!(
                "rules.unknown_codes names profile {name:?}, which is not loaded"
            ))
            .into());
        }
    }
    for name in profiles.names() {
        if !sets.iter().any(|s| s.profile == name) {
            tracing::warn!(
                profile = name,
                "no rules file for this profile: its values are not validated"
            );
        }
    }

    let stats = Arc::new(RegisterStats::default());
    let f = &c.rules.fastlege;
    let register: Arc<dyn FastlegeRegister> = match f.register {
        RegisterBackend::None => Arc::new(NoRegister),
        RegisterBackend::File => {
            if f.file.is_empty() {
                return Err(invalid(
                    "rules.fastlege.register is \"file\" but rules.fastlege.file is empty".into(),
                )
                .into());
            }
            let bytes = loaded.read_file(&f.file)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| invalid(format!("rules.fastlege.file {}: not UTF-8 text", f.file)))?;
            Arc::new(FileRegister::from_toml(&f.file, &text)?)
        }
        RegisterBackend::Http => {
            let Some(http) = &f.http else {
                return Err(invalid(
                    "rules.fastlege.register is \"http\" but [rules.fastlege.http] is missing"
                        .into(),
                )
                .into());
            };
            Arc::new(
                HttpRegister::new(http.settings(), stats.clone())
                    .map_err(|m| invalid(format!("rules.fastlege.http: {m}")))?,
            )
        }
    };
    if f.register == RegisterBackend::None && sets.iter().any(|s| s.rule_names().next().is_some()) {
        tracing::warn!(
            "no fastlege register is configured: the fastlege rule will find it unavailable and follow rules.fastlege.on_unavailable"
        );
    }
    if !f.replacement_system.is_empty()
        && !sets.iter().any(|s| s.rule_names().any(|n| n == "fastlege"))
    {
        return Err(invalid(
            "rules.fastlege.replacement_system is set, but no rules file declares a rule named fastlege".into(),
        )
        .into());
    }
    Ok(Rules::new(
        Arc::new(codes),
        sets,
        &c.rules.settings(),
        register,
        stats,
    )?)
}
