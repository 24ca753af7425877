//! Crash-safe file writes (temp file in the same folder, write, fsync, rename, fsync the folder)
//! and the names of the files that sit beside a state file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// `<path><suffix>`: the journal, lock, backup and history files beside a state file
/// (`flexform.state.json.journal`, …).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The folder holding `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes` atomically and durably. A reader sees the old content or the
/// new, never a mix; after return, the new content survives a power cut. A new file gets
/// `mode` (e.g. 0o600) when given; an existing file keeps its permissions.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    write_atomic_around(path, bytes, mode, || {}, || {})
}

/// [`write_atomic`], calling `before_rename` when the new content is durable in the temporary
/// file and `after_rename` right after the rename (before the folder is synced): where the
/// caller puts its named crash points (`state::file::before_rename`, …).
pub fn write_atomic_around(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    before_rename: impl FnOnce(),
    after_rename: impl FnOnce(),
) -> std::io::Result<()> {
    let dir = parent_dir(path);
    let existing = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            path.file_name()
                .map_or_else(|| "flexform".into(), |n| n.to_string_lossy())
        ))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    match (existing, mode) {
        (Some(permissions), _) => tmp.as_file().set_permissions(permissions)?,
        (None, Some(mode)) => set_mode(tmp.as_file(), mode)?,
        (None, None) => set_mode(tmp.as_file(), 0o644)?,
    }
    tmp.as_file().sync_all()?;
    before_rename();
    tmp.persist(path).map_err(|e| e.error)?;
    after_rename();
    sync_dir(dir)
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_sets_mode_of_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        write_atomic(&path, b"one", Some(0o600)).unwrap();
        write_atomic(&path, b"two", Some(0o600)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temp files left behind");
    }

    #[test]
    fn siblings_and_parents() {
        assert_eq!(
            sibling(Path::new("d/s.json"), ".journal"),
            PathBuf::from("d/s.json.journal")
        );
        assert_eq!(parent_dir(Path::new("s.json")), Path::new("."));
        assert_eq!(parent_dir(Path::new("d/s.json")), Path::new("d"));
    }
}
