//! The `xua-gateway` command.
// The library's lint wall holds here too: a command that serves patient data must not panic either.
#![deny(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::todo,
    clippy::unimplemented,
    clippy::dbg_macro,
    clippy::indexing_slicing
)]

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    match cli::run(cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // `sample saml | head`: the reader has what it wanted; a message would only be noise.
        Err(e) if closed_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Errors are written as one line without a backtrace: they are messages for an operator.
            eprintln!("xua-gateway: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// Whether writing the answer failed because its reader went away.
fn closed_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
