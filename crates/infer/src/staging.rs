//! A directory written beside its destination under a scratch name and
//! renamed into place once whole (`infer export --format web`, `infer
//! committee`), so that the destination appears whole or not at all. A
//! writer that is killed leaves its scratch directory behind; the next
//! writer into the same place removes it, unless a live writer still holds
//! it (each holds a lock on its own while it lives).

use std::fs::File;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// `.<name>.XXXXXX` beside the destination, locked while this lives.
pub struct Staging {
    dir: TempDir,
    _lock: File,
}

impl Staging {
    /// A new scratch directory beside `out` (named after it, or `fallback`
    /// when `out` has no file name), once the ones killed writers left
    /// there are removed: `.<name>.*`, and any directory starting with one
    /// of `also` (older names of the same thing).
    pub fn beside(out: &Path, fallback: &str, also: &[&str]) -> std::io::Result<Self> {
        let parent = match out.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = out.file_name().map(|n| n.to_string_lossy().into_owned());
        let prefix = format!(".{}.", name.as_deref().unwrap_or(fallback));
        let mut prefixes = vec![prefix.as_str()];
        prefixes.extend_from_slice(also);
        remove_abandoned(parent, &prefixes)?;
        let dir = tempfile::Builder::new()
            .prefix(&prefix)
            .tempdir_in(parent)?;
        let lock = lock_dir(dir.path())?.expect("a directory just made is nobody else's");
        Ok(Self { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Leaves the directory on disk (it has been renamed into place, or the
    /// caller removes what is now at its path) and releases the lock.
    pub fn keep(self) -> PathBuf {
        self.dir.keep()
    }
}

/// Removes every directory in `parent` whose name starts with one of
/// `prefixes`, unless a live writer holds its lock.
fn remove_abandoned(parent: &Path, prefixes: &[&str]) -> std::io::Result<()> {
    for entry in std::fs::read_dir(parent)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = prefixes.iter().any(|prefix| name.starts_with(prefix));
        if !ours || !entry.file_type()?.is_dir() {
            continue;
        }
        if let Some(_lock) = lock_dir(&entry.path())? {
            std::fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

/// An exclusive lock on the directory `dir` (released when the file is
/// dropped, or by the system when the process dies); `None` if another
/// process holds it.
fn lock_dir(dir: &Path) -> std::io::Result<Option<File>> {
    let file = File::open(dir)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(error)) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abandoned_staging_is_removed_and_a_live_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            ".site.dead01",
            ".replaced.dead02",
            ".site.live03",
            ".other.keep04",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let live = lock_dir(&dir.path().join(".site.live03")).unwrap().unwrap();
        let staging = Staging::beside(&dir.path().join("site"), "x", &[".replaced."]).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !staging.path().ends_with(name))
            .collect();
        left.sort();
        assert_eq!(left, [".other.keep04", ".site.live03"]);
        assert!(
            staging
                .path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".site.")
        );
        drop(live);
    }
}
