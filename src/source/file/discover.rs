//! Which paths to tail: the `include` globs minus the `exclude` globs.

use std::path::PathBuf;

use glob::Pattern;

#[derive(Debug)]
pub(crate) struct Discover {
    include: Vec<String>,
    exclude: Vec<Pattern>,
    follow_symlinks: bool,
    /// Links already reported as skipped (each is logged once, not every scan).
    warned: std::cell::RefCell<std::collections::HashSet<PathBuf>>,
}

impl Discover {
    pub(crate) fn new(
        include: &[String],
        exclude: &[String],
        follow_symlinks: bool,
    ) -> Result<Self, glob::PatternError> {
        for pattern in include {
            Pattern::new(pattern)?;
        }
        Ok(Discover {
            include: include.to_vec(),
            exclude: exclude
                .iter()
                .map(|p| Pattern::new(p))
                .collect::<Result<_, _>>()?,
            follow_symlinks,
            warned: Default::default(),
        })
    }

    pub(crate) fn follows_symlinks(&self) -> bool {
        self.follow_symlinks
    }

    /// Paths matching now that look like regular files, sorted and without duplicates
    /// (whether one really is a regular file is decided on the opened handle). Symbolic
    /// links are skipped, and logged once, unless `follow_symlinks`. Unreadable directories
    /// are skipped: one bad directory must not stop the others from being tailed.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .include
            .iter()
            .filter_map(|pattern| glob::glob(pattern).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter(|path| !self.exclude.iter().any(|ex| ex.matches_path(path)))
            .filter(|path| self.wanted(path))
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    fn wanted(&self, path: &std::path::Path) -> bool {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if meta.file_type().is_symlink() {
            if !self.follow_symlinks {
                if self.warned.borrow_mut().insert(path.to_path_buf()) {
                    tracing::warn!(
                        path = %crate::types::flat(&path.to_string_lossy()),
                        "skipping a symbolic link (set `follow_symlinks: true` on the source to read it)"
                    );
                }
                return false;
            }
            return path.is_file();
        }
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_minus_excludes_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.log", "b.log", "b.log.gz", "c.txt"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("d.log")).unwrap();
        let base = dir.path().to_string_lossy();
        let d = Discover::new(
            &[format!("{base}/*.log*"), format!("{base}/a.*")],
            &["*.gz".to_string()],
            false,
        )
        .unwrap();
        let names: Vec<_> = d
            .paths()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.log", "b.log"]);
        assert!(Discover::new(&["[".to_string()], &[], false).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_are_skipped_unless_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("real.log"), "x\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.log"), dir.path().join("link.log"))
            .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd.log")).unwrap();
        let pattern = [format!("{}/*.log", dir.path().to_string_lossy())];
        let names = |follow| {
            Discover::new(&pattern, &[], follow)
                .unwrap()
                .paths()
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(false), ["real.log"]);
        assert_eq!(names(true), ["link.log", "passwd.log", "real.log"]);
    }
}
