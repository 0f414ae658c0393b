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

    /// Whether this error, when a call into a device returned it, may have left the device
    /// unusable for the rest of the process: a [`Error::Backend`] failure (a launch, copy,
    /// allocation or synchronisation: on a GPU an illegal address is sticky, and every later
    /// call in that CUDA context fails too). Refusals (`BadInput`, `Unsupported`,
    /// `NotAvailable`) are decided before the device is touched, and `Io` concerns a file,
    /// so they leave it as it was.
    pub fn may_poison_device(&self) -> bool {
        matches!(self, Error::Backend(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_backend_failures_may_poison_a_device() {
        let io = Error::io("k.cubin", std::io::Error::other("disk full"));
        let cases = [
            (Error::backend("CUDA_ERROR_ILLEGAL_ADDRESS"), true),
            (Error::bad_input("m=0"), false),
            (Error::unsupported("shared memory 300 KB > 228 KB"), false),
            (Error::NotAvailable("cuBLASLt not found".into()), false),
            (io, false),
        ];
        for (e, poisons) in cases {
            assert_eq!(e.may_poison_device(), poisons, "{e:?}");
        }
    }
}
