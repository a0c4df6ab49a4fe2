//! Errors a user can cause: the binary prints them as one clear message and exits with code 2.

/// An error in the user's input or environment (bad argument, missing file, unwritable
/// database). Anything else is a bug and also exits 2, with its chain.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Shorthand for a user error from anything printable.
pub fn user(msg: impl Into<String>) -> anyhow::Error {
    UserError(msg.into()).into()
}
