//! The `klaxon` binary under test: its config, offline replays, and a guard around a
//! running process that never outlives the test.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// `klaxon` logging at warn level: quiet unless something is wrong. Its HTTP server is
/// off (`KLAXON_LISTEN=none`): tests run many Klaxons at once, and those that test the
/// server give it a port of their own.
pub fn klaxon() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_klaxon"));
    cmd.env("KLAXON_LOG", "warn");
    cmd.env("KLAXON_LISTEN", "none");
    cmd
}

/// Writes `dir/klaxon.yaml`: the file source `source` reading `dir/{include}` every 50 ms
/// (plus `options`, more YAML keys of the source), the console channel `channel`, rules in
/// `dir/rules`, state in `dir/state`.
pub fn write_config(
    dir: &Path,
    source: &str,
    include: &str,
    options: &str,
    channel: &str,
) -> PathBuf {
    let options: String = options.lines().map(|l| format!("    {l}\n")).collect();
    let config = dir.join("klaxon.yaml");
    super::write(
        &config,
        &format!(
            "sources:\n  {source}:\n    type: file\n    include: [\"{}/{include}\"]\n    poll_interval: 50ms\n\
             {options}channels:\n  {channel}:\n    type: console\nrules: rules\nstate_dir: state\n",
            dir.display()
        ),
    );
    config
}

/// `klaxon test RULE --input LOG --json`: the alerts one offline replay raises.
pub fn replay(rule: &Path, input: &Path) -> Vec<serde_json::Value> {
    let out = klaxon()
        .arg("test")
        .arg(rule)
        .arg("--input")
        .arg(input)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A pipe drained by a thread into a buffer, so the child never blocks on a full pipe.
struct Captured {
    buf: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Captured {
    fn start(mut pipe: impl Read + Send + 'static) -> Captured {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        Captured {
            buf,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap()).into_owned()
    }

    /// All of it, once the writer has exited.
    fn finish(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        self.text()
    }
}

/// A running `klaxon` with its stderr captured. Dropping it SIGKILLs it, so a failing
/// assertion never leaves one running (and then prints what it said).
pub struct Klaxon {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<Captured>,
    stderr: Captured,
}

/// How a `klaxon` ended, and all it printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Klaxon {
    /// `klaxon run -c CONFIG`, with no stdin and stdout discarded (alerts go to the store).
    pub fn run(config: &Path) -> Klaxon {
        Klaxon::spawn(
            klaxon()
                .args(["run", "-c"])
                .arg(config)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        )
    }

    /// Spawns `cmd` with stderr captured; a piped stdin is kept for [`Klaxon::stdin`], a
    /// piped stdout is captured too.
    pub fn spawn(cmd: &mut Command) -> Klaxon {
        let mut child = cmd.stderr(Stdio::piped()).spawn().expect("spawn klaxon");
        let stderr = Captured::start(child.stderr.take().unwrap());
        let stdout = child.stdout.take().map(Captured::start);
        let stdin = child.stdin.take();
        Klaxon {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn stdin(&mut self) -> &mut ChildStdin {
        self.stdin.as_mut().expect("spawned with a piped stdin")
    }

    /// End of input.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// What it has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM: asks for a graceful stop.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {} failed", self.id());
    }

    /// Its exit status, if it exits within `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        super::wait_for(timeout, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        status
    }

    /// Waits for it to exit, failing with `what` after `timeout`; returns all it printed.
    pub fn finish(mut self, timeout: Duration, what: &str) -> Finished {
        let Some(status) = self.wait_timeout(timeout) else {
            panic!("{what} within {timeout:?}");
        };
        Finished {
            status,
            stdout: self
                .stdout
                .as_mut()
                .map(Captured::finish)
                .unwrap_or_default(),
            stderr: self.stderr.finish(),
        }
    }
}

impl Drop for Klaxon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("klaxon (pid {}) stderr:\n{}", self.id(), self.stderr());
        }
    }
}
