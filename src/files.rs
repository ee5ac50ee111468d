//! The one writer of every file the program writes (metrics, summary, weights,
//! checkpoints, figures, the report, single PNGs).
//!
//! ```text
//! path = out/summary.json
//! 1. write everything into   out/.summary.tmp.json     (same folder, same extension)
//! 2. fsync it                 the bytes are on disk before the name points at them
//! 3. rename it to             out/summary.json          atomic: readers see old or new
//! ```
//! A crash at any moment leaves either the old file or the new one, never half
//! of one. The temporary file is created like any other file (mode 0666 minus
//! the umask, so usually 0644), removed on every error path, and named after the
//! final file so that a later run in the same folder overwrites it; at the start
//! of a run, [`prepare_out_dir`] removes any left by a killed run.

use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where `path` is written before it is renamed into place: the same folder,
/// a leading dot, `.tmp` before the extension (plotters picks its encoder from
/// the extension): `out/losses.png` → `out/.losses.tmp.png`.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp_name = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!(".{stem}.{TEMP_MARK}.{ext}"),
        _ => format!(".{name}.{TEMP_MARK}"),
    };
    path.with_file_name(temp_name)
}

/// The mark in every temporary name this tool makes, so that removing stale
/// temporaries never touches a user's own `.notes.tmp`.
const TEMP_MARK: &str = "mnist-autoencoder-tmp";

/// The lock file's name in an output folder.
pub const LOCK_NAME: &str = ".mnist-autoencoder.lock";

/// True for a name [`temp_path`] makes.
fn is_temp_name(name: &str) -> bool {
    let dotted = format!(".{TEMP_MARK}");
    name.starts_with('.') && (name.contains(&format!("{dotted}.")) || name.ends_with(&dotted))
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |file| {
        file.write_all(bytes).map_err(|e| e.to_string())
    })
}

/// Creates the temporary file for `path`, lets `write` fill it, then fsyncs it
/// and renames it into place. For writers that stream (checkpoints).
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::result::Result<(), String>,
) -> Result<()> {
    refuse_directory(path)?;
    let tmp = temp_path(path);
    let result = File::create(&tmp)
        .map_err(|e| Error::io(path, e))
        .and_then(|mut file| {
            write(&mut file)
                .map_err(|message| Error::bad_file(path, format!("cannot write: {message}")))?;
            file.sync_all().map_err(|e| Error::io(path, e))
        });
    finish(path, &tmp, result)
}

/// Lets `draw` write the temporary file for `path` by name (plotters opens its
/// files itself), then fsyncs it and renames it into place.
pub fn write_atomic_by_name(
    path: &Path,
    draw: impl FnOnce(&Path) -> std::result::Result<(), String>,
) -> Result<()> {
    refuse_directory(path)?;
    let tmp = temp_path(path);
    let result = draw(&tmp)
        .map_err(|message| Error::figure(path, message))
        .and_then(|()| {
            let file = File::open(&tmp).map_err(|e| Error::io(path, e))?;
            file.sync_all().map_err(|e| Error::io(path, e))
        });
    finish(path, &tmp, result)
}

/// Renames `tmp` to `path` if `result` is Ok; removes `tmp` otherwise.
fn finish(path: &Path, tmp: &Path, result: Result<()>) -> Result<()> {
    let result = result.and_then(|()| std::fs::rename(tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

/// A path naming an existing folder (or ending in `/`) cannot be a file.
fn refuse_directory(path: &Path) -> Result<()> {
    let trailing_slash = path.as_os_str().to_string_lossy().ends_with('/');
    if trailing_slash || path.is_dir() {
        return Err(Error::bad_file(
            path,
            "is a folder; give a file name such as digits.png",
        ));
    }
    Ok(())
}

/// Creates `dir` if needed, checks that files can be written in it, takes its
/// lock (see [`OutDirLock`]), and only then removes temporary files a killed run
/// left behind: a run fails before training rather than after, and never
/// touches the files of another live run.
pub fn prepare_out_dir(dir: &Path) -> Result<OutDirLock> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::bad_file(
            dir,
            "exists and is not a folder; --out-dir must name a folder",
        ));
    }
    if let Some((link, target)) = dangling_link(dir) {
        return Err(Error::bad_file(
            &link,
            format!(
                "is a symbolic link to {}, which does not exist; create that folder or choose another --out-dir",
                target.display()
            ),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let lock = lock_out_dir(dir)?;
    remove_stale_temporaries(dir);
    Ok(lock)
}

/// The first of `dir` and its parents that is a symbolic link to nothing,
/// and where it points: `create_dir_all` would fail on it with a bare
/// "File exists".
fn dangling_link(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    dir.ancestors().find_map(|path| {
        let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        if !is_link || path.exists() {
            return None;
        }
        Some((path.to_path_buf(), std::fs::read_link(path).ok()?))
    })
}

/// A claim on an output folder: the file `.lock` in it, holding this
/// process's id, removed when the lock is dropped. A second run into the same
/// folder is refused while the first is alive; a lock left by a process that
/// no longer exists is taken over.
#[derive(Debug)]
pub struct OutDirLock {
    path: PathBuf,
}

impl Drop for OutDirLock {
    /// Removes the lock file if it is still ours (holds this process's id).
    fn drop(&mut self) {
        let ours = std::process::id().to_string();
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        if text.trim() == ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether process `pid` is alive and is this tool (after a reboot, the pid
/// of a lock left behind may belong to an unrelated process).
fn is_running_tool(pid: u32) -> bool {
    let Ok(command) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let program = command.split(|&b| b == 0).next().unwrap_or_default();
    let ours = std::env::current_exe().ok();
    let ours = ours.as_deref().and_then(|p| p.file_name());
    let name = Path::new(std::ffi::OsStr::from_bytes(program)).file_name();
    name.is_some() && name == ours
}

/// Takes the lock on `dir` (see [`OutDirLock`]); writing the lock file also
/// proves the folder is writable.
fn lock_out_dir(dir: &Path) -> Result<OutDirLock> {
    let path = dir.join(LOCK_NAME);
    let ours = std::process::id();
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(pid) = text.trim().parse::<u32>() {
            if pid != ours && is_running_tool(pid) {
                return Err(Error::bad_file(
                    dir,
                    format!("another run (process {pid}) is writing into this folder; wait for it to finish or choose another --out-dir (if no run is, remove {LOCK_NAME})"),
                ));
            }
        }
    }
    write_atomic(&path, format!("{ours}\n").as_bytes())?;
    Ok(OutDirLock { path })
}

/// Removes the temporary files (see [`temp_path`]) in `dir`.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_str().is_some_and(is_temp_name) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_keep_the_extension_and_hide_the_file() {
        assert_eq!(
            temp_path(Path::new("out/losses.png")),
            Path::new("out/.losses.mnist-autoencoder-tmp.png")
        );
        assert_eq!(
            temp_path(Path::new("metrics")),
            Path::new(".metrics.mnist-autoencoder-tmp")
        );
        assert!(is_temp_name(".losses.mnist-autoencoder-tmp.png"));
        assert!(!is_temp_name("losses.png"));
        // Issue 28 item 11: a user's own hidden temporaries are not ours.
        assert!(!is_temp_name(".notes.tmp"));
        assert!(!is_temp_name(".thesis.tmp.tex"));
    }

    #[test]
    fn a_failing_write_leaves_the_old_file_intact_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        write_atomic(&path, b"old").unwrap();
        let error = write_atomic_with(&path, |_| Err("disk full".into())).unwrap_err();
        assert!(error.to_string().contains("summary.json"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert!(!temp_path(&path).exists());
    }

    #[cfg(unix)]
    #[test]
    fn files_follow_the_umask_like_any_other_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        let plain = dir.path().join("plain");
        write_atomic(&ours, b"x").unwrap();
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ours), mode(&plain));
    }

    #[test]
    fn folders_are_refused_and_stale_temporaries_removed() {
        let dir = tempfile::tempdir().unwrap();
        let error = write_atomic(dir.path(), b"x").unwrap_err();
        assert!(error.to_string().contains("is a folder"), "{error}");
        let stale = temp_path(&dir.path().join("checkpoint.safetensors"));
        std::fs::write(&stale, b"half").unwrap();
        let users = dir.path().join(".notes.tmp");
        std::fs::write(&users, b"mine").unwrap();
        prepare_out_dir(dir.path()).unwrap();
        assert!(!stale.exists());
        assert!(users.exists(), "a user's file was removed");
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let error = prepare_out_dir(&file).unwrap_err();
        assert!(error.to_string().contains("not a folder"), "{error}");
    }
}
