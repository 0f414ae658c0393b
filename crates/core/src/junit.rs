//! JUnit XML, as CI dashboards read it (Jenkins, GitLab, GitHub test reporters), valid against
//! the Apache Ant JUnit schema (`tests/fixtures/junit/JUnit.xsd`, the strictest of the
//! schemas in use): a `<testsuites>` of `<testsuite>`s, each with its `<properties>`, its
//! `<testcase>`s (each passed, `<failure>`, `<error>` or `<skipped>`), `<system-out>` and
//! `<system-err>`.

use std::fmt::Write;

/// How one test case ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Passed.
    Passed,
    /// Failed: `kind` is a stable code (`HP208`, `regression`), `message` the one-sentence
    /// reason, `text` more detail (values, thresholds).
    Failed {
        /// The failure's type attribute.
        kind: String,
        /// The reason in one sentence.
        message: String,
        /// Further detail.
        text: String,
    },
    /// Could not be judged because something went wrong around it.
    Error {
        /// The error's type attribute.
        kind: String,
        /// The reason in one sentence.
        message: String,
    },
    /// Not run or not applicable here.
    Skipped {
        /// Why.
        message: String,
    },
}

/// One test case.
#[derive(Clone, Debug, PartialEq)]
pub struct TestCase {
    /// What was tested (`health/pcie_width`, a benchmark id).
    pub name: String,
    /// Where it belongs (`n1.cuda0.health`); dashboards group by it.
    pub classname: String,
    /// Seconds it took (0 when not timed on its own).
    pub time_s: f64,
    /// How it ended.
    pub outcome: Outcome,
}

impl TestCase {
    /// A case not timed on its own (`time_s` 0), as a check or a comparison row is.
    pub fn untimed(
        name: impl Into<String>,
        classname: impl Into<String>,
        outcome: Outcome,
    ) -> Self {
        TestCase {
            name: name.into(),
            classname: classname.into(),
            time_s: 0.0,
            outcome,
        }
    }
}

/// One test suite.
#[derive(Clone, Debug, PartialEq)]
pub struct TestSuite {
    /// Its name.
    pub name: String,
    /// When it ran: RFC 3339 UTC (`2026-12-05T10:00:00Z`); written without the zone, as
    /// the schema asks.
    pub timestamp: String,
    /// The host it ran on.
    pub hostname: String,
    /// Seconds it took.
    pub time_s: f64,
    /// Name and value pairs (how it was measured, the build).
    pub properties: Vec<(String, String)>,
    /// Its cases.
    pub cases: Vec<TestCase>,
    /// Text for `<system-out>` (notes, warnings).
    pub system_out: String,
}

/// Text escaped for XML content and attribute values; characters XML 1.0 cannot hold
/// (control characters but tab, newline and carriage return) become `?`.
pub fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            '\t' | '\n' | '\r' => s.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => s.push('?'),
            c => s.push(c),
        }
    }
    s
}

/// Seconds as the schema's `xs:decimal` (no exponent; 0 for a value that is not finite or
/// negative).
fn seconds(t: f64) -> String {
    format!("{:.3}", if t.is_finite() && t > 0.0 { t } else { 0.0 })
}

/// `2026-12-05T10:00:00` from an RFC 3339 time; `1970-01-01T00:00:00` when it is not one.
fn timestamp(rfc3339: &str) -> String {
    let head: String = rfc3339.chars().take(19).collect();
    let shape = "dddd-dd-ddTdd:dd:dd";
    let ok = head.len() == 19
        && head.chars().zip(shape.chars()).all(|(c, s)| match s {
            'd' => c.is_ascii_digit(),
            s => c == s,
        });
    if ok {
        head
    } else {
        "1970-01-01T00:00:00".to_string()
    }
}

impl TestSuite {
    fn count(&self, pick: fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|c| pick(&c.outcome)).count()
    }
}

/// The document: `<testsuites>` holding `suites`, each numbered from 0 (`id`) with `package`
/// `package`.
pub fn render(package: &str, suites: &[TestSuite]) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for (id, suite) in suites.iter().enumerate() {
        let failures = suite.count(|o| matches!(o, Outcome::Failed { .. }));
        let errors = suite.count(|o| matches!(o, Outcome::Error { .. }));
        let skipped = suite.count(|o| matches!(o, Outcome::Skipped { .. }));
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" package=\"{}\" id=\"{id}\" timestamp=\"{}\" hostname=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
            escape(&suite.name),
            escape(package),
            timestamp(&suite.timestamp),
            escape(if suite.hostname.is_empty() { "localhost" } else { &suite.hostname }),
            suite.cases.len(),
            seconds(suite.time_s)
        );
        s.push_str("    <properties>\n");
        for (k, v) in suite
            .properties
            .iter()
            .filter(|(k, _)| !k.trim().is_empty())
        {
            let _ = writeln!(
                s,
                "      <property name=\"{}\" value=\"{}\"/>",
                escape(k),
                escape(v)
            );
        }
        s.push_str("    </properties>\n");
        for c in &suite.cases {
            let open = format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
                escape(&c.name),
                escape(&c.classname),
                seconds(c.time_s)
            );
            match &c.outcome {
                Outcome::Passed => {
                    let _ = writeln!(s, "{open}/>");
                }
                Outcome::Failed {
                    kind,
                    message,
                    text,
                } => {
                    let _ = writeln!(
                        s,
                        "{open}>\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                        escape(kind),
                        escape(message),
                        escape(text)
                    );
                }
                Outcome::Error { kind, message } => {
                    let _ = writeln!(
                        s,
                        "{open}>\n      <error type=\"{}\" message=\"{}\"/>\n    </testcase>",
                        escape(kind),
                        escape(message)
                    );
                }
                Outcome::Skipped { message } => {
                    let _ = writeln!(
                        s,
                        "{open}>\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(message)
                    );
                }
            }
        }
        let _ = writeln!(
            s,
            "    <system-out>{}</system-out>\n    <system-err></system-err>\n  </testsuite>",
            escape(&suite.system_out)
        );
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, outcome: Outcome) -> TestCase {
        TestCase::untimed(name, "n1.cpu0.perf", outcome)
    }

    #[test]
    fn a_suite_is_written_with_its_counts_and_every_outcome() {
        let suite = TestSuite {
            name: "validate n1 cpu:0".into(),
            timestamp: "2026-12-05T10:11:12Z".into(),
            hostname: "n1".into(),
            time_s: 2.5,
            properties: vec![("level".into(), "quick".into())],
            cases: vec![
                case("perf/copy", Outcome::Passed),
                case(
                    "health/pcie_width",
                    Outcome::Failed {
                        kind: "HP208".into(),
                        message: "x8 of x16 <lanes>".into(),
                        text: "value 8".into(),
                    },
                ),
                case(
                    "device/open",
                    Outcome::Error {
                        kind: "HP101".into(),
                        message: "no".into(),
                    },
                ),
                case(
                    "health/ecc_mode",
                    Outcome::Skipped {
                        message: "n/a".into(),
                    },
                ),
            ],
            system_out: "WARN a & b".into(),
        };
        let xml = render("hotpath.validate", &[suite]);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"validate n1 cpu:0\" package=\"hotpath.validate\" id=\"0\" timestamp=\"2026-12-05T10:11:12\" hostname=\"n1\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\" time=\"2.500\">\n    <properties>\n      <property name=\"level\" value=\"quick\"/>\n    </properties>\n    <testcase name=\"perf/copy\" classname=\"n1.cpu0.perf\" time=\"0.000\"/>\n    <testcase name=\"health/pcie_width\" classname=\"n1.cpu0.perf\" time=\"0.000\">\n      <failure type=\"HP208\" message=\"x8 of x16 &lt;lanes&gt;\">value 8</failure>\n    </testcase>\n    <testcase name=\"device/open\" classname=\"n1.cpu0.perf\" time=\"0.000\">\n      <error type=\"HP101\" message=\"no\"/>\n    </testcase>\n    <testcase name=\"health/ecc_mode\" classname=\"n1.cpu0.perf\" time=\"0.000\">\n      <skipped message=\"n/a\"/>\n    </testcase>\n    <system-out>WARN a &amp; b</system-out>\n    <system-err></system-err>\n  </testsuite>\n</testsuites>\n"
        );
    }

    #[test]
    fn text_is_escaped_and_times_are_decimals() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(escape("bell\u{7}"), "bell?");
        assert_eq!(escape("tab\tnl\n"), "tab\tnl\n");
        assert_eq!(seconds(1e-9), "0.000");
        assert_eq!(seconds(f64::NAN), "0.000");
        assert_eq!(seconds(1234.5678), "1234.568");
        assert_eq!(
            timestamp("2026-12-05T10:11:12+00:00"),
            "2026-12-05T10:11:12"
        );
        assert_eq!(timestamp("yesterday"), "1970-01-01T00:00:00");
    }
}
