//! Ordinary logs: `tracing`, one subscriber set-up, JSON or text on stderr, one span per HTTP request
//! carrying its request id (set by the HTTP middleware). Never the access log: that is `audit/`, in its own store.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

use crate::config::{LogFormat, LoggingConfig};
use crate::redact;

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

/// Installs the process-wide subscriber (stderr). `RUST_LOG` overrides `[logging] level`; a value that is
/// not a filter is an error naming it (`log_filter`). A second call is a no-op (tests start several
/// gateways in one process).
pub fn init(config: &LoggingConfig) -> Result<(), String> {
    let ansi = io::IsTerminal::is_terminal(&io::stderr());
    init_with_writer(config, io::stderr, ansi)
}

/// As [`init`], writing to any writer (tests capture into a buffer); `ansi` colours text output.
pub fn init_with_writer<W>(config: &LoggingConfig, writer: W, ansi: bool) -> Result<(), String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = crate::config::log_filter::build(&config.level, rust_log.as_deref())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
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
    Ok(())
}
