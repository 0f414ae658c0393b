//! The real parsers of hotpath's machine-read outputs, for tests: Prometheus' own
//! `promtool check metrics` (parse and lint of the text exposition format) and libxml2's
//! `xmllint --schema` against the JUnit schema in `tests/fixtures/junit/`.
//!
//! A tool that is not installed skips the check with a note on stderr, so `cargo test` runs
//! on a bare clone; under `CI=true` it is an error (.ci/run installs both through
//! scripts/ci-setup.sh).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which parser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parser {
    /// `promtool check metrics` (text on stdin).
    Promtool,
    /// `xmllint --noout --schema <JUnit.xsd>` (text on stdin).
    JunitSchema,
}

/// The JUnit schema, from the repository root.
pub fn junit_schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/junit/JUnit.xsd")
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Where the parser's program is: `PROMTOOL` / `XMLLINT` when set, then (promtool) the copy
/// scripts/ci-setup.sh extracts under `~/.cache/hotpath/promtool`, then `PATH`.
pub fn program(parser: Parser) -> Option<PathBuf> {
    let (var, name) = match parser {
        Parser::Promtool => ("PROMTOOL", "promtool"),
        Parser::JunitSchema => ("XMLLINT", "xmllint"),
    };
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    if parser == Parser::Promtool {
        if let Some(home) = std::env::var_os("HOME") {
            let p = Path::new(&home).join(".cache/hotpath/promtool/usr/bin/promtool");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    on_path(name)
}

/// Runs the parser on `text`: `None` when the parser is not installed, else whether it
/// accepted the text, with its output when it did not.
pub fn run(parser: Parser, text: &str) -> Option<Result<(), String>> {
    let program = program(parser)?;
    let mut cmd = Command::new(&program);
    match parser {
        Parser::Promtool => cmd.args(["check", "metrics"]),
        Parser::JunitSchema => cmd
            .args(["--noout", "--schema"])
            .arg(junit_schema())
            .arg("-"),
    };
    let child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Some(Err(format!("{} did not start: {e}", program.display()))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        if let Err(e) = stdin.write_all(text.as_bytes()) {
            return Some(Err(format!("cannot write to {}: {e}", program.display())));
        }
    }
    match child.wait_with_output() {
        Ok(out) if out.status.success() => Some(Ok(())),
        Ok(out) => Some(Err(format!(
            "{} exited {}: {}{}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))),
        Err(e) => Some(Err(format!("{} failed: {e}", program.display()))),
    }
}

/// Whether a missing parser fails the test (`CI=true`).
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Panics unless the parser accepts `text` (skips with a note when it is not installed,
/// except under CI).
pub fn assert_valid(parser: Parser, text: &str) {
    match run(parser, text) {
        Some(Ok(())) => {}
        Some(Err(e)) => panic!("{parser:?} rejected the text: {e}\n--- text ---\n{text}"),
        None if required() => {
            panic!("{parser:?} is not installed; scripts/ci-setup.sh installs it")
        }
        None => eprintln!("note: {parser:?} is not installed; the check was skipped"),
    }
}

/// Panics if the parser accepts `text` (the negative control that shows the check can
/// fail); skips like [`assert_valid`].
pub fn assert_invalid(parser: Parser, text: &str) {
    match run(parser, text) {
        Some(Ok(())) => panic!("{parser:?} accepted a text it must reject:\n{text}"),
        Some(Err(_)) => {}
        None if required() => {
            panic!("{parser:?} is not installed; scripts/ci-setup.sh installs it")
        }
        None => eprintln!("note: {parser:?} is not installed; the check was skipped"),
    }
}
