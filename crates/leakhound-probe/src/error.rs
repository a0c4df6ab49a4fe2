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
    pub(crate) fn from_proc(pid: i32, e: procfs::ProcError) -> Self {
        match e {
            procfs::ProcError::NotFound(_) => ProbeError::Gone { pid },
            procfs::ProcError::PermissionDenied(p) => ProbeError::Denied {
                path: p.map_or_else(|| format!("/proc/{pid}"), |p| p.display().to_string()),
            },
            procfs::ProcError::Io(ref err, _) if err.kind() == io::ErrorKind::NotFound => {
                ProbeError::Gone { pid }
            }
            // ESRCH surfaces when the task exits while its file is open.
            procfs::ProcError::Io(ref err, _) if err.raw_os_error() == Some(3) => {
                ProbeError::Gone { pid }
            }
            other => ProbeError::Other {
                path: format!("/proc/{pid}"),
                message: other.to_string(),
            },
        }
    }

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
