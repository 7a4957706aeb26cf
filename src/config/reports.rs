//! `[insight]` and `[review]`: the access log's two reports (the tables they read are in `mappings/`).

use serde::Deserialize;

/// `[insight]`: the patient's insight report over HTTP (`POST /audit/insight`). The command line
/// (`xua-gateway audit insight`) needs no setting.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightConfig {
    /// Off by default. On, the endpoint answers only an authenticated client whose `[[clients]]` entry has
    /// `insight_reports = true`; every request, answered or refused, is recorded.
    #[serde(default)]
    pub enabled: bool,
}

/// `[review]`: the log control (`xua-gateway audit review`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    /// The watch list: a file of patient identifiers, one a line, relative to the configuration file
    /// (`--watch-list` overrides it). Empty: none.
    #[serde(default)]
    pub watch_list: String,
}
