use std::io;

/// Why a reading could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The process exited (or its pid now belongs to another process) between listing and reading.
    #[error("process {pid} is gone")]
    Gone {
        /// The pid that vanished.
        pid: i32,
    },
    /// The file exists but this user may not read it (another user's process, hidepid, ...).
    #[error("permission denied reading {path}")]
    Denied {
        /// The file that could not be read.
        path: String,
    },
    /// Anything else: unexpected format, I/O error.
    #[error("{path}: {message}")]
    Other {
        /// The file involved.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl ProbeError {
    pub(crate) fn from_io(path: &str, e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::PermissionDenied => ProbeError::Denied {
                path: path.to_string(),
            },
            _ => ProbeError::Other {
                path: path.to_string(),
                message: e.to_string(),
            },
        }
    }
}
