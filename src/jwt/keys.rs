//! The keys of trusted JWT issuers: from a JWKS file or a JWKS URL (fetched with timeouts, cached, refreshed
//! on an unknown `kid` at most once per interval). Every key is bound to exactly one algorithm; HMAC keys are
//! never accepted, so a public key can never be used as a MAC secret.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
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

/// Binds each JWK to an algorithm, or leaves it out (with the reason) when that cannot be done safely.
pub fn bind_keys(set: &JwkSet, allowed: &[Algorithm]) -> (Vec<BoundKey>, Vec<String>) {
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for jwk in &set.keys {
        let label = jwk
            .common
            .key_id
            .clone()
            .unwrap_or_else(|| "(no kid)".to_string());
        match bind_one(jwk, allowed) {
            Ok(k) => keys.push(k),
            Err(why) => skipped.push(format!("key {label}: {why}")),
        }
    }
    (keys, skipped)
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
    if let AlgorithmParameters::RSA(p) = &jwk.algorithm {
        use base64::Engine;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p.n.trim_end_matches('='))
            .map_err(|_| "its modulus is not base64url")?;
        let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
        if bits < 2048 {
            return Err("its RSA modulus is shorter than 2048 bits".into());
        }
    }
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
        let (keys, skipped) = bind_keys(&set, &self.allowed);
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
