//! The keys of trusted JWT issuers: from a JWKS file or a JWKS URL (fetched with timeouts, cached, refreshed
//! on an unknown `kid` at most once per interval). Every key is bound to exactly one algorithm; HMAC keys are
//! never accepted, so a public key can never be used as a MAC secret.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
    RSAKeyParameters,
};
use jsonwebtoken::{Algorithm, DecodingKey};

/// A verification key and the one algorithm it may be used with.
#[derive(Clone)]
pub struct BoundKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for BoundKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// Binds each JWK to an algorithm, or leaves it out (with the reason, naming its `kid`) when that cannot be
/// done safely: a key meant for something else than verifying signatures (`"use": "enc"`, `key_ops` without
/// `"verify"`), or of a type or algorithm this issuer is not allowed. Real sets mix signing and encryption
/// keys (RFC 7517 §4.2), so such keys are skipped, not fatal.
///
/// A key that is broken rather than meant for something else, an RSA key with a degenerate exponent or
/// modulus, refuses the whole set: no honest issuer publishes one, so the set is corrupt or forged, and
/// the issuer's other keys are not to be trusted from it either.
pub fn bind_keys(
    set: &JwkSet,
    allowed: &[Algorithm],
) -> Result<(Vec<BoundKey>, Vec<String>), String> {
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for jwk in &set.keys {
        let label = jwk
            .common
            .key_id
            .as_deref()
            .map(|kid| format!("key {}", crate::error::shown(kid)))
            .unwrap_or_else(|| "a key without kid".to_string());
        if let AlgorithmParameters::RSA(p) = &jwk.algorithm {
            rsa_is_sound(p).map_err(|why| format!("{label}: {why}; the whole set is refused"))?;
        }
        match bind_one(jwk, allowed) {
            Ok(k) => keys.push(k),
            Err(why) => skipped.push(format!("{label}: {why}")),
        }
    }
    Ok((keys, skipped))
}

/// Whether a key is meant for verifying signatures (RFC 7517 §4.2 `use`, §4.3 `key_ops`). Absent means
/// unrestricted.
fn meant_for_verifying(jwk: &Jwk) -> Result<(), String> {
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(PublicKeyUse::Encryption) => {
            return Err("it is marked \"use\": \"enc\" (encryption), not for signatures".into())
        }
        Some(PublicKeyUse::Other(u)) => {
            return Err(format!(
                "its \"use\" is {}, not \"sig\"",
                crate::error::shown(u)
            ))
        }
    }
    if let Some(ops) = &jwk.common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return Err("its key_ops do not include \"verify\"".into());
        }
    }
    Ok(())
}

/// A big-endian unsigned integer as base64url, without leading zero bytes.
fn unsigned(b64: &str, what: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|_| format!("its {what} is not base64url"))?;
    Ok(bytes.into_iter().skip_while(|b| *b == 0).collect())
}

fn bit_length(n: &[u8]) -> usize {
    match n.first() {
        None => 0,
        Some(top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

/// An RSA public key that can verify anything at all: an odd modulus of at least 2048 bits and an odd public
/// exponent of at least 3 below it (RFC 8017 §3.1). With e = 1 "signing" is the identity, so anyone could
/// forge a signature; an even e or modulus is no RSA key.
fn rsa_is_sound(p: &RSAKeyParameters) -> Result<(), String> {
    let n = unsigned(&p.n, "modulus")?;
    let e = unsigned(&p.e, "exponent")?;
    if bit_length(&n) < 2048 {
        return Err("its RSA modulus is shorter than 2048 bits".into());
    }
    if n.last().is_none_or(|b| b % 2 == 0) {
        return Err("its RSA modulus is even".into());
    }
    let small = e.len() == 1 && e.first().is_some_and(|b| *b < 3);
    if e.is_empty() || small {
        return Err("its RSA public exponent is degenerate (below 3)".into());
    }
    if e.last().is_none_or(|b| b % 2 == 0) {
        return Err("its RSA public exponent is even".into());
    }
    if bit_length(&e) >= bit_length(&n) {
        return Err("its RSA public exponent is not smaller than its modulus".into());
    }
    Ok(())
}

fn alg_of(k: KeyAlgorithm) -> Option<Algorithm> {
    Some(match k {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

fn bind_one(jwk: &Jwk, allowed: &[Algorithm]) -> Result<BoundKey, String> {
    meant_for_verifying(jwk)?;
    let fits: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return Err("its curve is not supported".into()),
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are never trusted".into()),
        _ => return Err("its key type is not supported".into()),
    };
    let candidates: Vec<Algorithm> = match jwk.common.key_algorithm {
        Some(k) => {
            let a = alg_of(k).ok_or("its alg is not a signature algorithm")?;
            if !fits.contains(&a) {
                return Err("its alg does not fit its key type".into());
            }
            vec![a]
        }
        None => fits,
    };
    let usable: Vec<Algorithm> = candidates
        .into_iter()
        .filter(|a| allowed.contains(a))
        .collect();
    let algorithm = match usable.as_slice() {
        [one] => *one,
        [] => return Err("its algorithm is not allowed for this issuer".into()),
        _ => {
            return Err(
                "it has no alg and the issuer allows several algorithms for its type".into(),
            )
        }
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("it cannot be used: {e}"))?;
    Ok(BoundKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key,
    })
}

/// Where an issuer's keys come from.
pub enum KeySource {
    Static(Vec<BoundKey>),
    Remote(RemoteJwks),
}

pub struct RemoteJwks {
    url: String,
    allowed: Vec<Algorithm>,
    agent: ureq::Agent,
    keys: RwLock<Arc<Vec<BoundKey>>>,
    last_fetch: Mutex<Option<Instant>>,
    refresh_interval: Duration,
    max_bytes: u64,
}

impl RemoteJwks {
    pub fn new(
        url: &str,
        allowed: Vec<Algorithm>,
        timeout: Duration,
        refresh_interval: Duration,
    ) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(timeout))
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        Self {
            url: url.to_string(),
            allowed,
            agent,
            keys: RwLock::new(Arc::new(Vec::new())),
            last_fetch: Mutex::new(None),
            refresh_interval,
            max_bytes: 1 << 20,
        }
    }

    pub fn current(&self) -> Arc<Vec<BoundKey>> {
        self.keys.read().map(|k| k.clone()).unwrap_or_default()
    }

    /// The first fetch, at start-up. A failure here does not start the refresh interval, so the first
    /// request can try again.
    pub fn initial_fetch(&self) -> Result<(), String> {
        self.fetch().map(|_| ())?;
        if let Ok(mut last) = self.last_fetch.lock() {
            *last = Some(Instant::now());
        }
        Ok(())
    }

    /// Fetches the JWKS unless a fetch was tried less than `refresh_interval` ago (failed tries count too,
    /// so an unreachable issuer is not hammered). Returns whether new keys were loaded. A failed fetch keeps
    /// the previous keys.
    pub fn refresh(&self) -> Result<bool, String> {
        {
            let mut last = self
                .last_fetch
                .lock()
                .map_err(|_| "the JWKS lock is poisoned".to_string())?;
            if let Some(at) = *last {
                if at.elapsed() < self.refresh_interval {
                    return Ok(false);
                }
            }
            *last = Some(Instant::now());
        }
        self.fetch()
    }

    fn fetch(&self) -> Result<bool, String> {
        let mut response = self
            .agent
            .get(&self.url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| format!("cannot fetch the JWKS: {e}"))?;
        if response.status() != 200 {
            return Err(format!(
                "the JWKS URL answered HTTP {}",
                response.status().as_u16()
            ));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(self.max_bytes)
            .read_to_string()
            .map_err(|e| format!("cannot read the JWKS: {e}"))?;
        let set: JwkSet =
            serde_json::from_str(&body).map_err(|_| "the JWKS is not a JWK set".to_string())?;
        let (keys, skipped) = bind_keys(&set, &self.allowed)?;
        for s in skipped {
            tracing::warn!(jwks = %self.url, "ignoring a JWKS entry: {s}");
        }
        if keys.is_empty() {
            return Err("the JWKS holds no usable key".to_string());
        }
        if let Ok(mut slot) = self.keys.write() {
            *slot = Arc::new(keys);
        }
        Ok(true)
    }
}

impl KeySource {
    /// Finds the key for `kid` (or the only key for the algorithm when the token names none).
    pub fn find(&self, kid: Option<&str>, algorithm: Algorithm) -> Result<BoundKey, String> {
        match self {
            KeySource::Static(keys) => pick(keys, kid, algorithm),
            KeySource::Remote(remote) => {
                let keys = remote.current();
                match pick(&keys, kid, algorithm) {
                    Ok(k) => Ok(k),
                    Err(first) => match remote.refresh() {
                        Ok(true) => pick(&remote.current(), kid, algorithm),
                        Ok(false) => Err(first),
                        Err(fetch) => {
                            tracing::warn!(jwks = %remote.url, "JWKS refresh failed: {fetch}");
                            Err(first)
                        }
                    },
                }
            }
        }
    }
}

fn pick(keys: &[BoundKey], kid: Option<&str>, algorithm: Algorithm) -> Result<BoundKey, String> {
    let found = match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .ok_or_else(|| "the token's kid names no key of its issuer".to_string())?,
        None => {
            let mut same: Vec<&BoundKey> =
                keys.iter().filter(|k| k.algorithm == algorithm).collect();
            if same.len() != 1 {
                return Err(
                    "the token has no kid and its issuer has no single key for its algorithm"
                        .into(),
                );
            }
            same.remove(0)
        }
    };
    if found.algorithm != algorithm {
        return Err(format!(
            "the token's algorithm {algorithm:?} is not the one its key is bound to ({:?})",
            found.algorithm
        ));
    }
    Ok(found.clone())
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use serde_json::{json, Value};

    use super::*;

    fn rsa_jwk(kid: &str, e: &[u8], extra: Value) -> Value {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let mut jwk = json!({
            "kty": "RSA", "kid": kid, "alg": "RS256",
            "n": B64.encode(rsa.n().to_vec()), "e": B64.encode(e),
        });
        if let (Value::Object(j), Value::Object(x)) = (&mut jwk, extra) {
            j.extend(x);
        }
        jwk
    }

    fn set(keys: Vec<Value>) -> JwkSet {
        serde_json::from_value(json!({ "keys": keys })).unwrap()
    }

    const F4: &[u8] = &[1, 0, 1];

    #[test]
    fn keys_meant_for_encryption_are_skipped_with_their_kid() {
        let s = set(vec![
            rsa_jwk("enc-key", F4, json!({"use": "enc"})),
            rsa_jwk("wrap-only", F4, json!({"key_ops": ["wrapKey", "encrypt"]})),
            rsa_jwk("odd-use", F4, json!({"use": "tls"})),
            rsa_jwk("sig-key", F4, json!({"use": "sig"})),
            rsa_jwk("verify-key", F4, json!({"key_ops": ["verify"]})),
            rsa_jwk("plain", F4, json!({})),
        ]);
        let (keys, skipped) = bind_keys(&s, &[Algorithm::RS256]).unwrap();
        let kids: Vec<_> = keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, ["sig-key", "verify-key", "plain"]);
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(skipped[0].starts_with("key enc-key:") && skipped[0].contains("enc"));
        assert!(skipped[1].starts_with("key wrap-only:") && skipped[1].contains("verify"));
        assert!(skipped[2].starts_with("key odd-use:"));
    }

    #[test]
    fn a_degenerate_rsa_key_refuses_the_whole_set() {
        for (e, why) in [
            (&[1u8][..], "below 3"),
            (&[2u8][..], "below 3"),
            (&[0u8, 1][..], "below 3"),
            (&[1u8, 0, 0][..], "even"),
            (&[][..], "below 3"),
        ] {
            let s = set(vec![
                rsa_jwk("good", F4, json!({})),
                rsa_jwk("bad", e, json!({})),
            ]);
            let err = bind_keys(&s, &[Algorithm::RS256]).unwrap_err();
            assert!(err.contains("key bad") && err.contains(why), "{e:?}: {err}");
        }
        // An even modulus is no RSA key either.
        let mut even = rsa_jwk("even", F4, json!({}));
        let mut n = B64.decode(even["n"].as_str().unwrap()).unwrap();
        *n.last_mut().unwrap() &= 0xfe;
        even["n"] = json!(B64.encode(n));
        let err = bind_keys(&set(vec![even]), &[Algorithm::RS256]).unwrap_err();
        assert!(err.contains("modulus is even"), "{err}");
        // e = 3 and e = 65537 are sound.
        let s = set(vec![
            rsa_jwk("three", &[3], json!({})),
            rsa_jwk("f4", F4, json!({})),
        ]);
        assert_eq!(bind_keys(&s, &[Algorithm::RS256]).unwrap().0.len(), 2);
    }
}
