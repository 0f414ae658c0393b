//! Typed errors shared by every crate: each says what is wrong and what would be accepted.

use std::path::PathBuf;

/// Result alias used across hotpath.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, grouped by who has to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user asked for something invalid (bad shape, unknown name, path). CLI exit code 2.
    #[error("{0}")]
    BadInput(String),
    /// The backend cannot run this op/dtype/impl combination.
    #[error("{0}")]
    Unsupported(String),
    /// A backend (driver, runtime library, device) is missing or failed to initialise.
    #[error("{0}")]
    NotAvailable(String),
    /// A backend call failed while preparing or running a benchmark.
    #[error("{0}")]
    Backend(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::BadInput`].
    pub fn bad_input(msg: impl Into<String>) -> Self {
        Error::BadInput(msg.into())
    }

    /// Shorthand for [`Error::Unsupported`].
    pub fn unsupported(msg: impl Into<String>) -> Self {
        Error::Unsupported(msg.into())
    }

    /// Shorthand for [`Error::Backend`].
    pub fn backend(msg: impl Into<String>) -> Self {
        Error::Backend(msg.into())
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
