//! How an access-log command fails: with a message for the operator, or because its answer could not be
//! written (a closed pipe among them, which `main` lets pass quietly).

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Output(#[from] std::io::Error),
}
