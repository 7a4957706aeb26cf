//! Heap allocations per exchange on the Rust side (libxml2 and xmlsec allocate with malloc directly and are
//! not counted here; `valgrind --tool=dhat` on this binary counts those too).
//!
//! `cargo bench --bench alloc`: runs each pipeline 1,000 times after a warm-up and prints allocations and
//! bytes per exchange.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

mod common;
use common::{no_replay_config, NullSink};
use xua_gateway::pipeline::ExchangeRequest;
use xua_gateway::samples::{self, MintOptions};
use xua_gateway::startup::Gateway;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
// Bytes allocated and not yet freed (Rust side): a leak shows as growth over many exchanges.
static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are side effects only.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    // Growth: Rust bytes still live, and the process's anonymous resident memory (which includes what
    // libxml2, libxmlsec1 and OpenSSL hold), before and after many more exchanges on one thread.
    const LONG: u64 = 20_000;
    let (live0, anon0) = (LIVE.load(Ordering::Relaxed), rss_anon_kib());
    for _ in 0..LONG {
        f();
    }
    let (live1, anon1) = (LIVE.load(Ordering::Relaxed), rss_anon_kib());
    println!(
        "{label:<28} after {LONG} more: Rust live bytes {live0} -> {live1}, anonymous RSS {anon0} -> {anon1} KiB"
    );
}

fn rss_anon_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
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
        gw.pipeline().profiles().default_profile(),
        &claims,
        &MintOptions::default(),
        &samples::sample_idp().expect("idp"),
        now,
    )
    .expect("mint");
    let jwt = samples::mint_jwt(&claims, &samples::JwtMintOptions::default(), now).expect("jwt");
    let request = ExchangeRequest::default();
    measure("saml_to_jwt (ES256)", || {
        gw.pipeline().saml_to_jwt(&xml, &request).expect("exchange");
    });
    measure("jwt_to_saml", || {
        gw.pipeline().jwt_to_saml(&jwt, &request).expect("exchange");
    });
}
