//! What `/readyz` asks: can this instance issue a token right now? Keys loaded, the audit store writable,
//! and every dependency registered here (the fastlege register, when it lands) reachable or allowed to be
//! down by policy. Checks must be cheap: a load balancer calls them every few seconds.

use std::sync::{Arc, RwLock};

/// One dependency's readiness. `Err` carries a short operator-facing reason (no identifiers).
pub trait ReadinessCheck: Send + Sync {
    /// Fixed name shown in `/readyz` output (e.g. `fastlege_register`).
    fn name(&self) -> &'static str;
    fn check(&self) -> Result<(), String>;
}

/// Checks other modules register at start-up (the register backend registers itself when it is built).
#[derive(Default)]
pub struct Readiness {
    checks: RwLock<Vec<Arc<dyn ReadinessCheck>>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&'static str> = self
            .checks
            .read()
            .map(|c| c.iter().map(|c| c.name()).collect())
            .unwrap_or_default();
        f.debug_struct("Readiness").field("checks", &names).finish()
    }
}

impl Readiness {
    pub fn register(&self, check: Arc<dyn ReadinessCheck>) {
        match self.checks.write() {
            Ok(mut c) => c.push(check),
            Err(e) => e.into_inner().push(check),
        }
    }

    /// Every registered check's name and result, in registration order.
    pub fn run(&self) -> Vec<(&'static str, Result<(), String>)> {
        let checks = match self.checks.read() {
            Ok(c) => c.clone(),
            Err(e) => e.into_inner().clone(),
        };
        checks.iter().map(|c| (c.name(), c.check())).collect()
    }
}

/// A check from a name and a closure (handy for policy-driven or test checks).
pub struct FnCheck<F> {
    name: &'static str,
    f: F,
}

impl<F> FnCheck<F>
where
    F: Fn() -> Result<(), String> + Send + Sync,
{
    pub fn new(name: &'static str, f: F) -> Self {
        Self { name, f }
    }
}

impl<F> ReadinessCheck for FnCheck<F>
where
    F: Fn() -> Result<(), String> + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn check(&self) -> Result<(), String> {
        (self.f)()
    }
}
