//! The log filter from `[logging] level` or `RUST_LOG`, read strictly: a value that is not a filter is a
//! start-up error naming it (not a silent `info`), and the dependencies that would print request or response
//! bytes at their most verbose levels are capped at `info` without being raised above what was asked (with
//! `level = "warn"`, actix-server prints no INFO lines).

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// Dependencies whose debug and trace output carries request or response bytes (tokens, identifiers).
const QUIET_DEPENDENCIES: &[&str] = &["actix_http", "actix_server", "h2", "hyper"];

fn level(word: &str) -> Option<LevelFilter> {
    word.trim().parse::<LevelFilter>().ok()
}

/// One directive: a level (`warn`), or `target=level` (`xua_gateway=debug`, `a[span]=trace`).
struct Directive<'a> {
    target: Option<&'a str>,
    level: LevelFilter,
}

fn directives(spec: &str) -> Result<Vec<Directive<'_>>, String> {
    let mut out = Vec::new();
    for raw in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let directive = match raw.rsplit_once('=') {
            Some((target, lvl)) => Directive {
                target: Some(target.trim()),
                level: level(lvl).ok_or_else(|| {
                    format!("{raw:?}: {lvl:?} is not a level (trace, debug, info, warn, error, off)")
                })?,
            },
            None => Directive {
                target: None,
                level: level(raw).ok_or_else(|| {
                    format!(
                        "{raw:?} is not a level (trace, debug, info, warn, error, off); a target needs one: {raw}=debug"
                    )
                })?,
            },
        };
        out.push(directive);
    }
    if out.is_empty() {
        return Err("the filter is empty".to_string());
    }
    EnvFilter::try_new(spec).map_err(|e| format!("{spec:?} is not a log filter: {e}"))?;
    Ok(out)
}

/// Checks a filter as `[logging] level` or `RUST_LOG` would be read.
pub fn check(spec: &str) -> Result<(), String> {
    directives(spec).map(drop)
}

fn is_quiet(target: &str) -> bool {
    QUIET_DEPENDENCIES
        .iter()
        .any(|d| target == *d || target.starts_with(&format!("{d}::")))
}

/// The filter for `configured` (the `[logging] level`), or for `rust_log` when it is set and not blank.
/// Either, when it is not a filter, is an error that names where it came from and the value.
pub fn build(configured: &str, rust_log: Option<&str>) -> Result<EnvFilter, String> {
    let (spec, source) = match rust_log.filter(|v| !v.trim().is_empty()) {
        Some(v) => (v, "RUST_LOG"),
        None => (configured, "[logging] level"),
    };
    let parsed = directives(spec).map_err(|e| format!("{source}: {e}"))?;
    // What a dependency would get without its own directive: the last bare level, else nothing.
    let default = parsed
        .iter()
        .filter(|d| d.target.is_none())
        .map(|d| d.level)
        .next_back()
        .unwrap_or(LevelFilter::OFF);
    let mut kept: Vec<String> = Vec::new();
    let mut quiet: Vec<(&str, LevelFilter)> = QUIET_DEPENDENCIES
        .iter()
        .map(|d| (*d, default.min(LevelFilter::INFO)))
        .collect();
    for d in &parsed {
        match d.target {
            Some(t) if is_quiet(t) => {
                let root = QUIET_DEPENDENCIES
                    .iter()
                    .find(|q| t == **q || t.starts_with(&format!("{q}::")));
                if let Some(slot) = quiet.iter_mut().find(|(q, _)| Some(q) == root) {
                    slot.1 = d.level.min(LevelFilter::INFO);
                }
            }
            Some(t) => kept.push(format!("{t}={}", d.level)),
            None => kept.push(d.level.to_string()),
        }
    }
    kept.extend(quiet.iter().map(|(t, l)| format!("{t}={l}")));
    let text = kept.join(",");
    EnvFilter::try_new(&text).map_err(|e| format!("{source}: {spec:?} is not a log filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_is_not_a_filter_is_an_error_naming_it() {
        for bad in ["verbose", "info,loud", "xua_gateway=chatty", "", " , "] {
            let err = build(bad, None).unwrap_err();
            assert!(err.starts_with("[logging] level"), "{err}");
        }
        let err = build("info", Some("noisy")).unwrap_err();
        assert!(
            err.starts_with("RUST_LOG") && err.contains("noisy"),
            "{err}"
        );
        for good in [
            "info",
            "WARN",
            "warn,xua_gateway=debug",
            "off",
            "xua_gateway[exchange]=trace",
        ] {
            assert!(build(good, None).is_ok(), "{good}");
            assert!(check(good).is_ok(), "{good}");
        }
        // A blank RUST_LOG is as if unset.
        assert!(build("info", Some("  ")).is_ok());
    }

    #[test]
    fn dependencies_are_capped_at_info_but_never_raised() {
        let warn = build("warn", None).unwrap().to_string();
        assert!(warn.contains("actix_server=warn"), "{warn}");
        let trace = build("trace", None).unwrap().to_string();
        assert!(trace.contains("actix_http=info"), "{trace}");
        let explicit = build("error,actix_server::worker=trace", None)
            .unwrap()
            .to_string();
        assert!(explicit.contains("actix_server=info"), "{explicit}");
        assert!(!explicit.contains("trace"), "{explicit}");
        let only_ours = build("xua_gateway=debug", None).unwrap().to_string();
        assert!(only_ours.contains("actix_server=off"), "{only_ours}");
    }
}
