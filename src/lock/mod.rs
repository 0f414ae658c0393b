//! One run per device: `hotpath run` holds an advisory lock on a per-device file while it
//! measures. A second run on the same device still runs (it may be wanted), but both are
//! told their numbers are meaningless, on stderr and in the results file
//! (`device.extra.warnings`): the second at once, when it cannot take the lock; the first
//! through a note the second appends to `<lock>.intruders`, which the holder reads after
//! every benchmark ([`DeviceLock::intruders`]).
//!
//! Where the locks live: `$HOTPATH_LOCK_DIR` when set, else a directory of this user's own
//! ([`default_dir`]): root's is `/run/hotpath` (whatever `TMPDIR` says), every other user's
//! `<temp dir>/hotpath-locks-<uid>`. hotpath runs as root on shared nodes, and a directory
//! every user can write (the `/tmp/hotpath-locks`, mode 1777, of earlier versions) let any of
//! them plant a link where root would open a lock and make it truncate and write any file.
//! Checks on each file in a shared directory can refuse links and strangers' files, but its
//! users could still delete or swap each other's locks, so the detection it gives is not one
//! to trust either. The price of private directories: **a run by another user on the same
//! device is not detected** by the lock (on CUDA, NVML's list of processes on the GPU still
//! reports it). Every directory and file is opened without following links and checked
//! ([`dir`]); anything refused is a warning and the run goes on without the lock.

mod dir;
#[cfg(test)]
mod tests;

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use hotpath_core::DeviceInfo;

use dir::{Access, LockDir};

/// The held lock; released when dropped (or when the process dies, however it dies).
pub struct DeviceLock {
    _file: File,
    /// The directory the lock and its notes are in.
    dir: LockDir,
    /// `<lock>.intruders`: one line per run that found the device held, `NANOS WHO`.
    intruders: String,
    /// Notes stamped before this (ns since the epoch) are not this run's: the clock read
    /// before the lock was taken, so every run that found this one holding it wrote later.
    since_ns: u128,
    /// Notes of this run's time already reported.
    seen: usize,
}

impl DeviceLock {
    /// Runs that started on this device since the lock was taken (or since the last call),
    /// as warnings for the results file.
    pub fn intruders(&mut self, device: &DeviceInfo) -> Vec<String> {
        // No notes yet (or a file that is refused, which only this user could have put in
        // this directory) is no news.
        let mut text = String::new();
        if let Ok(mut f) = self.dir.open_file(&self.intruders, Access::Read) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text
            .lines()
            .filter_map(|l| {
                let (stamp, who) = l.trim().split_once(' ')?;
                (stamp.parse::<u128>().ok()? >= self.since_ns).then_some(who)
            })
            .collect();
        let new: Vec<String> = lines
            .iter()
            .skip(self.seen)
            .map(|who| {
                format!(
                    "another hotpath run ({}) started on {} device {} while this run measured; the numbers of both runs are meaningless",
                    who.trim(),
                    device.backend,
                    device.index
                )
            })
            .collect();
        self.seen = lines.len().max(self.seen);
        new
    }
}

/// Records every new intruder of `lock` in `device` and on stderr; true when there was one.
pub fn note_intruders(lock: &mut Option<DeviceLock>, device: &mut DeviceInfo) -> bool {
    let Some(lock) = lock.as_mut() else {
        return false;
    };
    let found = lock.intruders(device);
    for w in &found {
        eprintln!("warning: {w}");
        add_warning(device, w.clone());
    }
    !found.is_empty()
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn me() -> String {
    format!(
        "pid {} since {}",
        std::process::id(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// The lock directory of user `uid` when `HOTPATH_LOCK_DIR` is not set: `/run/hotpath` for
/// root when `run_exists` (`/run` is root's and a tmpfs, so nothing else can be in the
/// way and no lock outlives a boot), else `<tmp>/hotpath-locks-<uid>`.
pub fn default_dir(uid: u32, run_exists: bool, tmp: &Path) -> PathBuf {
    if uid == 0 && run_exists {
        PathBuf::from("/run/hotpath")
    } else {
        tmp.join(format!("hotpath-locks-{uid}"))
    }
}

/// Directory of the lock files: `$HOTPATH_LOCK_DIR` when set and not empty, else
/// [`default_dir`].
fn lock_dir() -> PathBuf {
    std::env::var_os("HOTPATH_LOCK_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            default_dir(
                dir::euid(),
                Path::new("/run").is_dir(),
                &std::env::temp_dir(),
            )
        })
}

/// Claims `device` for this run. When another hotpath run holds it, or the lock cannot be
/// taken at all (or is refused: a link, not a regular file, not this user's), says so on
/// stderr and records a warning in `device.extra`; the run goes on.
pub fn claim(device: &mut DeviceInfo) -> Option<DeviceLock> {
    claim_in(&lock_dir(), device)
}

/// [`claim`] with the lock in `dir`.
pub fn claim_in(dir: &Path, device: &mut DeviceInfo) -> Option<DeviceLock> {
    match try_claim(dir, device) {
        Ok(lock) => Some(lock),
        Err(warning) => {
            eprintln!("warning: {warning}");
            add_warning(device, warning);
            None
        }
    }
}

const UNNOTICED: &str = "a concurrent hotpath run on this device would go unnoticed";

fn try_claim(dir: &Path, device: &DeviceInfo) -> Result<DeviceLock, String> {
    let dir = LockDir::open(dir)
        .map_err(|why| format!("{why}, so no device lock is taken; {UNNOTICED}"))?;
    let name = format!("{}-{}.lock", device.backend, device.index);
    let mut file = dir
        .open_file(&name, Access::ReadWrite)
        .map_err(|why| format!("the device lock {why}, so it is not used; {UNNOTICED}"))?;
    let intruders = format!("{name}.intruders");
    let since_ns = now_ns();
    match file.try_lock() {
        Ok(()) => {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = file.write_all(format!("{}\n", me()).as_bytes());
            // Earlier holders' intruders are stamped before `since_ns` and skipped (removing
            // the file instead could lose a note written just after the lock was taken).
            Ok(DeviceLock {
                _file: file,
                dir,
                intruders,
                since_ns,
                seen: 0,
            })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            // Tell the holder too (it reads this after each benchmark).
            let untold = match dir.open_file(&intruders, Access::Append) {
                Ok(mut note) => note
                    .write_all(format!("{} {}\n", now_ns(), me()).as_bytes())
                    .err()
                    .map(|e| {
                        format!(
                            "{} cannot be written ({e})",
                            dir.path_of(&intruders).display()
                        )
                    }),
                Err(why) => Some(why),
            };
            let untold = untold.map_or(String::new(), |why| {
                format!("; the run holding the lock is not told, because the note {why}")
            });
            Err(format!(
                "another hotpath run ({}) is measuring {} device {} right now; the numbers of both runs are meaningless{untold}",
                holder.trim(),
                device.backend,
                device.index
            ))
        }
        Err(TryLockError::Error(e)) => Err(format!(
            "cannot lock {} ({e}); {UNNOTICED}",
            dir.path_of(&name).display()
        )),
    }
}

/// Appends `warning` to `device.extra["warnings"]`.
pub fn add_warning(device: &mut DeviceInfo, warning: String) {
    let entry = device
        .extra
        .entry("warnings".to_string())
        .or_insert_with(|| serde_json::Value::Array(vec![]));
    if let serde_json::Value::Array(list) = entry {
        list.push(serde_json::Value::String(warning));
    }
}
