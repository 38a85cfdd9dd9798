//! Puts the git revision Klaxon is built from into `klaxon --version` (as the compile-time
//! variable `KLAXON_GIT_REV`): `git rev-parse --short HEAD` in a checkout of this project,
//! `unknown` where there is none (a source tarball, a crate download, a container build
//! that copies no `.git`) or no git. `KLAXON_GIT_REV` set in the build's environment wins,
//! for builds that know the revision without a checkout
//! (`docker build --build-arg KLAXON_GIT_REV=…`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=KLAXON_GIT_REV");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let rev = std::env::var("KLAXON_GIT_REV")
        .ok()
        .map(|r| r.trim().to_string())
        .filter(|r| is_revision(r))
        .or_else(|| git_revision(&manifest))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=KLAXON_GIT_REV={rev}");
}

/// A revision as `--version` may show it: short, one word (it ends up on one line).
pub fn is_revision(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+'))
}

/// `git <args>` in `dir`: its one-line answer, if it succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// HEAD's short hash, when `manifest` is the top of a git work tree. The build is re-run
/// when HEAD moves: a checkout changes HEAD, a commit the branch it names (a loose ref, or
/// packed), and either appends to HEAD's reflog.
pub fn git_revision(manifest: &Path) -> Option<String> {
    // Only this project's own checkout: a tarball unpacked inside another repository
    // must not take that repository's revision.
    let top = git(manifest, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), manifest) {
        return None;
    }
    let rev = git(manifest, &["rev-parse", "--short", "HEAD"]).filter(|r| is_revision(r))?;
    let mut watched = vec![
        "HEAD".to_string(),
        "logs/HEAD".to_string(),
        "packed-refs".to_string(),
    ];
    watched.extend(git(manifest, &["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        // `--git-path` knows where a worktree keeps each file; its answer is relative to
        // the directory git ran in.
        if let Some(path) = git(manifest, &["rev-parse", "--git-path", &name]) {
            let path = manifest.join(path);
            // Only files that exist: cargo re-runs a build script whose watched file is
            // missing on every build.
            if path.is_file() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    Some(rev)
}
