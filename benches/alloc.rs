//! Heap allocations per exchange on the Rust side (libxml2 and xmlsec allocate with malloc directly and are
//! not counted here; `valgrind --tool=dhat` on this binary counts those too).
//!
//! `cargo bench --bench alloc`: runs each pipeline 1,000 times after a warm-up and prints allocations and
//! bytes per exchange.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use xua_gateway::audit::{AuditError, AuditRecord, AuditSink};
use xua_gateway::config::LoadedConfig;
use xua_gateway::gateway::{ExchangeRequest, Gateway};
use xua_gateway::samples::{self, MintOptions};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are side effects only.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug)]
struct NullSink;
impl AuditSink for NullSink {
    fn write(&self, _: &AuditRecord) -> Result<(), AuditError> {
        Ok(())
    }
    fn kind(&self) -> &'static str {
        "null"
    }
}

fn measure(label: &str, mut f: impl FnMut()) {
    for _ in 0..50 {
        f();
    }
    let (a0, b0) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    const N: u64 = 1000;
    for _ in 0..N {
        f();
    }
    let (a1, b1) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    println!(
        "{label:<28} {:>7} allocations/exchange {:>9} bytes/exchange",
        (a1 - a0) / N,
        (b1 - b0) / N
    );
}

fn main() {
    let loaded = no_replay_config();
    let gw = Gateway::build(
        loaded,
        xua_gateway::clock::system(),
        Some(Arc::new(NullSink)),
    )
    .expect("gateway");
    let claims = samples::parse_claims(samples::FASTLEGE_CLAIMS).expect("claims");
    let now = time::OffsetDateTime::now_utc();
    let xml = samples::mint_assertion(
        gw.profiles().default_profile(),
        &claims,
        &MintOptions::default(),
        &samples::sample_idp().expect("idp"),
        now,
    )
    .expect("mint");
    let jwt = samples::mint_jwt(&claims, &samples::JwtMintOptions::default(), now).expect("jwt");
    let request = ExchangeRequest::default();
    measure("saml_to_jwt (ES256)", || {
        gw.saml_to_jwt(&xml, &request).expect("exchange");
    });
    measure("jwt_to_saml", || {
        gw.jwt_to_saml(&jwt, &request).expect("exchange");
    });
}

/// The embedded configuration with replay protection off: a benchmark re-sends one token on purpose.
fn no_replay_config() -> LoadedConfig {
    let text = include_str!("../samples/config.toml")
        .replace("saml = true", "saml = false")
        .replace("jwt = true", "jwt = false");
    LoadedConfig::parse(&text, xua_gateway::config::Origin::Embedded).expect("config")
}
