//! The lock directory and the files in it, opened without ever following a link. hotpath
//! runs as root on shared nodes, so a path another user could have planted (a symbolic link
//! to `/etc/shadow`, a FIFO that blocks every open, a hard link to a root-owned file) must
//! never be written through:
//!
//! - the directory must be a real directory (not a link), owned by this user, and writable
//!   by nobody else; it is created mode 0700 when missing. It is opened once (`O_DIRECTORY |
//!   O_NOFOLLOW`) and checked through that descriptor, so the directory checked is the one used
//!   even if its path is swapped afterwards;
//! - every file is opened relative to that descriptor (`openat`) with `O_NOFOLLOW` (a link
//!   there fails to open) and `O_NONBLOCK` (a FIFO does not block the open), then checked
//!   with `fstat`: a regular file, owned by this user, with one name (no hard link). Only then
//!   is it truncated or written.

use std::ffi::CString;
use std::fs::{File, Metadata, OpenOptions};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// How a file in the lock directory is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and write, created (mode 0600) when missing: the lock file itself.
    ReadWrite,
    /// Append only, created (mode 0600) when missing: a note left for the holder.
    Append,
    /// Read only, never created: reading the notes.
    Read,
}

impl Access {
    fn flags(self) -> libc::c_int {
        match self {
            Access::ReadWrite => libc::O_RDWR | libc::O_CREAT,
            Access::Append => libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
            Access::Read => libc::O_RDONLY,
        }
    }
}

/// An open lock directory that passed its checks.
#[derive(Debug)]
pub struct LockDir {
    fd: File,
    path: PathBuf,
}

/// This process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// What a non-regular file is, in words (`a symbolic link`, `a FIFO`, ...).
fn kind(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device node"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

impl LockDir {
    /// Opens `path` as the lock directory, creating it (mode 0700, and any missing parent)
    /// when it does not exist. The error is the reason it is refused, naming the path.
    pub fn open(path: &Path) -> Result<LockDir, String> {
        let refuse = |why: String| format!("the lock directory {} {why}", path.display());
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .or_else(|e| match std::fs::symlink_metadata(path) {
                // Exists, though not as a directory the builder accepts: judged below.
                Ok(_) => Ok(()),
                Err(_) => Err(refuse(format!("cannot be created ({e})"))),
            })?;
        let lstat =
            std::fs::symlink_metadata(path).map_err(|e| refuse(format!("cannot be read ({e})")))?;
        if !lstat.is_dir() {
            return Err(refuse(format!("is {}, not a directory", kind(&lstat))));
        }
        let fd = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| refuse(format!("cannot be opened ({e})")))?;
        let m = fd
            .metadata()
            .map_err(|e| refuse(format!("cannot be read ({e})")))?;
        let me = euid();
        if m.uid() != me {
            return Err(refuse(format!(
                "belongs to uid {}, not to this user (uid {me})",
                m.uid()
            )));
        }
        if m.mode() & 0o022 != 0 {
            return Err(refuse(format!(
                "is writable by group or others (mode {:o}); only its owner may write it",
                m.mode() & 0o7777
            )));
        }
        Ok(LockDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The path of `name` in this directory (for messages).
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Opens `name` in this directory, never through a link; refuses anything but a regular
    /// file of this user with a single name. The error is one clause naming the path.
    pub fn open_file(&self, name: &str, access: Access) -> Result<File, String> {
        let path = self.path_of(name);
        let refuse = |why: String| format!("{} {why}", path.display());
        let c_name = CString::new(name).map_err(|_| refuse("has a NUL in its name".into()))?;
        let flags =
            access.flags() | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        // SAFETY: the directory descriptor is open for as long as `self`, `c_name` is a
        // NUL-terminated string that outlives the call, and the mode argument is an int as
        // openat's variadic third argument expects. The result is a new descriptor or -1.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c_name.as_ptr(),
                flags,
                0o600 as libc::c_uint,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            // Say what is there (a link fails with ELOOP, a directory with EISDIR).
            return Err(match std::fs::symlink_metadata(&path) {
                Ok(m) if !m.is_file() => refuse(format!("is {}, not a regular file", kind(&m))),
                _ => refuse(format!("cannot be opened ({e})")),
            });
        }
        // SAFETY: `fd` was just returned by openat and nothing else owns it.
        let file = unsafe { File::from_raw_fd(fd) };
        let m = file
            .metadata()
            .map_err(|e| refuse(format!("cannot be read ({e})")))?;
        if !m.is_file() {
            return Err(refuse(format!("is {}, not a regular file", kind(&m))));
        }
        let me = euid();
        if m.uid() != me {
            return Err(refuse(format!(
                "belongs to uid {}, not to this user (uid {me})",
                m.uid()
            )));
        }
        if m.nlink() != 1 {
            return Err(refuse(format!(
                "is a hard link ({} names), not a file of its own",
                m.nlink()
            )));
        }
        Ok(file)
    }
}
