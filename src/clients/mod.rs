//! Who is asking: the registered clients, how each authenticates at the token endpoint, what each may
//! exchange, and the DPoP proofs a request carries.
//!
//! The HTTP layer collects what a request offers ([`Credentials`], the `DPoP` header) and asks
//! [`Callers`]; the answer travels to the pipeline in the exchange request ([`AuthenticatedClient`],
//! [`VerifiedProof`]), whose policy stages (`pipeline/policy.rs`) apply the client's [`ExchangePolicy`].
//! Start-up builds all of it from `[[clients]]` and `[dpop]`; nothing here reads configuration.

mod dpop;
mod mtls;
mod nonce;
mod policy;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;
use time::{Duration, OffsetDateTime};

pub use dpop::{normalise_htu, DpopVerifier, VerifiedProof};
pub use mtls::{thumbprint_der, CertificateMatch, PeerCertificate};
pub use nonce::NonceSource;
pub use policy::{Allowed, ExchangePolicy};

use crate::error::{ErrorClass, Rejection};
use crate::jwt::assertion::{self, AssertionPolicy};
use crate::jwt::JwtTrust;
use crate::replay::{ReplayCache, ReplayKey};

/// RFC 7523 §2.2.
pub const ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a client authenticates at `/token` (the RFC 7591 `token_endpoint_auth_method` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// RFC 7523 §2.2: a JWT signed by a key of the client's JWK set.
    PrivateKeyJwt,
    /// RFC 8705 §2.1: a certificate chaining to the configured client CAs, matched by subject DN or a SAN.
    TlsClientAuth,
    /// RFC 8705 §2.2: a certificate registered for the client, matched by its SHA-256 thumbprint.
    SelfSignedTlsClientAuth,
    /// A public client that only names itself: test events and the sample configuration.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            AuthMethod::None => "none",
        }
    }

    /// Whether the client's certificate is its authenticated identity.
    pub fn is_mutual_tls(self) -> bool {
        matches!(
            self,
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
        )
    }
}

/// One registered client.
#[derive(Debug)]
pub struct Client {
    pub id: String,
    pub method: AuthMethod,
    /// How its certificate is recognised (the mutual-TLS methods).
    pub certificate: Option<CertificateMatch>,
    /// The algorithms its client assertions may be signed with (`private_key_jwt`).
    pub assertion_algorithms: Vec<jsonwebtoken::Algorithm>,
    pub policy: ExchangePolicy,
}

/// A client whose authentication succeeded (or the configured anonymous `none` client).
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub client: Arc<Client>,
}

impl AuthenticatedClient {
    pub fn id(&self) -> &str {
        &self.client.id
    }

    pub fn policy(&self) -> &ExchangePolicy {
        &self.client.policy
    }

    pub fn method(&self) -> AuthMethod {
        self.client.method
    }
}

/// What a request offers to say which client sends it.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub client_id: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
    /// The scheme of an `Authorization` header: HTTP client authentication is not offered.
    pub authorization_scheme: Option<String>,
    /// The client certificate of the TLS connection, if any.
    pub certificate: Option<Arc<PeerCertificate>>,
}

/// The registered clients and the keys of those that sign client assertions.
pub struct ClientRegistry {
    clients: HashMap<String, Arc<Client>>,
    anonymous: Option<Arc<Client>>,
    /// The JWK sets of `private_key_jwt` clients, keyed by client id (the assertion's `iss`).
    keys: JwtTrust,
    assertion: AssertionPolicy,
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .field("anonymous", &self.anonymous.as_ref().map(|c| &c.id))
            .finish_non_exhaustive()
    }
}

fn refused(message: impl Into<String>) -> Rejection {
    Rejection::client(message)
}

impl ClientRegistry {
    pub fn new(keys: JwtTrust, assertion: AssertionPolicy) -> Self {
        Self {
            clients: HashMap::new(),
            anonymous: None,
            keys,
            assertion,
        }
    }

    pub fn add(&mut self, client: Client, anonymous: bool) {
        let client = Arc::new(client);
        if anonymous {
            self.anonymous = Some(client.clone());
        }
        self.clients.insert(client.id.clone(), client);
    }

    /// No `[[clients]]` are configured: requests are not attributed to clients and no client policy applies.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values().map(Arc::as_ref)
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.clients.get(id).map(Arc::as_ref)
    }

    /// The client a request claims to be, for the audit record of a refusal: its `client_id`, else the
    /// `iss` of its client assertion (read unverified, for the record only).
    pub fn claimed(&self, credentials: &Credentials) -> Option<String> {
        credentials.client_id.clone().or_else(|| {
            credentials
                .assertion
                .as_deref()
                .and_then(|a| assertion::claimed_client(a, &self.assertion.limits))
        })
    }

    /// Authenticates the request's client. `None` only when no clients are registered at all. Client
    /// assertions are accepted once: their `jti` goes into `cache` until the assertion expires.
    pub fn authenticate(
        &self,
        credentials: &Credentials,
        cache: &dyn ReplayCache,
        now: OffsetDateTime,
    ) -> Result<Option<AuthenticatedClient>, Rejection> {
        if let Some(scheme) = &credentials.authorization_scheme {
            return Err(refused(format!(
                "HTTP {} authentication is not offered at this token endpoint; use private_key_jwt or mutual TLS",
                crate::error::shown(scheme)
            )));
        }
        let has_assertion = credentials.assertion.is_some() || credentials.assertion_type.is_some();
        if self.is_empty() {
            if has_assertion || credentials.client_id.is_some() {
                return Err(refused("this gateway has no registered clients"));
            }
            return Ok(None);
        }
        if has_assertion {
            return self
                .by_assertion(credentials, cache, now)
                .map(|client| Some(AuthenticatedClient { client }));
        }
        let Some(id) = &credentials.client_id else {
            return match &self.anonymous {
                Some(client) => Ok(Some(AuthenticatedClient {
                    client: client.clone(),
                })),
                None => Err(refused(
                    "client authentication is required (private_key_jwt, mutual TLS, or a client_id where that is configured)",
                )),
            };
        };
        let client = self
            .clients
            .get(id)
            .ok_or_else(|| refused("the client is not registered"))?;
        match client.method {
            AuthMethod::PrivateKeyJwt => Err(refused(
                "this client authenticates with private_key_jwt: send client_assertion_type and client_assertion",
            )),
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => {
                let cert = credentials.certificate.as_deref().ok_or_else(|| {
                    refused("this client authenticates with a TLS client certificate, and the connection presented none")
                })?;
                if client.method == AuthMethod::TlsClientAuth && !cert.chain_verified {
                    return Err(refused(
                        "the TLS client certificate does not chain to a configured client CA",
                    ));
                }
                let matched = client
                    .certificate
                    .as_ref()
                    .is_some_and(|m| m.matches(cert));
                if !matched {
                    return Err(refused(
                        "the TLS client certificate is not the one registered for this client",
                    ));
                }
                Ok(Some(AuthenticatedClient {
                    client: client.clone(),
                }))
            }
            AuthMethod::None => Ok(Some(AuthenticatedClient {
                client: client.clone(),
            })),
        }
    }

    fn by_assertion(
        &self,
        credentials: &Credentials,
        cache: &dyn ReplayCache,
        now: OffsetDateTime,
    ) -> Result<Arc<Client>, Rejection> {
        let (Some(kind), Some(token)) = (&credentials.assertion_type, &credentials.assertion)
        else {
            return Err(refused(
                "client_assertion and client_assertion_type go together",
            ));
        };
        if kind != ASSERTION_TYPE_JWT_BEARER {
            return Err(refused(format!(
                "client_assertion_type must be {ASSERTION_TYPE_JWT_BEARER}"
            )));
        }
        let verified = assertion::verify_client_assertion(token, &self.keys, &self.assertion, now)
            .map_err(|e| match e.class {
                ErrorClass::Unavailable | ErrorClass::Internal => e,
                // The assertion's `iss` named no client with a key set.
                ErrorClass::Iss => refused("the client assertion names a client that is not registered for private_key_jwt"),
                _ => refused(format!("the client assertion: {}", e.message)),
            })?;
        if credentials
            .client_id
            .as_ref()
            .is_some_and(|id| *id != verified.client_id)
        {
            return Err(refused(
                "client_id names another client than the client assertion",
            ));
        }
        let client = self
            .clients
            .get(&verified.client_id)
            .filter(|c| c.method == AuthMethod::PrivateKeyJwt)
            .ok_or_else(|| refused("the client is not registered for private_key_jwt"))?;
        let key = ReplayKey::client_assertion(&verified.client_id, &verified.token_id);
        cache
            .check_and_insert(
                &key,
                verified.expires.saturating_add(self.assertion.skew),
                now,
            )
            .map_err(|e| match e.class {
                ErrorClass::Replay => refused("the client assertion was already used (its jti)"),
                _ => e,
            })?;
        Ok(client.clone())
    }
}

/// Everything the HTTP layer asks about who is calling: the client registry and the DPoP verifier.
#[derive(Debug)]
pub struct Callers {
    pub registry: ClientRegistry,
    pub dpop: DpopVerifier,
    /// The token endpoint URL (`[gateway] public_url` + `/token`): an `aud` of client assertions, and
    /// what discovery names.
    pub token_endpoint: String,
    /// The same URL normalised (RFC 9449 §4.3): what a proof's `htu` must equal.
    pub htu: String,
}

impl Callers {
    /// The longest a client assertion may live, as the discovery document and the checks say.
    pub const MAX_ASSERTION_LIFETIME: Duration = Duration::minutes(5);
}
