//! What installing Klaxon takes besides the binary: shell completions (`klaxon completions
//! SHELL`) and man pages (`klaxon man`, `klaxon man --dir DIR`), all made from the one clap
//! definition of the command line, so they never fall behind it.

use std::io::Write;
use std::process::ExitCode;

/// `klaxon completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell, mut command: clap::Command) -> ExitCode {
    // Made in memory first: clap_complete panics on a write error (`| head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "klaxon", &mut script);
    let mut out = std::io::stdout().lock();
    finish(out.write_all(&script).and_then(|()| out.flush()))
}

/// `klaxon man`: the man page (roff, section 1) on stdout, with every subcommand in it.
pub fn man(command: clap::Command) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let written = clap_mangen::Man::new(command).render(&mut out);
    finish(written.and_then(|()| out.flush()))
}

/// `klaxon man --dir DIR`: klaxon.1 and a page per subcommand, so the pages klaxon.1
/// refers to (`klaxon-run(1)`, …) exist; each path written on stdout.
pub fn man_pages(command: clap::Command, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(command, dir)
        .map_err(|e| anyhow::anyhow!("cannot write man pages to {}: {e}", dir.display()))?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("klaxon") && n.ends_with(".1"))
        })
        .collect();
    pages.sort();
    for page in pages {
        println!("{}", page.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A closed pipe (`klaxon man | head`) is not a failure worth a message.
fn finish(written: std::io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("klaxon: cannot write to standard output: {e}");
            ExitCode::FAILURE
        }
    }
}
