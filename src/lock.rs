//! One run per device: `hotpath run` holds an advisory lock on a per-device file while it
//! measures. A second run on the same device still runs (it may be wanted), but both are
//! told their numbers are meaningless, on stderr and in the results file
//! (`device.extra.warnings`): the second at once, when it cannot take the lock; the first
//! through a note the second appends to `<lock>.intruders`, which the holder reads after
//! every benchmark ([`DeviceLock::intruders`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use hotpath_core::DeviceInfo;

/// The held lock; released when dropped (or when the process dies, however it dies).
pub struct DeviceLock {
    _file: File,
    /// `<lock>.intruders`: one line per run that found the device held, `NANOS WHO`.
    intruders: PathBuf,
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
        let text = std::fs::read_to_string(&self.intruders).unwrap_or_default();
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

/// Directory of the lock files: `$HOTPATH_LOCK_DIR`, else `<temp dir>/hotpath-locks`.
fn lock_dir() -> PathBuf {
    std::env::var_os("HOTPATH_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("hotpath-locks"))
}

/// Claims `device` for this run. When another hotpath run holds it, or the lock cannot be
/// taken at all, says so on stderr and records a warning in `device.extra`; the run goes on.
pub fn claim(device: &mut DeviceInfo) -> Option<DeviceLock> {
    match try_claim(device) {
        Ok(lock) => Some(lock),
        Err(warning) => {
            eprintln!("warning: {warning}");
            add_warning(device, warning);
            None
        }
    }
}

fn try_claim(device: &DeviceInfo) -> Result<DeviceLock, String> {
    let dir = lock_dir();
    if std::fs::create_dir_all(&dir).is_ok() {
        // Shared by every user of the machine, like /tmp itself.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    let path = dir.join(format!("{}-{}.lock", device.backend, device.index));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| {
            format!(
                "cannot open the device lock {} ({e}); a concurrent hotpath run on this device would go unnoticed",
                path.display()
            )
        })?;
    let intruders = path.with_extension("lock.intruders");
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
                intruders,
                since_ns,
                seen: 0,
            })
        }
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            // Tell the holder too (it reads this after each benchmark).
            if let Ok(mut note) = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&intruders)
            {
                let _ = note.write_all(format!("{} {}\n", now_ns(), me()).as_bytes());
            }
            Err(format!(
                "another hotpath run ({}) is measuring {} device {} right now; the numbers of both runs are meaningless",
                holder.trim(),
                device.backend,
                device.index
            ))
        }
        Err(TryLockError::Error(e)) => Err(format!(
            "cannot lock {} ({e}); a concurrent hotpath run on this device would go unnoticed",
            path.display()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_claim_on_one_device_warns_and_records() {
        let dir = tempfile::tempdir().unwrap();
        // SAFETY of the test: no other test in this binary reads HOTPATH_LOCK_DIR.
        unsafe { std::env::set_var("HOTPATH_LOCK_DIR", dir.path()) };
        let mut a = DeviceInfo {
            backend: "cpu".into(),
            index: 7,
            ..Default::default()
        };
        let mut b = a.clone();
        let held = claim(&mut a);
        assert!(held.is_some());
        assert!(a.extra.is_empty());
        // flock locks belong to the open file description: a second open conflicts even
        // within one process, as it would from another run.
        assert!(claim(&mut b).is_none());
        let w = b.extra["warnings"][0].as_str().unwrap().to_string();
        assert!(
            w.contains(&format!("pid {}", std::process::id())) && w.contains("cpu device 7"),
            "{w}"
        );
        // The holder hears of the second run once, and of nothing else.
        let mut held = held;
        let told = held.as_mut().unwrap().intruders(&a);
        assert_eq!(told.len(), 1, "{told:?}");
        assert!(
            told[0].contains(&format!("pid {}", std::process::id()))
                && told[0].contains("started on cpu device 7 while this run measured"),
            "{told:?}"
        );
        assert!(held.as_mut().unwrap().intruders(&a).is_empty());
        assert!(!note_intruders(&mut held, &mut a) && a.extra.is_empty());
        let mut d = a.clone();
        assert!(claim(&mut d).is_none());
        assert!(note_intruders(&mut held, &mut a));
        assert_eq!(a.extra["warnings"].as_array().unwrap().len(), 1);
        drop(held);
        let mut c = DeviceInfo {
            backend: "cpu".into(),
            index: 7,
            ..Default::default()
        };
        let mut again = claim(&mut c);
        assert!(again.is_some(), "released when the holder drops it");
        // A new holder does not inherit the old holder's intruders.
        assert!(!note_intruders(&mut again, &mut c));
    }
}
