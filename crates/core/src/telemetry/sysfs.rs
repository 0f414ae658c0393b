//! Reading sysfs attributes for telemetry without following links hotpath did not make:
//! every file is opened with `O_NOFOLLOW` (a link in its place fails to open), and only
//! directory entries that are themselves directories, not links to one, are walked into.
//! An open attribute is read again from offset 0 (`pread`), which makes the kernel produce a
//! fresh value without a new open: cheap enough to do after every sample batch.

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The most bytes read from one attribute (every value telemetry reads is one short line).
const MAX_BYTES: usize = 4096;

/// One sysfs attribute held open, read again on every [`Attr::text`].
#[derive(Debug)]
pub struct Attr {
    path: PathBuf,
    file: File,
}

impl Attr {
    /// Opens `path` read-only with `O_NOFOLLOW`; `None` when it is missing, unreadable (RAPL
    /// energy is root-only on recent kernels) or a link.
    pub fn open(path: &Path) -> Option<Attr> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
            .open(path)
            .ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        Some(Attr {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value now, trimmed; `None` when the read fails or is not UTF-8.
    pub fn text(&self) -> Option<String> {
        let mut buf = vec![0u8; MAX_BYTES];
        let n = self.file.read_at(&mut buf, 0).ok()?;
        buf.truncate(n);
        String::from_utf8(buf).ok().map(|s| s.trim().to_string())
    }

    /// The value now as a number (`scaling_cur_freq`'s kHz, a zone's m°C, RAPL's µJ).
    pub fn number(&self) -> Option<f64> {
        self.text()?.parse().ok().filter(|v: &f64| v.is_finite())
    }

    /// The value now as an unsigned integer (energy counters, which exceed f64's exact range
    /// only after 2^53 µJ, but are compared exactly).
    pub fn integer(&self) -> Option<u64> {
        self.text()?.parse().ok()
    }
}

/// The text of `path`, read once with `O_NOFOLLOW`.
pub fn read_text(path: &Path) -> Option<String> {
    Attr::open(path)?.text()
}

/// The subdirectories of `dir` whose names start with `prefix`, links left out, in natural
/// order (`policy2` before `policy10`).
pub fn subdirs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return vec![];
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            name.starts_with(prefix).then(|| (name, e.path()))
        })
        .collect();
    found.sort_by_key(|a| natural_key(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Sort key: the name without its trailing number, then the number.
fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_string(), num.parse().unwrap_or(0))
}

/// The CPUs of a kernel CPU list (`0-3,8,10-11`, as `affected_cpus` is space-separated
/// `0 1 2`, and `/proc/self/status`'s `Cpus_allowed_list` is ranged); `None` when malformed.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text
        .split([',', ' ', '\n'])
        .filter(|p| !p.trim().is_empty())
    {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 1 << 16 {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Average power in W from two readings of an energy counter in µJ, `dt_s` seconds apart.
/// The counter wraps at `range_uj` (RAPL's `max_energy_range_uj`): a second reading below
/// the first has wrapped once. `None` when the interval is not positive or a wrap cannot be
/// undone (no range known).
pub fn power_from_energy(e0_uj: u64, e1_uj: u64, range_uj: Option<u64>, dt_s: f64) -> Option<f64> {
    if dt_s.is_nan() || dt_s <= 0.0 {
        return None;
    }
    let delta = if e1_uj >= e0_uj {
        e1_uj - e0_uj
    } else {
        let range = range_uj.filter(|&r| r >= e0_uj)?;
        range - e0_uj + e1_uj
    };
    Some(delta as f64 / 1e6 / dt_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_read_again_and_links_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("scaling_cur_freq");
        std::fs::write(&f, "2400000\n").unwrap();
        let a = Attr::open(&f).unwrap();
        assert_eq!(a.number(), Some(2_400_000.0));
        // The same open file gives the new value (as sysfs regenerates it on a read at 0).
        std::fs::write(&f, "1800000\n").unwrap();
        assert_eq!(a.number(), Some(1_800_000.0));
        assert_eq!(a.integer(), Some(1_800_000));
        // A link in the attribute's place is never followed.
        let link = dir.path().join("temp");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(Attr::open(&link).is_none());
        assert_eq!(read_text(&link), None);
        assert!(Attr::open(&dir.path().join("missing")).is_none());
        assert!(
            Attr::open(dir.path()).is_none(),
            "a directory is no attribute"
        );
    }

    #[test]
    fn subdirectories_skip_links_and_sort_naturally() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["policy10", "policy2", "policy0", "other"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::os::unix::fs::symlink(dir.path().join("policy0"), dir.path().join("policy3")).unwrap();
        std::fs::write(dir.path().join("policy4"), "a file").unwrap();
        let names: Vec<String> = subdirs(dir.path(), "policy")
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["policy0", "policy2", "policy10"]);
        assert!(subdirs(&dir.path().join("none"), "policy").is_empty());
    }

    #[test]
    fn cpu_lists_in_both_spellings() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("4 5 6"), Some(vec![4, 5, 6]));
        assert_eq!(parse_cpu_list("7"), Some(vec![7]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a-b"), None);
        assert_eq!(parse_cpu_list(""), Some(vec![]));
    }

    #[test]
    fn energy_counters_give_watts_across_a_wrap() {
        // 2,000,000 µJ in 0.5 s = 2 J / 0.5 s = 4 W.
        assert_eq!(
            power_from_energy(1_000_000, 3_000_000, None, 0.5),
            Some(4.0)
        );
        // Wrapped at 262,143,328,850 µJ (a common max_energy_range_uj): from 262,143,000,000
        // to 500,000: 328,850 + 500,000 = 828,850 µJ in 0.25 s = 3.3154 W.
        let w = power_from_energy(262_143_000_000, 500_000, Some(262_143_328_850), 0.25).unwrap();
        assert!((w - 3.3154).abs() < 1e-9, "{w}");
        assert_eq!(
            power_from_energy(5, 1, None, 1.0),
            None,
            "no range: a wrap is unknown"
        );
        assert_eq!(power_from_energy(1, 5, None, 0.0), None);
    }
}
