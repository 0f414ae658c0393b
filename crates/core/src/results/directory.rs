//! A directory of results files from successive runs (what `scripts/nightly.sh` keeps), read
//! safely: regular files only, never a link.

use std::path::Path;

use super::ResultsFile;
use crate::error::{Error, Result};

/// Every results file (`*.json`, not hidden) directly in `dir`, read and sorted by creation
/// time, then name. A file that is not a results file is an error naming it. Only regular
/// files are read: a symbolic link (or anything else) in `dir` is skipped, never followed,
/// since hotpath may run as root in a directory that others can write.
pub fn read_dir(dir: &Path) -> Result<Vec<(String, ResultsFile)>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Error::bad_input(format!(
            "--history {} cannot be read ({e}); give the directory nightly.sh writes, such as results/history",
            dir.display()
        ))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        // DirEntry::file_type does not follow a symbolic link: a link is not a file here.
        if !entry
            .file_type()
            .map_err(|e| Error::io(&path, e))?
            .is_file()
        {
            continue;
        }
        files.push((name, read_regular(&path)?));
    }
    if files.is_empty() {
        return Err(Error::bad_input(format!(
            "--history {} holds no results files (*.json)",
            dir.display()
        )));
    }
    files.sort_by(|a, b| (&a.1.created, &a.0).cmp(&(&b.1.created, &b.0)));
    Ok(files)
}

/// Reads a results file that was a regular file when listed, without following a link put
/// in its place since (`O_NOFOLLOW`) and without blocking on a FIFO (`O_NONBLOCK`).
fn read_regular(path: &Path) -> Result<ResultsFile> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    if !f.metadata().map_err(|e| Error::io(path, e))?.is_file() {
        return Err(Error::bad_input(format!(
            "{} is not a regular file; a history directory holds results files",
            path.display()
        )));
    }
    let mut text = String::new();
    f.read_to_string(&mut text)
        .map_err(|e| Error::io(path, e))?;
    ResultsFile::parse(&text, &path.display().to_string())
}
