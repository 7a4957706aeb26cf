//! Reading a table file with errors that name the file and the line, like the mapping tables do: a broken
//! table must stop the gateway at start-up with a message an integrator can act on.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::mapping::MappingError;
use crate::model::{FieldId, FieldKind, FieldPart};

/// One table's text and the name used for it in messages (a path or `embedded:...`).
pub(crate) struct Source<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// An error at `span` (no line when the span is empty, i.e. the problem belongs to the whole file).
    pub fn err(&self, span: Range<usize>, message: impl Into<String>) -> MappingError {
        let line = if span.start == 0 && span.end == 0 {
            None
        } else {
            Some(
                self.text[..span.start.min(self.text.len())]
                    .matches('\n')
                    .count()
                    + 1,
            )
        };
        MappingError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    pub fn whole(&self, message: impl Into<String>) -> MappingError {
        self.err(0..0, message)
    }

    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, MappingError> {
        toml::from_str(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let mut err = self.err(span.clone(), e.message().to_string());
            if err.line.is_none() && span.start == 0 {
                err.line = Some(1);
            }
            err
        })
    }
}

/// Every `*.toml` in `dir`, sorted, with its text; a missing folder holds no tables.
pub(crate) fn read_tables(dir: &Path) -> Result<Vec<(String, String)>, MappingError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let io_err = |path: &Path, message: String| MappingError {
        file: path.display().to_string(),
        line: None,
        message,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, format!("cannot read the folder: {e}")))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            std::fs::read_to_string(&path)
                .map(|text| (path.display().to_string(), text))
                .map_err(|e| io_err(&path, format!("cannot read: {e}")))
        })
        .collect()
}

/// The model field a path in a rules file names (`practitioner.hpr_nr`, optionally with a part).
pub(super) fn field_path(
    src: &Source<'_>,
    span: std::ops::Range<usize>,
    path: &str,
) -> Result<(FieldId, FieldPart), MappingError> {
    FieldId::parse_path(path).ok_or_else(|| {
        let known: Vec<&str> = FieldId::all().iter().map(|f| f.name()).collect();
        src.err(
            span,
            format!(
                "unknown model field {path:?}; known fields are {} (optionally followed by a part such as .id or .name)",
                known.join(", ")
            ),
        )
    })
}

/// A path that must name a whole field (of `kind`, when given); `what` names the setting in messages.
pub(super) fn whole_field(
    src: &Source<'_>,
    span: std::ops::Range<usize>,
    path: &str,
    kind: Option<FieldKind>,
    what: &str,
) -> Result<FieldId, MappingError> {
    let (field, part) = field_path(src, span.clone(), path)?;
    if part != FieldPart::Whole {
        return Err(src.err(
            span,
            format!("{what} names a whole field, not a part ({path})"),
        ));
    }
    if let Some(kind) = kind {
        if field.kind() != kind {
            return Err(src.err(
                span,
                format!("{what}: {field} is not a field of kind {kind:?}"),
            ));
        }
    }
    Ok(field)
}
