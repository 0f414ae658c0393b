//! Libraries loaded at run time (the CUDA and ROCm backends'), and the environment variables
//! that replace their lists of names: a `:`-separated list of file names or paths, for
//! installs outside the usual places, and for tests that must see a library missing (on a GPU
//! node as on a laptop). An unset or empty variable means the defaults.

use std::path::Path;

use libloading::Library;

/// The library files to try for one library, and whether a variable chose them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidates {
    /// File names or paths, in order.
    pub names: Vec<String>,
    /// The variable whose value these are; `None` = the built-in defaults.
    pub from_env: Option<&'static str>,
}

impl Candidates {
    /// `value` (the variable `env`'s value)'s `:`-separated entries when it has any, else
    /// `defaults`.
    pub fn from_value(env: &'static str, value: Option<&str>, defaults: Vec<String>) -> Candidates {
        let listed: Vec<String> = value
            .unwrap_or("")
            .split(':')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .collect();
        if listed.is_empty() {
            Candidates {
                names: defaults,
                from_env: None,
            }
        } else {
            Candidates {
                names: listed,
                from_env: Some(env),
            }
        }
    }

    /// What the variable `env` says now, else `defaults`.
    pub fn from_env(env: &'static str, defaults: &[&str]) -> Candidates {
        let value = std::env::var(env).ok();
        Candidates::from_value(
            env,
            value.as_deref(),
            defaults.iter().map(|s| s.to_string()).collect(),
        )
    }

    /// The sentence for a library none of these names loaded: `<what> not found (looked for
    /// …)`, naming the variable when it chose the list, and the loader's reason for any
    /// named file that exists but would not load.
    pub fn not_found(&self, what: &str, load_errors: &[String]) -> String {
        let origin = match self.from_env {
            Some(env) => format!(", from {env}"),
            None => String::new(),
        };
        let errors = if load_errors.is_empty() {
            String::new()
        } else {
            format!("; {}", load_errors.join("; "))
        };
        format!(
            "{what} not found (looked for {}{origin}){errors}",
            self.names.join(", ")
        )
    }

    /// Opens the first name that loads; the error is [`Candidates::not_found`].
    pub fn open_first(&self, what: &str) -> Result<(Library, String), String> {
        let mut errors = Vec::new();
        for name in &self.names {
            match open(name) {
                Ok(lib) => return Ok((lib, name.clone())),
                Err(e) => errors.extend(e),
            }
        }
        Err(self.not_found(what, &errors))
    }
}

/// Loads one library file. The error is `Some(reason)` only when `name` is a path to a file
/// that exists (a missing file is the normal "not here"; a present one that fails to load,
/// for a missing dependency or the wrong architecture, deserves its reason).
pub fn open(name: &str) -> Result<Library, Option<String>> {
    // SAFETY: loading a vendor library runs its initialisers, which need nothing from us.
    unsafe { Library::new(name) }.map_err(|e| {
        (name.contains('/') && Path::new(name).exists()).then(|| format!("{name}: {}", reason(&e)))
    })
}

/// An error with its causes (libloading's `dlopen failed` carries dlerror's text as its
/// source), `: `-separated.
pub fn reason(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIP_ENV: &str = "HOTPATH_HIP_LIBRARY";
    const HIPRTC_ENV: &str = "HOTPATH_HIPRTC_LIBRARY";

    fn defaults() -> Vec<String> {
        vec!["liba.so".to_string(), "/opt/x/liba.so".to_string()]
    }

    #[test]
    fn the_variable_replaces_the_defaults_only_when_it_names_something() {
        let c = Candidates::from_value(HIP_ENV, None, defaults());
        assert_eq!((c.names, c.from_env), (defaults(), None));
        let c = Candidates::from_value(HIP_ENV, Some("  "), defaults());
        assert_eq!((c.names, c.from_env), (defaults(), None));
        let c = Candidates::from_value(HIP_ENV, Some("/a/libamdhip64.so::b.so "), defaults());
        assert_eq!(c.names, vec!["/a/libamdhip64.so", "b.so"]);
        assert_eq!(c.from_env, Some("HOTPATH_HIP_LIBRARY"));
    }

    #[test]
    fn a_missing_library_names_everything_tried_and_where_the_list_came_from() {
        let c = Candidates::from_value(HIP_ENV, None, vec!["libdefinitely-not-here.so".into()]);
        assert_eq!(
            c.open_first("HIP runtime").err().unwrap(),
            "HIP runtime not found (looked for libdefinitely-not-here.so)"
        );
        let c = Candidates::from_value(
            HIPRTC_ENV,
            Some("/nope/libhiprtc.so:/nope/libamdhip64.so"),
            defaults(),
        );
        assert_eq!(
            c.open_first("hipRTC").err().unwrap(),
            "hipRTC not found (looked for /nope/libhiprtc.so, /nope/libamdhip64.so, from HOTPATH_HIPRTC_LIBRARY)"
        );
    }

    #[test]
    fn a_file_that_exists_but_is_no_library_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libamdhip64.so");
        std::fs::write(&fake, "not an ELF file").unwrap();
        let path = fake.display().to_string();
        let c = Candidates::from_value(HIP_ENV, Some(&path), defaults());
        let err = c.open_first("HIP runtime").err().unwrap();
        assert!(
            err.starts_with(&format!(
                "HIP runtime not found (looked for {path}, from HOTPATH_HIP_LIBRARY); {path}: "
            )),
            "{err}"
        );
        // dlerror's own words, not only libloading's "dlopen failed".
        assert!(err.contains("file too short"), "{err}");
    }
}
