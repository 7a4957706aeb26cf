//! A record's fields in words of one language: codes through the words tables and the code tables, times in
//! the reports' time zone, audiences as service names, refusals by their class.

use jiff::civil::Date;
use time::OffsetDateTime;

use super::tables::{Lang, Tables, Words};
use crate::error::ErrorClass;
use crate::model::{Coded, Identifier};
use crate::rules::CodeTables;

/// Turns values into words.
#[derive(Debug, Clone, Copy)]
pub struct Describer<'a> {
    pub tables: &'a Tables,
    pub codes: &'a CodeTables,
    pub lang: Lang,
}

fn two(n: i8) -> String {
    format!("{n:02}")
}

impl<'a> Describer<'a> {
    pub fn new(tables: &'a Tables, codes: &'a CodeTables, lang: Lang) -> Self {
        Self {
            tables,
            codes,
            lang,
        }
    }

    pub fn words(&self) -> &'a Words {
        self.tables.words(self.lang)
    }

    /// A date in words.
    pub fn date(&self, d: Date) -> String {
        let month = usize::try_from(d.month() - 1).unwrap_or(0);
        self.words().fill(
            "language.date",
            &[
                ("day", &d.day().to_string()),
                ("month", self.words().list_item("language.months", month)),
                ("year", &d.year().to_string()),
            ],
        )
    }

    /// An instant as the wall clock of the reports' time zone shows it, in words.
    pub fn when(&self, t: OffsetDateTime) -> String {
        let local = self.tables.zone.local(t);
        let month = usize::try_from(local.date.month() - 1).unwrap_or(0);
        self.words().fill(
            "language.datetime",
            &[
                ("day", &local.date.day().to_string()),
                ("month", self.words().list_item("language.months", month)),
                ("year", &local.date.year().to_string()),
                ("hour", &two(local.hour)),
                ("minute", &two(local.minute)),
            ],
        )
    }

    /// A coded value in words: the words table, else the code table when it is in this language, else the
    /// text the record carries, else the code itself.
    pub fn coded(&self, c: &Coded) -> String {
        c.system
            .as_deref()
            .and_then(|s| self.words().code(self.codes, s, &c.code))
            .map(str::to_string)
            .or_else(|| c.text.clone())
            .unwrap_or_else(|| c.code.clone())
    }

    /// Whether a coded value has words of its own (not only the record's text or the code).
    pub fn has_words(&self, c: &Coded) -> bool {
        c.system
            .as_deref()
            .is_some_and(|s| self.words().code(self.codes, s, &c.code).is_some())
    }

    /// An identifier by its name (organisations, points of care): the name, else "not given".
    pub fn named(&self, i: Option<&Identifier>) -> Option<String> {
        i.map(|i| {
            i.name
                .clone()
                .unwrap_or_else(|| self.words().get("language.unknown").to_string())
        })
    }

    /// The service an audience names.
    pub fn service(&self, audience: Option<&str>) -> String {
        match audience {
            Some(a) => match self.tables.service(self.lang, a) {
                Some(s) => s.to_string(),
                None => self
                    .words()
                    .fill("insight.unknown_service", &[("audience", a)]),
            },
            None => self.words().get("language.unknown").to_string(),
        }
    }

    /// Why an attempt was refused, in a patient's words.
    pub fn refusal(&self, class: Option<ErrorClass>) -> String {
        let key = class.map_or("refusal.unknown".to_string(), |c| {
            format!("refusal.{}", c.as_str())
        });
        let w = self.words().get(&key);
        if w == key {
            self.words().get("refusal.unknown").to_string()
        } else {
            w.to_string()
        }
    }
}
