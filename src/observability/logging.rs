//! Ordinary logs: `tracing`, one subscriber set-up, JSON or text on stderr, one span per HTTP request
//! carrying its request id (set by the HTTP middleware). Never the access log: that is `audit/`, in its own store.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use super::redact;
use crate::config::{LogFormat, LoggingConfig};

/// Wraps a writer so that every formatted event passes through [`redact::scrub`] on its way out.
#[derive(Debug, Clone)]
pub struct Redacting<M>(pub M);

pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The formatter hands over one whole event per call, so a number is never split across calls.
        self.0.write_all(&redact::scrub(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }
}

/// Directives added after the configured level: dependencies that would print request or response bytes at
/// their most verbose levels stay at `info`, whatever `RUST_LOG` says (bodies carry tokens and identifiers).
const QUIET_DEPENDENCIES: &[&str] = &[
    "actix_http=info",
    "actix_server=info",
    "h2=info",
    "hyper=info",
];

fn filter(level: &str) -> EnvFilter {
    let base = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| level.to_string());
    let mut filter = EnvFilter::try_new(&base).unwrap_or_else(|_| EnvFilter::new("info"));
    for d in QUIET_DEPENDENCIES {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    filter
}

/// Installs the process-wide subscriber (stderr). `RUST_LOG` overrides `[logging] level`. A second call is a
/// no-op (tests start several gateways in one process).
pub fn init(config: &LoggingConfig) {
    let ansi = io::IsTerminal::is_terminal(&io::stderr());
    init_with_writer(config, io::stderr, ansi);
}

/// As [`init`], writing to any writer (tests capture into a buffer); `ansi` colours text output.
pub fn init_with_writer<W>(config: &LoggingConfig, writer: W, ansi: bool)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&config.level))
        .with_ansi(ansi)
        .with_writer(Redacting(writer));
    let _ = match config.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
