//! Atomic file writes: a reader sees the old file or the whole new one, never a
//! half-written file, even if the program dies mid-write; and [`exchange`],
//! which swaps two directories so that one replaces the other with no moment
//! where neither is there.

use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` through a temporary file in the same directory, synced
/// to disk, then renamed over `path`. The temporary file is removed on failure.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_via_temporary(path, bytes, true)
}

/// [`write_atomic`] for a file that must not exist yet: fails with
/// [`io::ErrorKind::AlreadyExists`] when `path` exists, checked at the rename
/// itself, so a file that appears meanwhile is not replaced either.
pub fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_via_temporary(path, bytes, false)
}

/// Swaps the directory entries `a` and `b`, which must both exist. On Linux
/// in one step (`renameat2` with `RENAME_EXCHANGE`): a reader or a kill sees
/// one state or the other. Elsewhere by three renames through a name beside
/// `b`, which a kill can interrupt.
pub fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = |path: &Path| {
            CString::new(path.as_os_str().as_bytes())
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))
        };
        let (a, b) = (c(a)?, c(b)?);
        // SAFETY: both are valid NUL-terminated paths that outlive the call;
        // AT_FDCWD makes them relative to the working directory, as std's
        // own rename does.
        let result = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if result == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let mut aside = b.as_os_str().to_owned();
        aside.push(".exchange");
        let aside = std::path::PathBuf::from(aside);
        std::fs::rename(b, &aside)?;
        if let Err(error) = std::fs::rename(a, b) {
            let _ = std::fs::rename(&aside, b);
            return Err(error);
        }
        std::fs::rename(&aside, a)
    }
}

fn write_via_temporary(path: &Path, bytes: &[u8], replace: bool) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    // Temporary files are private (0600) by default; the result is an ordinary
    // file that others may read, as `File::create` would make it under umask 022.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    if replace {
        file.persist(path).map_err(|error| error.error)?;
    } else {
        file.persist_noclobber(path).map_err(|error| error.error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_swaps_two_directories() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for (path, text) in [(&a, "first"), (&b, "second")] {
            std::fs::create_dir(path).unwrap();
            std::fs::write(path.join("f"), text).unwrap();
        }
        exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(a.join("f")).unwrap(), "second");
        assert_eq!(std::fs::read_to_string(b.join("f")).unwrap(), "first");
        let error = exchange(&a, &dir.path().join("absent")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_atomic(&path, b"first version, longer").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
        }
    }

    #[test]
    fn a_new_file_never_replaces_one_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_new(&path, b"first").unwrap();
        let error = write_new(&path, b"second").unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_missing_directory_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("out.txt");
        assert!(write_atomic(&path, b"x").is_err());
        assert!(!path.exists());
    }
}
