//! The declared tables the reports read: the words in each language (`mappings/reports/words.*.toml`), the
//! services by audience (`services.toml`), the shared settings (`settings.toml`) and the review's flags
//! (`mappings/review/flags.toml`). Compiled into the binary; a mappings folder (`[gateway] mappings`) may
//! hold its own `reports/` and `review/` tables, which then replace the embedded ones file by file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;

use super::flags::FlagTable;
use super::zone::Zone;
use crate::mapping::MappingError;
use crate::rules::source::Source;
use crate::rules::CodeTables;

const WORDS_NB: (&str, &str) = (
    "mappings/reports/words.nb.toml",
    include_str!("../../mappings/reports/words.nb.toml"),
);
const WORDS_EN: (&str, &str) = (
    "mappings/reports/words.en.toml",
    include_str!("../../mappings/reports/words.en.toml"),
);
const SERVICES: (&str, &str) = (
    "mappings/reports/services.toml",
    include_str!("../../mappings/reports/services.toml"),
);
const SETTINGS: (&str, &str) = (
    "mappings/reports/settings.toml",
    include_str!("../../mappings/reports/settings.toml"),
);
const FLAGS: (&str, &str) = (
    "mappings/review/flags.toml",
    include_str!("../../mappings/review/flags.toml"),
);

/// The report languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// Norsk bokmål.
    Nb,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Nb, Lang::En];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "nb" => Some(Lang::Nb),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Nb => "nb",
            Lang::En => "en",
        }
    }
}

/// One language's words, by dotted key (`insight.title`), with its lists and code words.
#[derive(Debug, Clone, Default)]
pub struct Words {
    text: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<String>>,
    /// system → code → word.
    codes: BTreeMap<String, BTreeMap<String, String>>,
    /// Systems whose display texts in `mappings/codes` are in this language already.
    code_tables: BTreeSet<String>,
}

impl Words {
    /// The word at `key`; every key the reports use exists in both tables (checked at load), so a missing one
    /// shows as its key rather than failing a report.
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.text.get(key).map_or(key, String::as_str)
    }

    /// The word at `key` with `{name}` placeholders filled in.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut out = self.get(key).to_string();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    /// The `n`th (0-based) entry of a list (months, weekdays).
    pub fn list_item(&self, key: &str, n: usize) -> &str {
        self.lists
            .get(key)
            .and_then(|l| l.get(n))
            .map_or("", String::as_str)
    }

    /// A code in words: this table's word, or the code table's display text when that is in this
    /// language; none when neither has it.
    pub fn code<'a>(&'a self, codes: &'a CodeTables, system: &str, code: &str) -> Option<&'a str> {
        if let Some(w) = self.codes.get(system).and_then(|c| c.get(code)) {
            return Some(w);
        }
        if self.code_tables.contains(system) {
            return codes.display(system, code);
        }
        None
    }

    /// Every word under `section.` (without the prefix), for a portal that lays the report out itself.
    pub fn section(&self, section: &str) -> BTreeMap<String, String> {
        let prefix = format!("{section}.");
        self.text
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&prefix).map(|k| (k.to_string(), v.clone())))
            .collect()
    }

    /// The keys of the words and lists (for the check that both languages have the same).
    fn keys(&self) -> BTreeSet<String> {
        self.text.keys().chain(self.lists.keys()).cloned().collect()
    }

    fn compile(src: &Source<'_>) -> Result<Self, MappingError> {
        let table: toml::Table = src.parse()?;
        let mut words = Words::default();
        for (section, value) in table {
            match (section.as_str(), value) {
                ("codes", toml::Value::Table(systems)) => {
                    for (system, codes) in systems {
                        let toml::Value::Table(codes) = codes else {
                            return Err(src.whole(format!("[codes.\"{system}\"] must be a table")));
                        };
                        let mut map = BTreeMap::new();
                        for (code, word) in codes {
                            let toml::Value::String(word) = word else {
                                return Err(src
                                    .whole(format!("codes.\"{system}\".{code} must be a string")));
                            };
                            map.insert(code, word);
                        }
                        words.codes.insert(system, map);
                    }
                }
                ("code_tables", toml::Value::Table(t)) => {
                    for (key, value) in t {
                        let list = match (key.as_str(), value) {
                            ("in_this_language", toml::Value::Array(a)) => a,
                            _ => {
                                return Err(src.whole(format!(
                                    "[code_tables] knows only in_this_language (a list), not {key}"
                                )))
                            }
                        };
                        for v in list {
                            let toml::Value::String(s) = v else {
                                return Err(src.whole("code_tables.in_this_language lists strings"));
                            };
                            words.code_tables.insert(s);
                        }
                    }
                }
                (_, toml::Value::Table(t)) => flatten(src, &section, t, &mut words)?,
                _ => return Err(src.whole(format!("{section} must be a table"))),
            }
        }
        Ok(words)
    }
}

fn flatten(
    src: &Source<'_>,
    prefix: &str,
    table: toml::Table,
    words: &mut Words,
) -> Result<(), MappingError> {
    for (key, value) in table {
        let full = format!("{prefix}.{key}");
        match value {
            toml::Value::String(s) => {
                if s.trim().is_empty() {
                    return Err(src.whole(format!("{full} must not be empty")));
                }
                words.text.insert(full, s);
            }
            toml::Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    let toml::Value::String(s) = item else {
                        return Err(src.whole(format!("{full} must list strings")));
                    };
                    list.push(s);
                }
                words.lists.insert(full, list);
            }
            toml::Value::Table(t) => flatten(src, &full, t, words)?,
            _ => return Err(src.whole(format!("{full} must be a string or a list of strings"))),
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceFile {
    service: Vec<ServiceEntry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceEntry {
    audience: String,
    nb: String,
    en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    time_zone: String,
}

/// Every table the reports need, loaded and checked.
#[derive(Debug, Clone)]
pub struct Tables {
    nb: Words,
    en: Words,
    /// audience → (nb, en).
    services: BTreeMap<String, (String, String)>,
    pub zone: Zone,
    pub flags: FlagTable,
}

/// A table's text: from `dir` when it has the file, else the embedded one.
fn text_of(
    dir: Option<&Path>,
    (embedded_name, embedded): (&str, &str),
) -> Result<(String, String), MappingError> {
    if let Some(dir) = dir {
        let relative = embedded_name.trim_start_matches("mappings/");
        let path = dir.join(relative);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| MappingError {
                file: path.display().to_string(),
                line: None,
                message: format!("cannot read: {e}"),
            })?;
            return Ok((path.display().to_string(), text));
        }
    }
    Ok((format!("embedded:{embedded_name}"), embedded.to_string()))
}

impl Tables {
    /// The embedded tables.
    pub fn embedded(codes: &CodeTables) -> Result<Self, MappingError> {
        Self::load(None, codes)
    }

    /// The tables of the mappings folder `dir` where it has them, the embedded ones elsewhere; the flags'
    /// codes are checked against `codes`.
    pub fn load(dir: Option<&Path>, codes: &CodeTables) -> Result<Self, MappingError> {
        let compile_words = |t: (&str, &str)| -> Result<Words, MappingError> {
            let (file, text) = text_of(dir, t)?;
            Words::compile(&Source {
                file: &file,
                text: &text,
            })
        };
        let nb = compile_words(WORDS_NB)?;
        let en = compile_words(WORDS_EN)?;
        let (nb_keys, en_keys) = (nb.keys(), en.keys());
        if nb_keys != en_keys {
            let only: Vec<_> = nb_keys.symmetric_difference(&en_keys).cloned().collect();
            return Err(MappingError {
                file: "mappings/reports/words.*.toml".into(),
                line: None,
                message: format!(
                    "the bokmål and English words must have the same keys; only in one: {}",
                    only.join(", ")
                ),
            });
        }
        let (file, text) = text_of(dir, SERVICES)?;
        let src = Source {
            file: &file,
            text: &text,
        };
        let parsed: ServiceFile = src.parse()?;
        let mut services = BTreeMap::new();
        for s in parsed.service {
            if services.insert(s.audience.clone(), (s.nb, s.en)).is_some() {
                return Err(src.whole(format!("audience {} is listed twice", s.audience)));
            }
        }
        let (file, text) = text_of(dir, SETTINGS)?;
        let src = Source {
            file: &file,
            text: &text,
        };
        let settings: SettingsFile = src.parse()?;
        let zone = Zone::named(&settings.time_zone)
            .ok_or_else(|| src.whole(format!("unknown time zone {:?}", settings.time_zone)))?;
        let (file, text) = text_of(dir, FLAGS)?;
        let flags = FlagTable::compile(
            &Source {
                file: &file,
                text: &text,
            },
            codes,
        )?;
        let tables = Self {
            nb,
            en,
            services,
            zone,
            flags,
        };
        for kind in super::flags::FlagKind::ALL {
            for lang in Lang::ALL {
                let key = format!("review.flag.{}", kind.id());
                if !tables.words(lang).text.contains_key(&key) {
                    return Err(MappingError {
                        file: format!("mappings/reports/words.{}.toml", lang.code()),
                        line: None,
                        message: format!("no words for the flag {}", kind.id()),
                    });
                }
            }
        }
        Ok(tables)
    }

    pub fn words(&self, lang: Lang) -> &Words {
        match lang {
            Lang::Nb => &self.nb,
            Lang::En => &self.en,
        }
    }

    /// The service an audience names, in words; none when the table does not list it.
    pub fn service(&self, lang: Lang, audience: &str) -> Option<&str> {
        self.services.get(audience).map(|(nb, en)| match lang {
            Lang::Nb => nb.as_str(),
            Lang::En => en.as_str(),
        })
    }

    /// The audiences the services table names.
    pub fn audiences(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_tables_load_with_both_languages_alike() {
        let codes = CodeTables::embedded().unwrap();
        let t = Tables::embedded(&codes).unwrap();
        assert_eq!(t.words(Lang::Nb).get("insight.who"), "Hvem");
        assert_eq!(t.words(Lang::En).get("insight.who"), "Who");
        assert_eq!(t.words(Lang::Nb).list_item("language.months", 9), "oktober");
        let r = "urn:oid:2.16.578.1.12.4.1.1.9060";
        assert_eq!(t.words(Lang::Nb).code(&codes, r, "LE"), Some("Lege"));
        assert_eq!(t.words(Lang::En).code(&codes, r, "LE"), Some("Doctor"));
        assert_eq!(
            t.words(Lang::En)
                .fill("insight.accesses_count", &[("count", "3")]),
            "3 accesses, newest first."
        );
        assert!(t.service(Lang::Nb, "nhn:dokumentdeling").is_some());
    }

    #[test]
    fn every_code_the_reports_show_has_words_in_both_languages() {
        let codes = CodeTables::embedded().unwrap();
        let t = Tables::embedded(&codes).unwrap();
        for system in codes.systems() {
            let table = codes.system(system).unwrap();
            for (code, _) in table.codes() {
                for lang in Lang::ALL {
                    assert!(
                        t.words(lang).code(&codes, system, code).is_some(),
                        "{system} {code} has no {} word",
                        lang.code()
                    );
                }
            }
        }
    }

    #[test]
    fn every_sample_audience_has_a_service_name() {
        let loaded = crate::config::LoadedConfig::embedded().unwrap();
        let codes = CodeTables::embedded().unwrap();
        let t = Tables::embedded(&codes).unwrap();
        let c = &loaded.config;
        let issued = c
            .jwt
            .audiences
            .iter()
            .chain(c.saml.signing.iter().flat_map(|s| s.audiences.iter()));
        for aud in issued {
            for lang in Lang::ALL {
                assert!(t.service(lang, aud).is_some(), "{aud}");
            }
        }
    }

    #[test]
    fn words_tables_that_differ_in_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("reports")).unwrap();
        let nb = WORDS_NB.1.replace("title = \"Loggkontroll\"", "");
        std::fs::write(dir.path().join("reports/words.nb.toml"), nb).unwrap();
        let codes = CodeTables::embedded().unwrap();
        let err = Tables::load(Some(dir.path()), &codes).unwrap_err();
        assert!(err.message.contains("review.title"), "{err}");
    }
}
