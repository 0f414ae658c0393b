//! Every document a source file cites is in the repository: a path ending in `.md` under
//! `docs/`, or a README next to the code, never a note kept elsewhere. Names the files a run
//! writes (`report.md`, `history.md`) are outputs, not citations, and carry no directory
//! the repository holds.

use std::path::{Path, PathBuf};

/// The folders whose files may cite documents.
const ROOTS: &[&str] = &[
    "crates", "src", "tests", "hardware", "kernels", "scripts", "tools", "benches", ".ci",
];
/// File kinds that are source, data or scripts.
const KINDS: &[&str] = &["rs", "toml", "sh", "py", "cu", "cuh", "cpp", "h", "sbatch"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            files(&p, out);
        } else if t.is_file()
            && p.extension()
                .is_some_and(|x| KINDS.contains(&x.to_string_lossy().as_ref()))
        {
            out.push(p);
        }
    }
}

/// The `.md` paths cited in `text`: runs of path characters ending in `.md`, upper-case
/// names (`ARCHITECTURE.md`) and paths with a folder (`docs/floors.md`).
fn citations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let is_path = |c: char| c.is_ascii_alphanumeric() || "_./-".contains(c);
    for (i, _) in text.match_indices(".md") {
        let end = i + 3;
        if text[end..].chars().next().is_some_and(is_path) {
            continue;
        }
        let start = text[..i]
            .char_indices()
            .rev()
            .find(|&(_, c)| !is_path(c))
            .map_or(0, |(j, c)| j + c.len_utf8());
        let cited = &text[start..end];
        let stem = cited.rsplit('/').next().unwrap_or(cited);
        let upper = stem[..stem.len() - 3]
            .chars()
            .any(|c| c.is_ascii_uppercase());
        if cited.contains('/') || upper {
            out.push(cited.to_string());
        }
    }
    out
}

#[test]
fn every_cited_document_is_in_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for r in ROOTS {
        files(&root.join(r), &mut all);
    }
    assert!(all.len() > 100, "found only {} files", all.len());
    let mut missing = Vec::new();
    for f in &all {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for c in citations(&text) {
            let dir = f.parent().unwrap_or(root);
            let found = [root.join(&c), dir.join(&c), root.join("docs").join(&c)]
                .iter()
                .any(|p| p.is_file());
            // Paths a run writes into its output directory are not citations.
            let output = [
                "report.md",
                "history.md",
                "-ab.md",
                "name.md",
                "peers-table.md",
            ]
            .iter()
            .any(|o| c.ends_with(o) && !c.starts_with("docs/"));
            if !found && !output {
                missing.push(format!(
                    "{}: {c}",
                    f.strip_prefix(root).unwrap_or(f).display()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "documents cited but not in the repository: {missing:#?}"
    );
}

#[test]
fn citations_are_found_in_text() {
    let text = "see ARCHITECTURE.md and docs/floors.md; writes report.md (kernels/README.md).";
    assert_eq!(
        citations(text),
        ["ARCHITECTURE.md", "docs/floors.md", "kernels/README.md"]
    );
}
