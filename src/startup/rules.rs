//! `[rules]` and the rules tables → the rules stage, with the fastlege register and the registers the
//! checks ask (`[rules.hpr]`, `[rules.blocks]`).

use std::sync::Arc;

use super::StartupError;
use crate::config::{ConfigError, LoadedConfig, RegisterBackend};
use crate::mapping::{MappingError, ProfileSet};
use crate::rules::{
    BlockFile, BlockHttp, BlockHttpSettings, BlockRegister, CheckRegisters, CodeTables,
    FastlegeRegister, FileRegister, HprFile, HprHttp, HprHttpSettings, HprRegister, HttpRegister,
    NoRegister, RegisterStats, Registered, RuleDirection, RuleSet, Rules, BLOCKS, HPR,
};

fn invalid(loaded: &LoadedConfig, message: String) -> StartupError {
    ConfigError::Invalid {
        file: loaded.origin.label(),
        message,
    }
    .into()
}

/// A register file the configuration names under `key`, as text.
fn register_text(loaded: &LoadedConfig, key: &str, file: &str) -> Result<String, StartupError> {
    if file.is_empty() {
        return Err(invalid(
            loaded,
            format!("{key}.register is \"file\" but {key}.file is empty"),
        ));
    }
    let bytes = loaded.read_file(file)?;
    String::from_utf8(bytes)
        .map_err(|_| invalid(loaded, format!("{key}.file {file}: not UTF-8 text")))
}

/// A check the configuration turns on must be declared by some rules file, and run somewhere.
fn declared(
    loaded: &LoadedConfig,
    sets: &[RuleSet],
    key: &str,
    register: &str,
    directions: Option<&Vec<RuleDirection>>,
) -> Result<(), StartupError> {
    if !sets
        .iter()
        .any(|s| s.check_names().any(|(_, r)| r == register))
    {
        return Err(invalid(
            loaded,
            format!("[{key}] turns a check on, but no rules file declares a [[check]] that asks the {register} register"),
        ));
    }
    if directions.is_some_and(Vec::is_empty) {
        return Err(invalid(
            loaded,
            format!("{key}.direction names no direction"),
        ));
    }
    Ok(())
}

/// The registers of the checks the configuration turns on.
fn check_registers(
    loaded: &LoadedConfig,
    sets: &[RuleSet],
) -> Result<CheckRegisters, StartupError> {
    let c = &loaded.config.rules;
    let mut registers = CheckRegisters::default();
    if let Some(h) = &c.hpr {
        declared(loaded, sets, "rules.hpr", HPR, h.direction.as_ref())?;
        let stats = Arc::new(RegisterStats::default());
        let register: Arc<dyn HprRegister> = match h.register {
            RegisterBackend::None => {
                tracing::warn!("no HPR register is configured: the hpr-authorization check will find it unavailable and follow rules.hpr.on_unavailable");
                Arc::new(NoRegister)
            }
            RegisterBackend::File => Arc::new(HprFile::from_toml(
                &h.file,
                &register_text(loaded, "rules.hpr", &h.file)?,
            )?),
            RegisterBackend::Http => {
                let Some(http) = &h.http else {
                    return Err(invalid(
                        loaded,
                        "rules.hpr.register is \"http\" but [rules.hpr.http] is missing".into(),
                    ));
                };
                let settings = HprHttpSettings {
                    client: http.client(),
                    pointers: http.pointers.clone(),
                };
                Arc::new(
                    HprHttp::new(settings, stats.clone())
                        .map_err(|m| invalid(loaded, format!("rules.hpr.http: {m}")))?,
                )
            }
        };
        registers.hpr = Registered::new(register, stats);
    }
    if let Some(b) = &c.blocks {
        declared(loaded, sets, "rules.blocks", BLOCKS, b.direction.as_ref())?;
        let stats = Arc::new(RegisterStats::default());
        let register: Arc<dyn BlockRegister> = match b.register {
            RegisterBackend::None => {
                tracing::warn!("no access-block register is configured: the access-block check will find it unavailable and follow rules.blocks.on_unavailable");
                Arc::new(NoRegister)
            }
            RegisterBackend::File => Arc::new(BlockFile::from_toml(
                &b.file,
                &register_text(loaded, "rules.blocks", &b.file)?,
            )?),
            RegisterBackend::Http => {
                let Some(http) = &b.http else {
                    return Err(invalid(
                        loaded,
                        "rules.blocks.register is \"http\" but [rules.blocks.http] is missing"
                            .into(),
                    ));
                };
                let settings = BlockHttpSettings {
                    client: http.client(),
                    pointers: http.pointers.clone(),
                };
                Arc::new(
                    BlockHttp::new(settings, stats.clone())
                        .map_err(|m| invalid(loaded, format!("rules.blocks.http: {m}")))?,
                )
            }
        };
        registers.blocks = Registered::new(register, stats);
    }
    Ok(registers)
}

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
        RegisterBackend::File => Arc::new(FileRegister::from_toml(
            &f.file,
            &register_text(loaded, "rules.fastlege", &f.file)?,
        )?),
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
    let checks = check_registers(loaded, &sets)?;
    Ok(
        Rules::new(Arc::new(codes), sets, &c.rules.settings(), register, stats)?
            .with_check_registers(checks),
    )
}
