//! What a configuration must satisfy beyond its types: ranges, non-empty lists, no duplicates.

use super::{ConfigError, LoadedConfig};

/// Longest clock skew the configuration may ask for: 60–180 s is the usual bound (docs/attack-checklist.md,
/// "JWT attack classes").
pub const MAX_CLOCK_SKEW_SECS: u64 = 180;

/// Longest lifetime an incoming token may be configured to have (a day): what the gateway accepts it also
/// remembers against replay, so the bound keeps that memory finite.
pub const MAX_INPUT_LIFETIME_SECS: u64 = 24 * 3600;

impl LoadedConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let c = &self.config;
        if c.gateway.entity_id.trim().is_empty() {
            return Err(self.invalid("gateway.entity_id must not be empty"));
        }
        if c.gateway.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
            return Err(self.invalid(format!(
                "gateway.clock_skew_secs is {}, more than the allowed {MAX_CLOCK_SKEW_SECS}",
                c.gateway.clock_skew_secs
            )));
        }
        if c.server.blocking_threads == 0 || c.server.blocking_threads > 512 {
            return Err(self.invalid("server.blocking_threads must be between 1 and 512"));
        }
        if c.server.max_inspections == 0
            || c.server.max_inspections >= c.server.blocking_threads.max(2)
        {
            return Err(self.invalid(
                "server.max_inspections must be at least 1 and fewer than server.blocking_threads",
            ));
        }
        if c.server.max_connections == 0
            || c.server.header_timeout_ms == 0
            || c.server.body_timeout_ms == 0
            || c.server.retry_after_secs == 0
        {
            return Err(self.invalid(
                "server.max_connections, header_timeout_ms, body_timeout_ms and retry_after_secs must be at least 1",
            ));
        }
        if c.jwt.audiences.is_empty() {
            return Err(self.invalid("jwt.audiences must name at least one audience"));
        }
        self.check_scopes("jwt.scopes", &c.jwt.audiences, &c.jwt.scopes)?;
        if c.jwt.max_lifetime_secs == 0 || c.jwt.max_lifetime_secs > 3600 {
            return Err(self.invalid("jwt.max_lifetime_secs must be between 1 and 3600"));
        }
        if c.saml.audiences.is_empty() {
            return Err(self.invalid("saml.audiences must name at least one audience"));
        }
        if c.saml.confirmation_methods.is_empty() {
            return Err(self.invalid("saml.confirmation_methods must name at least one method"));
        }
        if c.saml.max_lifetime_secs == 0 || c.saml.max_lifetime_secs > MAX_INPUT_LIFETIME_SECS {
            return Err(self.invalid(format!(
                "saml.max_lifetime_secs must be between 1 and {MAX_INPUT_LIFETIME_SECS}"
            )));
        }
        for m in &c.saml.confirmation_methods {
            if m != crate::saml::uri::CM_BEARER && m != crate::saml::uri::CM_SENDER_VOUCHES {
                return Err(self.invalid(format!(
                    "saml.confirmation_methods: {m:?} is not supported (bearer or sender-vouches)"
                )));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for t in &c.saml.trusted_issuers {
            if !seen.insert(&t.entity_id) {
                return Err(self.invalid(format!(
                    "saml.trusted_issuers names {:?} twice",
                    t.entity_id
                )));
            }
        }
        if let Some(t) = &c.jwt.trust {
            if t.audiences.is_empty() {
                return Err(self.invalid("jwt.trust.audiences must name at least one audience"));
            }
            if t.max_lifetime_secs == 0 || t.max_lifetime_secs > MAX_INPUT_LIFETIME_SECS {
                return Err(self.invalid(format!(
                    "jwt.trust.max_lifetime_secs must be between 1 and {MAX_INPUT_LIFETIME_SECS}"
                )));
            }
            if t.max_bytes.is_some() {
                return Err(self.invalid("jwt.trust.max_bytes has moved to [limits] max_jwt_bytes"));
            }
            let mut seen = std::collections::HashSet::new();
            for i in &t.issuers {
                if !seen.insert(&i.issuer) {
                    return Err(
                        self.invalid(format!("jwt.trust.issuers names {:?} twice", i.issuer))
                    );
                }
                if i.jwks_file.is_some() == i.jwks_url.is_some() {
                    return Err(self.invalid(format!(
                        "jwt.trust.issuers {:?}: give exactly one of jwks_file and jwks_url",
                        i.issuer
                    )));
                }
                if i.algorithms.is_empty() {
                    return Err(self.invalid(format!(
                        "jwt.trust.issuers {:?}: algorithms is empty",
                        i.issuer
                    )));
                }
                for a in &i.algorithms {
                    if crate::jwt::alg::accepted(a).is_none() {
                        return Err(self.invalid(format!(
                            "jwt.trust.issuers {:?}: algorithm {a:?} is not accepted (HMAC and none never are)",
                            i.issuer
                        )));
                    }
                }
            }
        }
        if let Some(s) = &c.saml.signing {
            if s.audiences.is_empty() {
                return Err(self.invalid("saml.signing.audiences must name at least one audience"));
            }
            self.check_scopes("saml.signing.scopes", &s.audiences, &s.scopes)?;
            if s.max_lifetime_secs == 0 || s.max_lifetime_secs > 8 * 3600 {
                return Err(
                    self.invalid("saml.signing.max_lifetime_secs must be between 1 and 28800")
                );
            }
        }
        if c.audit.queue_capacity == 0 || c.audit.max_batch == 0 {
            return Err(self.invalid("audit.queue_capacity and audit.max_batch must be at least 1"));
        }
        if c.audit.enqueue_timeout_ms == 0 || c.audit.commit_timeout_ms == 0 {
            return Err(self.invalid(
                "audit.enqueue_timeout_ms and audit.commit_timeout_ms must be at least 1",
            ));
        }
        let l = &c.limits;
        if l.max_body_bytes < 1024 || l.max_body_bytes > 16 * 1024 * 1024 {
            return Err(self.invalid("limits.max_body_bytes must be between 1024 and 16777216"));
        }
        if l.max_jwt_bytes < 512 || l.max_jwt_bytes > 64 * 1024 {
            return Err(self.invalid("limits.max_jwt_bytes must be between 512 and 65536"));
        }
        // A signed assertion is at least Assertion/Issuer/Signature/SignedInfo/Reference/Transforms/Transform:
        // limits below these would refuse every valid input.
        if l.max_xml_depth < 8 || l.max_xml_elements < 32 || l.max_xml_attributes_per_element < 8 {
            return Err(self.invalid(
                "limits.max_xml_depth, max_xml_elements and max_xml_attributes_per_element must be at least 8, 32 and 8",
            ));
        }
        if l.max_saml_attributes == 0 || l.max_value_chars < 64 {
            return Err(self.invalid(
                "limits.max_saml_attributes must be at least 1 and limits.max_value_chars at least 64",
            ));
        }
        crate::config::log_filter::check(&c.logging.level)
            .map_err(|e| self.invalid(format!("logging.level: {e}")))?;
        if c.replay.capacity == 0 {
            return Err(self.invalid("replay.capacity must be at least 1"));
        }
        crate::config::database::check(c).map_err(|m| self.invalid(m))?;
        self.check_tls()?;
        self.check_proxy()?;
        self.check_clients()?;
        self.check_keys()
    }

    /// Every audience a scope table names is one the section issues for, and every scope is one token.
    fn check_scopes(
        &self,
        what: &str,
        audiences: &[String],
        scopes: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Result<(), ConfigError> {
        for (audience, list) in scopes {
            if !audiences.contains(audience) {
                return Err(self.invalid(format!(
                    "{what} names {audience:?}, which is not among the audiences of that section"
                )));
            }
            let token = |s: &String| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E'))
            };
            if let Some(bad) = list.iter().find(|s| !token(s)) {
                return Err(self.invalid(format!(
                    "{what} {audience:?}: {bad:?} is not a scope token (RFC 6749 §3.3)"
                )));
            }
        }
        Ok(())
    }
}
