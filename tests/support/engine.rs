//! Which XML-DSig verifier a test run exercises (included with `#[path]`): `XUA_VERIFIER=libxmlsec1` or
//! `XUA_VERIFIER=streaming`; unset means the library's default.

use xua_gateway::saml::verify::VerifierEngine;

pub fn engine() -> VerifierEngine {
    match std::env::var("XUA_VERIFIER") {
        Ok(name) => VerifierEngine::parse(&name)
            .unwrap_or_else(|| panic!("XUA_VERIFIER={name:?}: expected libxmlsec1 or streaming")),
        Err(_) => VerifierEngine::DEFAULT,
    }
}

#[allow(dead_code)]
pub fn streaming() -> bool {
    engine() == VerifierEngine::Streaming
}
