//! CPU telemetry from sysfs, read around every sample batch: the core clock (cpufreq's
//! `scaling_cur_freq`, averaged over the policies of the CPUs this process may run on), the
//! package temperature (the `x86_pkg_temp` thermal zone, else the `coretemp`/`k10temp`
//! hwmon sensor, else the hottest thermal zone) and the package power (RAPL powercap
//! energy counters, differenced). No memory clock and no throttle reasons: sysfs has
//! neither for a CPU, and a CPU's SM-clock maximum is left unset so the throttle rule never
//! discards CPU batches (an idle or all-core clock below the single-core turbo is normal).
//!
//! Every file is opened with `O_NOFOLLOW` and only real directories are walked
//! ([`hotpath_core::telemetry::sysfs`]); the one link read on purpose, `/sys/class/hwmon/
//! hwmonN`, is resolved by hand and used only when it lands on real directories under
//! `/sys/devices`. Files are opened once and re-read; readings are refreshed at most every
//! [`REFRESH`] (a batch sooner repeats the last), so a machine with hundreds of cpufreq
//! policies is not slowed by reading them between 50 µs batches. Power is the average over
//! the interval between two refreshes.

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hotpath_core::telemetry::sysfs::{self, Attr};
use hotpath_core::{Telemetry, TelemetrySource};

/// Least time between two sysfs refreshes.
pub const REFRESH: Duration = Duration::from_millis(20);

/// Most cpufreq policies read (spread evenly over those that apply).
pub const MAX_POLICIES: usize = 32;

/// Hardware-monitor drivers whose `temp1_input` is the CPU package (or control) temperature.
const CPU_HWMON: [&str; 3] = ["coretemp", "k10temp", "zenpower"];

/// One RAPL package zone.
#[derive(Debug)]
struct Rapl {
    energy: Attr,
    range_uj: Option<u64>,
}

/// The state between refreshes: when the last refresh was, its energy counters and reading.
#[derive(Debug, Default)]
struct Last {
    at: Option<Instant>,
    energy_uj: Vec<Option<u64>>,
    reading: Option<Telemetry>,
}

/// The sysfs files of one host's CPU telemetry, held open.
#[derive(Debug)]
pub struct CpuTelemetry {
    freq: Vec<Attr>,
    pkg_zones: Vec<Attr>,
    hwmon: Vec<Attr>,
    zones: Vec<Attr>,
    rapl: Vec<Rapl>,
    last: Mutex<Last>,
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/<pid>/status`); empty
/// when unreadable (then every policy applies).
pub fn allowed_cpus() -> Vec<usize> {
    let status = sysfs::read_text(Path::new(&format!("/proc/{}/status", std::process::id())));
    status
        .as_deref()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .and_then(sysfs::parse_cpu_list)
        })
        .unwrap_or_default()
}

/// `link` (a relative symlink target read from inside `dir`) resolved lexically, when it
/// stays under `root/devices` and every directory on the way there is a real directory.
fn resolve_devices_link(root: &Path, dir: &Path, link: &Path) -> Option<PathBuf> {
    if link.is_absolute() {
        return None;
    }
    let mut out = dir.to_path_buf();
    for c in link.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::Prefix(_) | Component::RootDir => return None,
        }
    }
    let rest = out.strip_prefix(root.join("devices")).ok()?;
    let mut walk = root.join("devices");
    for c in std::iter::once(None).chain(rest.components().map(Some)) {
        if let Some(c) = c {
            walk.push(c);
        }
        let meta = std::fs::symlink_metadata(&walk).ok()?;
        if !meta.is_dir() {
            return None;
        }
    }
    Some(out)
}

/// Takes at most `n` of `items`, spread evenly (first, …, the same step on).
fn spread<T>(items: Vec<T>, n: usize) -> Vec<T> {
    if items.len() <= n || n == 0 {
        return items;
    }
    let step = items.len().div_ceil(n);
    items.into_iter().step_by(step).collect()
}

impl CpuTelemetry {
    /// This host's files, for the CPUs this process may run on.
    pub fn open() -> CpuTelemetry {
        CpuTelemetry::at(Path::new("/sys"), &allowed_cpus())
    }

    /// The files under the sysfs tree `root`, for the CPUs `cpus` (empty: every CPU).
    pub fn at(root: &Path, cpus: &[usize]) -> CpuTelemetry {
        let policies: Vec<Attr> =
            sysfs::subdirs(&root.join("devices/system/cpu/cpufreq"), "policy")
                .into_iter()
                .filter(|p| {
                    cpus.is_empty()
                        || sysfs::read_text(&p.join("affected_cpus"))
                            .and_then(|t| sysfs::parse_cpu_list(&t))
                            .is_some_and(|l| l.iter().any(|c| cpus.contains(c)))
                })
                .filter_map(|p| Attr::open(&p.join("scaling_cur_freq")))
                .collect();
        let mut pkg_zones = Vec::new();
        let mut zones = Vec::new();
        for z in sysfs::subdirs(&root.join("devices/virtual/thermal"), "thermal_zone") {
            let Some(temp) = Attr::open(&z.join("temp")) else {
                continue;
            };
            if sysfs::read_text(&z.join("type")).as_deref() == Some("x86_pkg_temp") {
                pkg_zones.push(temp);
            } else {
                zones.push(temp);
            }
        }
        let hwmon_dir = root.join("class/hwmon");
        let hwmon = std::fs::read_dir(&hwmon_dir)
            .map(|entries| {
                let mut found: Vec<PathBuf> = entries
                    .flatten()
                    .filter_map(|e| {
                        let link = std::fs::read_link(e.path()).ok()?;
                        resolve_devices_link(root, &hwmon_dir, &link)
                    })
                    .collect();
                found.sort();
                found
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|d| {
                sysfs::read_text(&d.join("name")).is_some_and(|n| CPU_HWMON.contains(&n.as_str()))
            })
            .filter_map(|d| Attr::open(&d.join("temp1_input")))
            .collect();
        let rapl = sysfs::subdirs(
            &root.join("devices/virtual/powercap/intel-rapl"),
            "intel-rapl:",
        )
        .into_iter()
        .filter(|z| sysfs::read_text(&z.join("name")).is_some_and(|n| n.starts_with("package")))
        .filter_map(|z| {
            Some(Rapl {
                energy: Attr::open(&z.join("energy_uj"))?,
                range_uj: sysfs::read_text(&z.join("max_energy_range_uj"))
                    .and_then(|t| t.parse().ok()),
            })
        })
        .filter(|r| r.energy.integer().is_some())
        .collect();
        CpuTelemetry {
            freq: spread(policies, MAX_POLICIES),
            pkg_zones,
            hwmon,
            zones,
            rapl,
            last: Mutex::new(Last::default()),
        }
    }

    /// `sysfs` when any file is there to read, else `none`.
    pub fn source(&self) -> TelemetrySource {
        let any = !self.freq.is_empty()
            || !self.pkg_zones.is_empty()
            || !self.hwmon.is_empty()
            || !self.zones.is_empty()
            || !self.rapl.is_empty();
        if any {
            TelemetrySource::Sysfs
        } else {
            TelemetrySource::None
        }
    }

    /// The reading now (refreshed at most every [`REFRESH`]); `None` when nothing is readable.
    pub fn read(&self) -> Option<Telemetry> {
        self.read_at(Instant::now())
    }

    /// The reading at `now`: the last one when it is younger than [`REFRESH`], else fresh.
    pub fn read_at(&self, now: Instant) -> Option<Telemetry> {
        if self.source() == TelemetrySource::None {
            return None;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = last.at {
            if now.saturating_duration_since(at) < REFRESH {
                return last.reading.clone();
            }
        }
        let energy: Vec<Option<u64>> = self.rapl.iter().map(|r| r.energy.integer()).collect();
        let power_w = match last.at {
            Some(at) if last.energy_uj.len() == energy.len() => {
                let dt = now.saturating_duration_since(at).as_secs_f64();
                self.rapl
                    .iter()
                    .zip(last.energy_uj.iter().zip(&energy))
                    .map(|(r, (e0, e1))| sysfs::power_from_energy((*e0)?, (*e1)?, r.range_uj, dt))
                    .sum::<Option<f64>>()
                    .filter(|_| !energy.is_empty())
            }
            _ => None,
        };
        let khz: Vec<f64> = self.freq.iter().filter_map(Attr::number).collect();
        let max_of = |files: &[Attr]| {
            files
                .iter()
                .filter_map(Attr::number)
                .map(|m| m / 1000.0)
                .max_by(f64::total_cmp)
        };
        let reading = Telemetry {
            sm_mhz: (!khz.is_empty()).then(|| khz.iter().sum::<f64>() / khz.len() as f64 / 1000.0),
            temp_c: max_of(&self.pkg_zones)
                .or_else(|| max_of(&self.hwmon))
                .or_else(|| max_of(&self.zones)),
            power_w,
            ..Telemetry::default()
        };
        *last = Last {
            at: Some(now),
            energy_uj: energy,
            reading: Some(reading.clone()),
        };
        Some(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// A two-socket host: four cpufreq policies (CPUs 0–3), two package zones, an ACPI zone,
    /// two RAPL packages (one with a DRAM subzone inside).
    fn host(root: &Path) {
        for (cpu, khz) in [
            (0, "3000000"),
            (1, "2000000"),
            (2, "2500000"),
            (3, "1000000"),
        ] {
            write(
                root,
                &format!("devices/system/cpu/cpufreq/policy{cpu}/scaling_cur_freq"),
                khz,
            );
            write(
                root,
                &format!("devices/system/cpu/cpufreq/policy{cpu}/affected_cpus"),
                &format!("{cpu}\n"),
            );
        }
        for (zone, kind, milli) in [
            ("thermal_zone0", "acpitz", "99000"),
            ("thermal_zone1", "x86_pkg_temp", "61000"),
            ("thermal_zone2", "x86_pkg_temp", "64500"),
        ] {
            write(root, &format!("devices/virtual/thermal/{zone}/type"), kind);
            write(root, &format!("devices/virtual/thermal/{zone}/temp"), milli);
        }
        let rapl = "devices/virtual/powercap/intel-rapl";
        for (pkg, uj) in [(0, "1000000"), (1, "5000000")] {
            write(
                root,
                &format!("{rapl}/intel-rapl:{pkg}/name"),
                &format!("package-{pkg}"),
            );
            write(root, &format!("{rapl}/intel-rapl:{pkg}/energy_uj"), uj);
            write(
                root,
                &format!("{rapl}/intel-rapl:{pkg}/max_energy_range_uj"),
                "262143328850",
            );
        }
        write(
            root,
            &format!("{rapl}/intel-rapl:0/intel-rapl:0:0/name"),
            "dram",
        );
    }

    #[test]
    fn a_two_socket_host_reads_clock_temperature_and_power() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        host(root);
        // This process may run on CPUs 0, 1 and 3 only.
        let t = CpuTelemetry::at(root, &[0, 1, 3]);
        assert_eq!(t.source(), TelemetrySource::Sysfs);
        let t0 = Instant::now();
        let first = t.read_at(t0).unwrap();
        // (3000 + 2000 + 1000) / 3 = 2000 MHz; CPU 2's 2500 MHz is not ours.
        assert_eq!(first.sm_mhz, Some(2000.0));
        // The hotter of the two package zones, not the 99 °C ACPI zone.
        assert_eq!(first.temp_c, Some(64.5));
        assert_eq!(first.power_w, None, "power needs two readings");
        assert_eq!((first.sm_max_mhz, first.mem_mhz), (None, None));
        assert!(first.clock().is_none(), "no throttle rule on a CPU");
        // 0.5 s later: package 0 used 10 J, package 1 wrapped from 5,000,000 µJ past
        // 262,143,328,850 µJ to 4,671,150 µJ: 262,138,328,850 + 4,671,150 = 262,143,000,000
        // µJ. Total (10,000,000 + 262,143,000,000) µJ / 0.5 s = 524,306 W. Unphysical, but
        // it shows the wrap is undone (a wrong sign would be negative).
        write(
            root,
            "devices/virtual/powercap/intel-rapl/intel-rapl:0/energy_uj",
            "11000000",
        );
        write(
            root,
            "devices/virtual/powercap/intel-rapl/intel-rapl:1/energy_uj",
            "4671150",
        );
        write(
            root,
            "devices/system/cpu/cpufreq/policy0/scaling_cur_freq",
            "1500000",
        );
        // 5 ms later is inside the refresh interval: the last reading again.
        assert_eq!(
            t.read_at(t0 + Duration::from_millis(5)),
            Some(first.clone())
        );
        let second = t.read_at(t0 + Duration::from_millis(500)).unwrap();
        let w = second.power_w.unwrap();
        assert!((w - 524_306.0).abs() < 1e-6, "{w}");
        // (1500 + 2000 + 1000) / 3 = 1500 MHz.
        assert_eq!(second.sm_mhz, Some(1500.0));
        // A plain 0.5 s later with no wrap: package 0 +2 J, package 1 +1 J → 3 J / 0.5 s = 6 W.
        write(
            root,
            "devices/virtual/powercap/intel-rapl/intel-rapl:0/energy_uj",
            "13000000",
        );
        write(
            root,
            "devices/virtual/powercap/intel-rapl/intel-rapl:1/energy_uj",
            "5671150",
        );
        let third = t.read_at(t0 + Duration::from_millis(1000)).unwrap();
        assert_eq!(third.power_w, Some(6.0));
    }

    #[test]
    fn links_are_not_followed_and_an_empty_tree_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "elsewhere/scaling_cur_freq", "2400000");
        write(
            root,
            "devices/system/cpu/cpufreq/policy0/affected_cpus",
            "0",
        );
        std::os::unix::fs::symlink(
            root.join("elsewhere/scaling_cur_freq"),
            root.join("devices/system/cpu/cpufreq/policy0/scaling_cur_freq"),
        )
        .unwrap();
        fs::create_dir_all(root.join("devices/virtual/thermal")).unwrap();
        std::os::unix::fs::symlink(
            root.join("elsewhere"),
            root.join("devices/virtual/thermal/thermal_zone0"),
        )
        .unwrap();
        write(root, "elsewhere/temp", "50000");
        let t = CpuTelemetry::at(root, &[]);
        assert_eq!(t.source(), TelemetrySource::None);
        assert_eq!(t.read(), None);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(CpuTelemetry::at(empty.path(), &[]).read(), None);
    }

    #[test]
    fn a_cpu_hwmon_sensor_is_found_through_its_class_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // k10temp (AMD): no x86_pkg_temp zone; the hwmon class link leads to the PCI device.
        write(
            root,
            "devices/pci0000:00/0000:00:18.3/hwmon/hwmon1/name",
            "k10temp",
        );
        write(
            root,
            "devices/pci0000:00/0000:00:18.3/hwmon/hwmon1/temp1_input",
            "48250",
        );
        write(root, "devices/virtual/thermal/thermal_zone0/type", "acpitz");
        write(root, "devices/virtual/thermal/thermal_zone0/temp", "20000");
        fs::create_dir_all(root.join("class/hwmon")).unwrap();
        std::os::unix::fs::symlink(
            "../../devices/pci0000:00/0000:00:18.3/hwmon/hwmon1",
            root.join("class/hwmon/hwmon1"),
        )
        .unwrap();
        // A link out of the tree is refused.
        std::os::unix::fs::symlink("../../../../etc", root.join("class/hwmon/hwmon2")).unwrap();
        let t = CpuTelemetry::at(root, &[]);
        assert_eq!(t.read().unwrap().temp_c, Some(48.25));
        assert_eq!(
            resolve_devices_link(
                root,
                &root.join("class/hwmon"),
                Path::new("../../../../etc")
            ),
            None
        );
    }

    #[test]
    fn many_policies_are_spread() {
        // 100 policies over a cap of 32: step ⌈100 / 32⌉ = 4, keeping 0, 4, …, 96: 25.
        let kept = spread((0..100).collect(), MAX_POLICIES);
        assert_eq!(kept.len(), 25);
        assert_eq!((kept[0], kept[1], kept[24]), (0, 4, 96));
        assert_eq!(spread(vec![1, 2], 32), vec![1, 2]);
    }
}
