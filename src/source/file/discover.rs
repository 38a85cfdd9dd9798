//! Which paths to tail: the `include` globs minus the `exclude` globs.

use std::path::PathBuf;

use glob::Pattern;

#[derive(Debug)]
pub(crate) struct Discover {
    include: Vec<String>,
    exclude: Vec<Pattern>,
}

impl Discover {
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Result<Self, glob::PatternError> {
        for pattern in include {
            Pattern::new(pattern)?;
        }
        Ok(Discover {
            include: include.to_vec(),
            exclude: exclude
                .iter()
                .map(|p| Pattern::new(p))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Regular files matching now, sorted and without duplicates. Unreadable directories
    /// are skipped: one bad directory must not stop the others from being tailed.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self
            .include
            .iter()
            .filter_map(|pattern| glob::glob(pattern).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter(|path| !self.exclude.iter().any(|ex| ex.matches_path(path)))
            .filter(|path| path.is_file())
            .collect();
        paths.sort();
        paths.dedup();
        paths
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
        )
        .unwrap();
        let names: Vec<_> = d
            .paths()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.log", "b.log"]);
        assert!(Discover::new(&["[".to_string()], &[]).is_err());
    }
}
