//! The process's open-file limit. Every connection, slow or not, is an open file: the soft limit (often 1024)
//! is raised to the hard one at start-up, so that `[server] max_connections` is what bounds connections, not
//! an `accept` that starts failing for everyone.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (capped at about a million). Returns the limit in force.
#[cfg(unix)]
pub fn raise_open_file_limit() -> Result<u64, String> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    const CAP: u64 = 1 << 20;
    let current = getrlimit(Resource::Nofile);
    let soft = current.current.unwrap_or(u64::MAX);
    let wanted = current.maximum.unwrap_or(CAP).min(CAP);
    if soft >= wanted {
        return Ok(soft);
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(wanted),
            maximum: current.maximum,
        },
    )
    .map_err(|e| format!("cannot raise the open-file limit from {soft} to {wanted}: {e}"))?;
    Ok(wanted)
}

#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Result<u64, String> {
    Err("the open-file limit is not managed on this platform".to_string())
}
