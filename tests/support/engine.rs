//! Which XML-DSig verifier a test run relies on (included with `#[path]`): `XUA_VERIFIER=libxmlsec1` or
//! `XUA_VERIFIER=streaming`; unset means the library's default. The library never reads this variable: the
//! HTTP tests hand it to the server as `[saml] verifier`, the library tests choose the result they assert on.

use xua_gateway::config::VerifierChoice;
use xua_gateway::saml::verify::VerifierEngine;

/// The engine `XUA_VERIFIER` names, if it names one.
pub fn chosen() -> Option<VerifierEngine> {
    match std::env::var("XUA_VERIFIER") {
        Ok(name) => {
            Some(VerifierEngine::parse(&name).unwrap_or_else(|| {
                panic!("XUA_VERIFIER={name:?}: expected libxmlsec1 or streaming")
            }))
        }
        Err(_) => None,
    }
}

pub fn engine() -> VerifierEngine {
    chosen().unwrap_or(VerifierEngine::DEFAULT)
}

#[allow(dead_code)]
pub fn streaming() -> bool {
    engine() == VerifierEngine::Streaming
}

/// `[saml] verifier` for the engine under test, when `XUA_VERIFIER` names one.
#[allow(dead_code)]
pub fn config_choice() -> Option<VerifierChoice> {
    chosen().map(|engine| match engine {
        VerifierEngine::Streaming => VerifierChoice::Streaming,
        VerifierEngine::Libxmlsec => VerifierChoice::Libxmlsec1,
    })
}
