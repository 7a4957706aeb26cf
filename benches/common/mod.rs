//! What the benches share.

use xua_gateway::config::{LoadedConfig, Origin};

/// The embedded configuration with replay protection off: a benchmark re-sends the same tokens on purpose,
/// and replay protection would refuse every second one.
pub fn no_replay_config() -> LoadedConfig {
    let text = include_str!("../../samples/config.toml")
        .replace("saml = true", "saml = false")
        .replace("jwt = true", "jwt = false");
    LoadedConfig::parse(&text, Origin::Embedded).expect("config")
}
