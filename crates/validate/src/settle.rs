//! Settled before measured: before each timed benchmark (the performance checks, their
//! reference ceilings and the sustained loads) `hotpath validate` reads the health source
//! until the device has settled from the previous load, for at most [`SettleRule::max_wait_s`].
//!
//! A series of readings is **settled** ([`judge`]) when the latest reading shows no thermal
//! or power throttle reason ([`BLOCKING`]) and either
//! - the device is back at idle clocks (NVML's `gpu_idle` reason in the latest reading), or
//! - the temperature moved less than [`SettleRule::tolerance_c`] (1 °C) over the last
//!   [`SettleRule::window_s`] (2 s) of readings, every one of them readable.
//!
//! When neither temperature nor throttle reasons are readable the state cannot be told: the
//! wait ends at once and the record says so. When the bound is reached unsettled, the record
//! says why; the check measured next keeps its verdict (the note is not a warning) and its
//! detail says it was measured unsettled. The waiting goes through a [`Clock`], so tests
//! script time instead of sleeping.

use serde::{Deserialize, Serialize};

use super::health::{HealthReadings, HealthSource, IDLE};

/// Throttle reasons that mean the device is still held down by heat or power: while one is
/// active the device has not settled.
pub const BLOCKING: [&str; 5] = [
    "hw_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "sw_thermal_slowdown",
    "sw_power_cap",
];

/// Default bound on one wait on a GPU, seconds.
pub const DEFAULT_MAX_WAIT_S: f64 = 10.0;

/// How long and how closely to wait.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettleRule {
    /// Longest wait before one benchmark, seconds; 0 disables waiting.
    pub max_wait_s: f64,
    /// Seconds of readings over which the temperature must hold still.
    pub window_s: f64,
    /// The temperature holds still when it moves less than this over the window, °C.
    pub tolerance_c: f64,
    /// Seconds between readings while waiting.
    pub interval_s: f64,
}

impl SettleRule {
    /// Waits of at most `max_wait_s` seconds (0 disables), with the 2 s, 1 °C window read
    /// every 0.25 s.
    pub fn bounded(max_wait_s: f64) -> SettleRule {
        SettleRule {
            max_wait_s,
            window_s: 2.0,
            tolerance_c: 1.0,
            interval_s: 0.25,
        }
    }

    /// Whether waiting is on.
    pub fn enabled(&self) -> bool {
        self.max_wait_s > 0.0
    }
}

/// One reading of the series, `t_s` seconds after the wait began.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Seconds since the wait began.
    pub t_s: f64,
    /// What was read.
    pub readings: HealthReadings,
}

/// What a series of readings says about the device.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    /// Settled, and why (`back at idle clocks`, `temperature within 0 C over 2 s`).
    Settled(String),
    /// Not settled yet, and why.
    NotYet(String),
    /// Neither temperature nor throttle reasons are readable: settling cannot be told.
    Unreadable,
}

/// Whether the device has settled, from `series` (readings in time order, the latest last),
/// by the rule in the module's documentation.
pub fn judge(series: &[Point], rule: &SettleRule) -> State {
    let Some(last) = series.last() else {
        return State::NotYet("no reading yet".into());
    };
    let reasons = last.readings.throttle_reasons.as_ref();
    let blocking: Vec<&str> = reasons
        .into_iter()
        .flatten()
        .map(String::as_str)
        .filter(|n| BLOCKING.contains(n))
        .collect();
    if !blocking.is_empty() {
        return State::NotYet(format!("throttle reason active: {}", blocking.join(", ")));
    }
    if reasons.is_some_and(|v| v.iter().any(|n| n == IDLE)) {
        return State::Settled(
            "back at idle clocks (gpu_idle), no thermal or power throttle".into(),
        );
    }
    let Some(_) = last.readings.temperature_c else {
        return if reasons.is_some() {
            State::NotYet("not idle yet and the temperature is not readable".into())
        } else {
            State::Unreadable
        };
    };
    let from = last.t_s - rule.window_s;
    // The window is covered only when a reading at or before its start exists.
    let covered = series.first().is_some_and(|p| p.t_s <= from + 1e-9);
    let window: Vec<Option<f64>> = series
        .iter()
        .filter(|p| p.t_s >= from - 1e-9)
        .map(|p| p.readings.temperature_c)
        .collect();
    if !covered {
        return State::NotYet(format!(
            "{:.2} s of readings, fewer than the {:.0} s window",
            last.t_s - series[0].t_s,
            rule.window_s
        ));
    }
    let temps: Vec<f64> = window.iter().flatten().copied().collect();
    if temps.len() < window.len() {
        return State::NotYet("a temperature reading in the window was unreadable".into());
    }
    let lo = temps.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = temps.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let moved = hi - lo;
    if moved < rule.tolerance_c {
        State::Settled(format!(
            "temperature within {moved:.1} C over {:.0} s, no thermal or power throttle",
            rule.window_s
        ))
    } else {
        State::NotYet(format!(
            "temperature moved {moved:.1} C ({lo:.0}-{hi:.0} C) over the last {:.0} s",
            rule.window_s
        ))
    }
}

/// How the wait before one benchmark went, kept on the check the benchmark made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettleRecord {
    /// Seconds waited.
    pub waited_s: f64,
    /// True when the device settled, false when the bound was reached first, null when
    /// settling could not be told (nothing readable).
    pub settled: Option<bool>,
    /// Health readings taken while waiting.
    pub readings: usize,
    /// Why, in words.
    pub detail: String,
}

impl SettleRecord {
    /// The words a check's detail gets when its benchmark was measured unsettled or without
    /// knowing; `None` when it was settled.
    pub fn note(&self) -> Option<String> {
        match self.settled {
            Some(true) => None,
            Some(false) => Some(format!("measured unsettled: {}", self.detail)),
            None => Some(format!(
                "measured without knowing it had settled: {}",
                self.detail
            )),
        }
    }
}

/// Time as the wait sees it: the system's, or a scripted one in tests.
pub trait Clock {
    /// Seconds since an arbitrary fixed start.
    fn now_s(&mut self) -> f64;
    /// Waits `seconds`.
    fn sleep(&mut self, seconds: f64);
    /// True once the run is being interrupted (SIGINT/SIGTERM): the wait stops at once.
    fn interrupted(&mut self) -> bool {
        false
    }
}

/// The system's monotonic clock and `std::thread::sleep`.
pub struct SystemClock {
    start: std::time::Instant,
}

impl SystemClock {
    /// A clock starting now.
    pub fn new() -> SystemClock {
        SystemClock {
            start: std::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_s(&mut self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
    fn sleep(&mut self, seconds: f64) {
        if seconds.is_finite() && seconds > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
        }
    }
}

/// Reads `source` every `rule.interval_s` until [`judge`] says settled or unreadable,
/// `rule.max_wait_s` has passed, or the clock says the run is interrupted; `None` when
/// waiting is disabled.
pub fn wait(
    source: &mut dyn HealthSource,
    clock: &mut dyn Clock,
    rule: &SettleRule,
) -> Option<SettleRecord> {
    if !rule.enabled() {
        return None;
    }
    let start = clock.now_s();
    let mut series: Vec<Point> = Vec::new();
    let mut taken = 0;
    loop {
        let readings = source.read();
        taken += 1;
        let t_s = clock.now_s() - start;
        series.push(Point { t_s, readings });
        // Older readings than the window's start (but the latest one at or before it) no
        // longer matter.
        let from = t_s - rule.window_s;
        while series.len() > 1 && series[1].t_s <= from + 1e-9 {
            series.remove(0);
        }
        let record = |settled, detail: String, readings| SettleRecord {
            waited_s: t_s,
            settled,
            readings,
            detail,
        };
        if clock.interrupted() {
            return Some(record(
                Some(false),
                "interrupted while waiting".into(),
                taken,
            ));
        }
        match judge(&series, rule) {
            State::Settled(why) => return Some(record(Some(true), why, taken)),
            State::Unreadable => {
                return Some(record(
                    None,
                    "the health source reads neither temperature nor throttle reasons".into(),
                    taken,
                ))
            }
            State::NotYet(why) if t_s >= rule.max_wait_s => {
                return Some(record(
                    Some(false),
                    format!("not settled after {:.1} s: {why}", rule.max_wait_s),
                    taken,
                ))
            }
            State::NotYet(_) => clock.sleep(rule.interval_s.min(rule.max_wait_s - t_s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::FakeClock;
    use super::*;

    fn reading(temp: Option<f64>, reasons: Option<&[&str]>) -> HealthReadings {
        HealthReadings {
            temperature_c: temp,
            throttle_reasons: reasons.map(|r| r.iter().map(|s| s.to_string()).collect()),
            ..HealthReadings::default()
        }
    }

    /// Readings every 0.5 s from t = 0 with these temperatures and no throttle reason.
    fn temps(ts: &[f64]) -> Vec<Point> {
        ts.iter()
            .enumerate()
            .map(|(i, t)| Point {
                t_s: 0.5 * i as f64,
                readings: reading(Some(*t), Some(&[])),
            })
            .collect()
    }

    fn rule() -> SettleRule {
        SettleRule::bounded(10.0)
    }

    #[test]
    fn idle_clocks_settle_at_once_and_a_power_cap_does_not() {
        let idle = [Point {
            t_s: 0.0,
            readings: reading(Some(80.0), Some(&["gpu_idle"])),
        }];
        assert!(matches!(judge(&idle, &rule()), State::Settled(w) if w.contains("idle")));
        let capped = [Point {
            t_s: 0.0,
            readings: reading(Some(60.0), Some(&["gpu_idle", "sw_power_cap"])),
        }];
        assert_eq!(
            judge(&capped, &rule()),
            State::NotYet("throttle reason active: sw_power_cap".into())
        );
    }

    #[test]
    fn temperature_must_hold_within_1_c_over_2_s() {
        // 0 to 2 s at 70 C: moved 0 C over the covered window.
        assert!(matches!(
            judge(&temps(&[70.0; 5]), &rule()),
            State::Settled(_)
        ));
        // Cooling 0.5 C per 0.5 s: 70 - 68 = 2 C over the window.
        assert_eq!(
            judge(&temps(&[70.0, 69.5, 69.0, 68.5, 68.0]), &rule()),
            State::NotYet("temperature moved 2.0 C (68-70 C) over the last 2 s".into())
        );
        // 0.5 C of wobble is within 1 C.
        assert!(matches!(
            judge(&temps(&[70.0, 70.5, 70.0, 70.5, 70.0]), &rule()),
            State::Settled(_)
        ));
        // Exactly 1 C is not less than 1 C.
        assert!(matches!(
            judge(&temps(&[70.0, 71.0, 71.0, 71.0, 71.0]), &rule()),
            State::NotYet(_)
        ));
        // 1.5 s of readings (t = 0..1.5) do not cover the 2 s window.
        assert!(matches!(
            judge(&temps(&[70.0; 4]), &rule()),
            State::NotYet(w) if w.contains("1.50 s of readings")
        ));
        // The 80 C reading at t = 0 lies before the window [0.5, 2.5]: settled.
        assert!(matches!(
            judge(&temps(&[80.0, 70.0, 70.0, 70.0, 70.0, 70.0]), &rule()),
            State::Settled(_)
        ));
    }

    #[test]
    fn what_cannot_be_read_cannot_settle() {
        let none = [Point {
            t_s: 0.0,
            readings: reading(None, None),
        }];
        assert_eq!(judge(&none, &rule()), State::Unreadable);
        // Throttle reasons readable (not idle), temperature not: not yet, never "settled".
        let busy = [Point {
            t_s: 0.0,
            readings: reading(None, Some(&[])),
        }];
        assert!(matches!(judge(&busy, &rule()), State::NotYet(_)));
        // A gap in the temperature inside the window.
        let mut gap = temps(&[70.0; 5]);
        gap[2].readings.temperature_c = None;
        assert!(matches!(
            judge(&gap, &rule()),
            State::NotYet(w) if w.contains("unreadable")
        ));
    }

    /// Temperatures per read from a list (the last repeated), throttle reasons as given.
    struct Script {
        temps: Vec<f64>,
        reasons: Vec<String>,
        reads: usize,
    }

    impl HealthSource for Script {
        fn describe(&self) -> String {
            "script".into()
        }
        fn kind(&self) -> super::super::health::SourceKind {
            super::super::health::SourceKind::Gpu
        }
        fn read(&mut self) -> HealthReadings {
            let t = self.temps[self.reads.min(self.temps.len() - 1)];
            self.reads += 1;
            HealthReadings {
                temperature_c: Some(t),
                throttle_reasons: Some(self.reasons.clone()),
                ..HealthReadings::default()
            }
        }
    }

    #[test]
    fn the_wait_reads_until_settled_on_a_scripted_clock() {
        // Read k at t = 0.25 k s: 75, 74, 73, 72, 71, then 70 C from k = 5 (t = 1.25 s).
        // At k = 12 (t = 3.0) the window [1.0, 3.0] still holds k = 4 at 71 C: moved 1 C,
        // not settled. At k = 13 (t = 3.25) the window [1.25, 3.25] is all 70 C: settled
        // after 14 readings and 3.25 s.
        let mut src = Script {
            temps: vec![75.0, 74.0, 73.0, 72.0, 71.0, 70.0],
            reasons: vec![],
            reads: 0,
        };
        let mut clock = FakeClock::default();
        let r = wait(&mut src, &mut clock, &rule()).unwrap();
        assert_eq!(r.settled, Some(true), "{}", r.detail);
        assert_eq!((r.waited_s, r.readings), (3.25, 14));
        assert_eq!(r.note(), None);
        assert_eq!(clock.sleeps, 13);
    }

    #[test]
    fn the_wait_is_bounded_and_says_why_it_stopped() {
        // A power cap that never lifts: reads at t = 0, 0.25, ..., 10.0 (41), then stop.
        let mut src = Script {
            temps: vec![65.0],
            reasons: vec!["sw_power_cap".into()],
            reads: 0,
        };
        let mut clock = FakeClock::default();
        let r = wait(&mut src, &mut clock, &rule()).unwrap();
        assert_eq!((r.settled, r.waited_s, r.readings), (Some(false), 10.0, 41));
        assert_eq!(
            r.detail,
            "not settled after 10.0 s: throttle reason active: sw_power_cap"
        );
        assert_eq!(
            r.note().unwrap(),
            "measured unsettled: not settled after 10.0 s: throttle reason active: sw_power_cap"
        );
        // An interrupted run stops waiting after the first reading.
        struct Stopping(FakeClock);
        impl Clock for Stopping {
            fn now_s(&mut self) -> f64 {
                self.0.now_s()
            }
            fn sleep(&mut self, seconds: f64) {
                self.0.sleep(seconds)
            }
            fn interrupted(&mut self) -> bool {
                true
            }
        }
        let r = wait(&mut src, &mut Stopping(FakeClock::default()), &rule()).unwrap();
        assert_eq!((r.settled, r.waited_s, r.readings), (Some(false), 0.0, 1));
        assert_eq!(r.detail, "interrupted while waiting");
        // 0 disables the wait: nothing read, no record.
        let before = src.reads;
        assert_eq!(wait(&mut src, &mut clock, &SettleRule::bounded(0.0)), None);
        assert_eq!(src.reads, before);
        // Nothing readable: one reading, no wait, and the record says it could not tell.
        let mut none = super::super::health::NoHealth {
            kind: super::super::health::SourceKind::Gpu,
            why: "test".into(),
        };
        let r = wait(&mut none, &mut clock, &rule()).unwrap();
        assert_eq!((r.settled, r.waited_s, r.readings), (None, 0.0, 1));
        assert!(r.note().unwrap().starts_with("measured without knowing"));
    }
}
