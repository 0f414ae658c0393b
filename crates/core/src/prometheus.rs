//! The Prometheus text exposition format (version 0.0.4), as node_exporter's textfile
//! collector reads it: `# HELP` and `# TYPE` once per metric family, then its samples, each
//! `name{label="value",...} number`. Names, label names and label values are checked or
//! escaped here, so no report can write a line a scraper rejects.
//!
//! Every family hotpath writes is a gauge (a value read at one time, not a counter), named
//! with its unit in base units and plural (`_bytes_per_second`, `_seconds`, `_ratio`) as
//! Prometheus' naming conventions ask.

use std::fmt::Write;

/// One metric family: a name, its help text and its samples.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    name: String,
    help: String,
    samples: Vec<(Vec<(String, String)>, f64)>,
}

/// A set of metric families, written in the order they were first asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    families: Vec<Family>,
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting `__`).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label value escaped for the text format: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Help text escaped for the text format: `\` → `\\`, newline → `\n`.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as the text format writes it (`NaN`, `+Inf`, `-Inf`, or the shortest
/// decimal that reads back to the same f64).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v:?}")
    }
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Adds one sample of gauge `name` (help `help`, given the first time) with `labels`.
    /// Panics in debug builds on a name or label name that is not valid: those are the
    /// program's own constants, never input.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        debug_assert!(valid_metric_name(name), "metric name {name}");
        debug_assert!(
            labels.iter().all(|(k, _)| valid_label_name(k)),
            "{labels:?}"
        );
        let i = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Family {
                    name: name.to_string(),
                    help: help.to_string(),
                    samples: Vec::new(),
                });
                self.families.len() - 1
            }
        };
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.families[i].samples.push((labels, value));
    }

    /// How many samples there are, over every family.
    pub fn len(&self) -> usize {
        self.families.iter().map(|f| f.samples.len()).sum()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text, every family's HELP and TYPE lines before its samples, ending in a newline.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for f in &self.families {
            let _ = writeln!(s, "# HELP {} {}", f.name, escape_help(&f.help));
            let _ = writeln!(s, "# TYPE {} gauge", f.name);
            for (labels, v) in &f.samples {
                s.push_str(&f.name);
                if !labels.is_empty() {
                    let inner: Vec<String> = labels
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
                        .collect();
                    let _ = write!(s, "{{{}}}", inner.join(","));
                }
                let _ = writeln!(s, " {}", format_value(*v));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_written_once_with_their_samples_in_order() {
        let mut e = Exposition::new();
        e.gauge("hp_a_ratio", "first", &[("node", "n1")], 0.5);
        e.gauge("hp_b_seconds", "second", &[], 2.0);
        e.gauge("hp_a_ratio", "ignored", &[("node", "n2")], 1.0);
        assert_eq!(e.len(), 3);
        assert_eq!(
            e.render(),
            "# HELP hp_a_ratio first\n# TYPE hp_a_ratio gauge\nhp_a_ratio{node=\"n1\"} 0.5\n\
             hp_a_ratio{node=\"n2\"} 1.0\n# HELP hp_b_seconds second\n# TYPE hp_b_seconds gauge\n\
             hp_b_seconds 2.0\n"
        );
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
        let mut e = Exposition::new();
        e.gauge("m", "h", &[("detail", "say \"hi\"\n")], 1.0);
        assert!(e.render().contains("m{detail=\"say \\\"hi\\\"\\n\"} 1.0\n"));
    }

    #[test]
    fn values_use_the_formats_special_names_and_read_back() {
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(4.8e12), "4800000000000.0");
        for v in [0.1, 1e-300, 123456.789, 4.8e12, 1e22] {
            assert_eq!(format_value(v).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_metric_name("hotpath_validate_check"));
        assert!(valid_metric_name("a:b_c9"));
        assert!(!valid_metric_name("9a"));
        assert!(!valid_metric_name("a-b"));
        assert!(!valid_metric_name(""));
        assert!(valid_label_name("node"));
        assert!(!valid_label_name("__name"));
        assert!(!valid_label_name("a:b"));
    }
}
