//! Waking the tailer when the file system changes (inotify on Linux), so a new line is
//! read at once instead of at the next poll. Polling stays the ground truth: a missed or
//! coalesced event only delays reading until the next `poll_interval`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::{RecursiveMode, Watcher};
use tokio::sync::Notify;

/// Keeps the OS watch alive; dropping it stops the wake-ups.
pub struct ChangeWatch {
    _watcher: notify::RecommendedWatcher,
}

impl ChangeWatch {
    /// Watches the directories the `include` globs read from. `None` when the platform
    /// offers no watcher or nothing can be watched (e.g. the directory does not exist
    /// yet): the source then just polls.
    pub fn start(include: &[String], wake: Arc<Notify>) -> Option<ChangeWatch> {
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // Only changes wake the tailer: reading a file opens it, and waking on
                // that access event would make every poll trigger the next one.
                if let Ok(event) = event {
                    if !matches!(event.kind, notify::EventKind::Access(_)) {
                        wake.notify_one();
                    }
                }
            })
            .ok()?;
        let mut watching = false;
        for pattern in include {
            let (dir, recursive) = watch_root(pattern);
            let mode = if recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match watcher.watch(&dir, mode) {
                Ok(()) => watching = true,
                Err(e) => tracing::debug!("not watching {}: {e}; polling only", dir.display()),
            }
        }
        watching.then_some(ChangeWatch { _watcher: watcher })
    }
}

/// The directory a glob reads from: its longest leading part without glob characters,
/// and whether the files may sit below it (`**`, or glob characters in a directory part).
fn watch_root(pattern: &str) -> (PathBuf, bool) {
    let is_glob = |part: &str| part.contains(['*', '?', '[', '{']);
    let path = Path::new(pattern);
    let parts: Vec<&str> = path
        .components()
        .map(|c| c.as_os_str().to_str().unwrap_or(""))
        .collect();
    let first_glob = parts.iter().position(|p| is_glob(p)).unwrap_or(parts.len());
    let mut dir = PathBuf::new();
    for part in &parts[..first_glob] {
        dir.push(part);
    }
    // The last part names the files; everything before it is directories.
    if first_glob == parts.len() {
        dir.pop();
    }
    let recursive = first_glob + 1 < parts.len();
    if dir.as_os_str().is_empty() {
        dir.push(".");
    }
    (dir, recursive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_the_directory_before_the_first_glob() {
        assert_eq!(
            watch_root("/var/log/app/*.log"),
            (PathBuf::from("/var/log/app"), false)
        );
        assert_eq!(
            watch_root("/var/log/app/current.log"),
            (PathBuf::from("/var/log/app"), false)
        );
        assert_eq!(
            watch_root("/var/log/**/*.log"),
            (PathBuf::from("/var/log"), true)
        );
        assert_eq!(
            watch_root("/srv/*/logs/app.log"),
            (PathBuf::from("/srv"), true)
        );
        assert_eq!(watch_root("*.log"), (PathBuf::from("."), false));
    }
}
