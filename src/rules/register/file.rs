//! Registers read from a TOML file at start-up: the fastlege register (`patient fødselsnummer = GP's HPR
//! number`) here, and the reader the HPR and access-block files share ([`keyed_section`]).
//!
//! For development, test events and small deployments that receive an extract of a register; a file is read
//! once, never per request.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use toml::Spanned;

use super::{FastlegeRegister, RegisterError};
use crate::mapping::MappingError;
use crate::rules::ident::HprNumber;
use crate::rules::source::Source;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterFile {
    #[serde(default)]
    gp: BTreeMap<String, Spanned<String>>,
}

#[derive(Clone, Default)]
pub struct FileRegister {
    gp: HashMap<String, HprNumber>,
}

// The map holds identifiers of persons; Debug shows only its size so it can never reach a log.
impl std::fmt::Debug for FileRegister {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRegister")
            .field("patients", &self.gp.len())
            .finish()
    }
}

impl FileRegister {
    /// Parses a register file; `file` names it in error messages.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, MappingError> {
        let src = Source { file, text };
        let parsed: RegisterFile = src.parse()?;
        let mut gp = HashMap::with_capacity(parsed.gp.len());
        for (patient, hpr) in parsed.gp {
            let span = hpr.span();
            patient_key(&patient).map_err(|why| src.err(span.clone(), why))?;
            let hpr = HprNumber::parse(hpr.get_ref())
                .map_err(|_| src.err(span, "a GP must be given by HPR number (1 to 9 digits)"))?;
            gp.insert(patient, hpr);
        }
        Ok(Self { gp })
    }

    pub fn len(&self) -> usize {
        self.gp.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gp.is_empty()
    }
}

impl FastlegeRegister for FileRegister {
    fn gp_of(&self, patient: &str) -> Result<Option<HprNumber>, RegisterError> {
        Ok(self.gp.get(patient).cloned())
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

/// A patient key: an 11-digit fødselsnummer or D-number.
pub(crate) fn patient_key(key: &str) -> Result<(), &'static str> {
    if key.len() == 11 && key.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a patient key must be an 11-digit fødselsnummer or D-number")
    }
}

/// A register file of one section of entries keyed by an identifier (`[practitioner."565501872"]`), each
/// key checked by `key_ok`. Errors name the file and the line.
pub(crate) fn keyed_section<T: DeserializeOwned>(
    src: &Source<'_>,
    section: &str,
    key_ok: fn(&str) -> Result<(), &'static str>,
) -> Result<Vec<(String, Spanned<T>)>, MappingError> {
    let parsed: BTreeMap<String, Spanned<BTreeMap<String, Spanned<T>>>> = src.parse()?;
    let mut out = Vec::new();
    for (name, entries) in parsed {
        if name != section {
            return Err(src.err(
                entries.span(),
                format!("unknown table [{name}]; this register file has [{section}] entries only"),
            ));
        }
        for (key, entry) in entries.into_inner() {
            key_ok(&key).map_err(|why| src.err(entry.span(), why))?;
            out.push((key, entry));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sample_register() {
        let text = include_str!("../../../samples/fastlege-register.toml");
        let r = FileRegister::from_toml("samples/fastlege-register.toml", text).unwrap();
        let gp = |n: &str| r.gp_of(n).unwrap().map(|h| h.to_string());
        assert_eq!(gp("21868534521").as_deref(), Some("565501872"));
        assert_ne!(gp("03128734502").as_deref(), Some("9144900"));
        assert_eq!(gp("00000000000"), None);
        assert!(!format!("{r:?}").contains("21868534521"));
    }

    #[test]
    fn bad_entries_name_the_line() {
        let err = FileRegister::from_toml("r.toml", "[gp]\n\"123\" = \"565501872\"\n").unwrap_err();
        assert_eq!((err.file.as_str(), err.line), ("r.toml", Some(2)));
        let err = FileRegister::from_toml("r.toml", "[gp]\n\"21868534521\" = \"Dr. Svendsen\"\n")
            .unwrap_err();
        assert!(err.message.contains("HPR number"), "{err}");
    }
}
