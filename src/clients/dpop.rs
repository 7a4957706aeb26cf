//! DPoP proofs at the token endpoint (RFC 9449 §4.3): a JWT of type `dpop+jwt` signed with an asymmetric
//! algorithm from the allow-list by the public key in its header, for this method and this URL, fresh,
//! used once, and with the server's nonce when that is configured.

use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::nonce::NonceSource;
use crate::error::{ErrorClass, Rejection};
use crate::jwt::proof::verify_self_signed;
use crate::jwt::JwtLimits;
use crate::replay::{ReplayCache, ReplayKey};

/// A proof that verified: the sender holds the private key whose thumbprint this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key (`cnf.jkt`).
    pub thumbprint: String,
}

/// How proofs are checked; built once at start-up.
#[derive(Debug)]
pub struct DpopVerifier {
    pub algorithms: Vec<Algorithm>,
    /// How old `iat` may be; the skew is added on both sides.
    pub max_age: Duration,
    pub skew: Duration,
    pub nonce: Option<NonceSource>,
    pub limits: JwtLimits,
}

/// The `htu` comparison form (RFC 9449 §4.3, RFC 3986 §6.2.2–6.2.3 as the WHATWG URL parser applies them):
/// scheme and host in lower case, the default port dropped, dot segments resolved, an empty path as `/`,
/// query and fragment left out.
pub fn normalise_htu(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.to_string())
}

fn bad(message: impl std::fmt::Display) -> Rejection {
    Rejection::proof(format!("the DPoP proof: {message}"))
}

impl DpopVerifier {
    /// The nonce to send in `DPoP-Nonce`, when nonces are configured.
    pub fn fresh_nonce(&self, now: OffsetDateTime) -> Option<String> {
        self.nonce.as_ref().and_then(|n| n.fresh(now))
    }

    /// Verifies one proof for a request with `method` to `htu` (the token endpoint's normalised URL) and
    /// remembers its `jti` in `cache`.
    pub fn verify(
        &self,
        proof: &str,
        method: &str,
        htu: &str,
        cache: &dyn ReplayCache,
        now: OffsetDateTime,
    ) -> Result<VerifiedProof, Rejection> {
        self.verify_for(proof, method, htu, None, cache, now)
    }

    /// Verifies a proof that accompanies an access token presented with `Authorization: DPoP` (the SOAP
    /// edge, a protected resource in RFC 9449's terms): as [`Self::verify`], and its `ath` must be the
    /// token's hash (§4.2, §7.1), so a proof made for one token cannot carry another.
    pub fn verify_presented(
        &self,
        proof: &str,
        method: &str,
        htu: &str,
        access_token: &str,
        cache: &dyn ReplayCache,
        now: OffsetDateTime,
    ) -> Result<VerifiedProof, Rejection> {
        self.verify_for(proof, method, htu, Some(access_token), cache, now)
    }

    fn verify_for(
        &self,
        proof: &str,
        method: &str,
        htu: &str,
        access_token: Option<&str>,
        cache: &dyn ReplayCache,
        now: OffsetDateTime,
    ) -> Result<VerifiedProof, Rejection> {
        let jwt =
            verify_self_signed(proof, "dpop+jwt", &self.algorithms, &self.limits).map_err(|e| {
                match e.class {
                    ErrorClass::Internal | ErrorClass::Unavailable => e,
                    _ => bad(e.message),
                }
            })?;
        let claims = &jwt.claims;
        let text = |name: &str| -> Result<&str, Rejection> {
            match claims.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s),
                Some(_) => Err(bad(format!("{name} must be a non-empty string"))),
                None => Err(bad(format!("it has no {name}"))),
            }
        };
        let jti = text("jti")?;
        if jti.len() > 256 {
            return Err(bad("jti is longer than 256 characters"));
        }
        if text("htm")? != method {
            return Err(bad(format!("htm is not {method}")));
        }
        if normalise_htu(text("htu")?).as_deref() != Some(htu) {
            return Err(bad("htu is not this endpoint's URL"));
        }
        if let Some(token) = access_token {
            let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(openssl::sha::sha256(token.as_bytes()));
            if text("ath")? != expected {
                return Err(bad("ath is not the hash of the presented token"));
            }
        }
        let iat = match claims.get("iat") {
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .ok_or_else(|| bad("iat must be a whole number of seconds"))?,
            Some(_) => return Err(bad("iat must be a number")),
            None => return Err(bad("it has no iat")),
        };
        if iat > now.saturating_add(self.skew) {
            return Err(bad("it was issued in the future (iat)"));
        }
        if iat < now.saturating_sub(self.max_age).saturating_sub(self.skew) {
            return Err(bad(format!(
                "it is older than {} s (iat)",
                self.max_age.whole_seconds()
            )));
        }
        if let Some(source) = &self.nonce {
            let fresh = match claims.get("nonce") {
                Some(Value::String(n)) => source.is_current(n, now),
                _ => false,
            };
            if !fresh {
                return Err(Rejection::nonce(
                    "the DPoP proof must carry the nonce of the DPoP-Nonce header (use it and try again)",
                ));
            }
        }
        // Remembered as long as the proof could be accepted, so a replay is always caught.
        let key = ReplayKey::dpop_proof(&jwt.thumbprint, jti);
        cache
            .check_and_insert(
                &key,
                iat.saturating_add(self.max_age)
                    .saturating_add(self.skew * 2),
                now,
            )
            .map_err(|e| match e.class {
                ErrorClass::Replay => bad("it was already used (its jti)"),
                _ => e,
            })?;
        Ok(VerifiedProof {
            thumbprint: jwt.thumbprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_normalisation_follows_rfc_9449() {
        let n = |s: &str| normalise_htu(s);
        assert_eq!(
            n("HTTPS://Gateway.Example:443/token"),
            n("https://gateway.example/token")
        );
        assert_eq!(
            n("https://gateway.example/a/../token?x=1#f"),
            n("https://gateway.example/token")
        );
        assert_eq!(
            n("http://127.0.0.1:8080/token").as_deref(),
            Some("http://127.0.0.1:8080/token")
        );
        assert_ne!(
            n("https://gateway.example/token"),
            n("https://gateway.example/tokens")
        );
        assert_ne!(
            n("http://gateway.example/token"),
            n("https://gateway.example/token")
        );
        assert_eq!(n("ftp://gateway.example/token"), None);
        assert_eq!(n("not a url"), None);
    }
}
