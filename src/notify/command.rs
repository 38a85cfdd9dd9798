//! `type: command`: a remediation hook. Runs a configured program for each alert (or
//! digest) with the message as JSON on its standard input — the same JSON a webhook
//! would POST — and reads its exit status: 0 is delivered, anything else is a failure
//! retried under the channel's `delivery:` options like any other.
//!
//! Log text is hostile (docs/SECURITY.md), so it reaches the program only as that JSON
//! document on stdin, never as an argument, an environment variable or through a shell:
//! `program` and `args` come from klaxon.yaml alone and are executed directly. The
//! environment is cleared except for `PATH` and the channel's `env:` map. The program is
//! the leader of a process group of its own, which is killed at `timeout` or when the
//! send is abandoned (the delivery's own timeout, shutdown), so nothing it started
//! outlives it. What it writes to stdout and stderr (each up to [`MAX_OUTPUT_BYTES`],
//! `env:` values redacted, control characters replaced) is the delivery's outcome: it
//! lands in the alert's history and, on failure, in the dead letter.
//!
//! Running programs is off unless klaxon.yaml says `allow_commands: true` (checked where
//! the config is loaded), so a config that is copied around or generated cannot start
//! running programs by accident.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::channel::{Channel, DeliveryError, Receipt};
use super::stages::{DeliveryOptions, DeliveryPlan};
use super::template::{Part, TemplateParts, Templates};
use super::{default_timeout, escape, http, NotifyError};
use crate::alert::Alert;
use crate::types::{HumanDuration, Secret, TimeZone};

/// The template parts of a command channel: a webhook's (`body`, `digest_body`, JSON; by
/// default the alert itself), since the program reads what a webhook receiver would.
pub const PARTS: &[Part] = super::webhook::PARTS;

/// Of each of stdout and stderr, the most kept (the rest is read and thrown away, so the
/// program never blocks on a full pipe).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Once the program has exited, how long its output may still take to reach its end: a
/// process it left running may hold the pipes open, and must not hold the delivery.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Past `timeout`, room to kill the group and collect what it wrote before the delivery's
/// own send timeout (when not set) would cut the send short.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// `PATH` for the program when Klaxon itself has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandConfig {
    /// The program: a path (relative to klaxon.yaml's directory) or a name looked up in
    /// `PATH`. Executed directly, never through a shell.
    pub program: String,
    /// Its arguments, exactly as written (no alert text ever goes here).
    #[serde(default)]
    pub args: Vec<String>,
    /// Its environment besides `PATH` (which this may set); nothing else of Klaxon's
    /// reaches it. Values may be `${VAR}` and are redacted from what it prints.
    #[serde(default)]
    pub env: BTreeMap<String, Secret>,
    /// Where it runs (relative to klaxon.yaml's directory); default Klaxon's own.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// How long it may run before its process group is killed (default 10s).
    #[serde(default = "default_timeout")]
    pub timeout: HumanDuration,
    /// Rate limit, retries, fallback (see `notify::stages::DeliveryOptions`).
    #[serde(default)]
    pub delivery: DeliveryOptions,
    /// Replaces the JSON on stdin: `body`, `digest_body`.
    #[serde(default)]
    pub templates: TemplateParts,
    /// The zone templates show times in (with UTC); default `display_timezone`.
    #[serde(default)]
    pub timezone: Option<TimeZone>,
}

impl CommandConfig {
    /// `program` (when it is a path) and `working_dir` against `base`, klaxon.yaml's
    /// directory, as every path in klaxon.yaml is read.
    pub fn resolve(&mut self, base: &Path) {
        if self.program.contains('/') && Path::new(&self.program).is_relative() {
            self.program = base.join(&self.program).to_string_lossy().into_owned();
        }
        if let Some(dir) = &mut self.working_dir {
            if dir.is_relative() {
                *dir = base.join(&*dir);
            }
        }
    }

    /// The delivery plan: without a `send_timeout` of its own, one long enough for
    /// `timeout` and the kill after it.
    pub fn plan(&self) -> DeliveryPlan {
        let mut plan = self.delivery.plan(None);
        if self.delivery.send_timeout.is_none() {
            plan.send_timeout = plan
                .send_timeout
                .max(self.timeout.0.saturating_add(KILL_GRACE));
        }
        plan
    }
}

pub struct CommandChannel {
    name: String,
    templates: Templates,
    /// The program as found when the channel was built (an absolute path).
    program: PathBuf,
    /// `program` as written: the program's `argv[0]`, and its name in messages.
    shown: String,
    args: Vec<String>,
    /// The whole environment: `PATH`, then `env:`.
    env: Vec<(String, OsString)>,
    working_dir: Option<PathBuf>,
    timeout: Duration,
    secrets: Vec<String>,
}

impl CommandChannel {
    /// Checks the program can be run (it exists and is executable, its working directory
    /// exists), so `klaxon check` finds a broken hook before an alert does.
    pub fn new(
        name: &str,
        config: &CommandConfig,
        templates: Templates,
    ) -> Result<Self, NotifyError> {
        let invalid = |field, reason: String| NotifyError::invalid(name, field, reason);
        if config.program.trim().is_empty() {
            return Err(invalid("program", "is empty".into()));
        }
        if config.program.contains('\0') {
            return Err(invalid("program", "contains a NUL character".into()));
        }
        if let Some(i) = config.args.iter().position(|a| a.contains('\0')) {
            return Err(invalid(
                "args",
                format!("argument {i} contains a NUL character"),
            ));
        }
        if config.timeout.0.is_zero() {
            return Err(invalid("timeout", "must be longer than 0s".into()));
        }
        if let Some(send) = config.delivery.send_timeout {
            if send.0 < config.timeout.0 {
                return Err(invalid(
                    "delivery",
                    format!(
                        "`send_timeout` ({send}) is shorter than `timeout` ({}): the program would be cut off before its own timeout",
                        config.timeout
                    ),
                ));
            }
        }
        let mut env: BTreeMap<String, OsString> = BTreeMap::new();
        let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        env.insert("PATH".into(), path);
        for (key, value) in &config.env {
            if key.is_empty() || key.contains(['=', '\0']) {
                return Err(invalid(
                    "env",
                    format!("`{key}` is not an environment variable name"),
                ));
            }
            // The value is left out: it may be a credential.
            if value.expose().contains('\0') {
                return Err(invalid(
                    "env",
                    format!("the value of `{key}` contains a NUL character"),
                ));
            }
            env.insert(key.clone(), value.expose().into());
        }
        let program = locate(&config.program, &env["PATH"]).map_err(|e| invalid("program", e))?;
        if let Some(dir) = &config.working_dir {
            if !dir.is_dir() {
                return Err(invalid(
                    "working_dir",
                    format!("`{}` is not a directory", dir.display()),
                ));
            }
        }
        Ok(CommandChannel {
            name: name.to_string(),
            templates,
            program,
            shown: config.program.clone(),
            args: config.args.clone(),
            env: env.into_iter().collect(),
            working_dir: config.working_dir.clone(),
            timeout: config.timeout.0,
            secrets: config
                .env
                .values()
                .map(|v| v.expose().to_string())
                .collect(),
        })
    }

    /// The JSON for one alert: the `body` template, or the alert itself.
    fn alert_body(&self, alert: &Alert) -> String {
        match self.templates.render_alert("body", alert) {
            Some(body) => body,
            None => serde_json::to_string(alert).expect("alerts serialize"),
        }
    }

    /// The JSON for a digest: the `digest_body` template, or `{"digest": true, "alerts"}`.
    fn digest_body(&self, alerts: &[Alert]) -> String {
        match self.templates.render_digest("digest_body", alerts) {
            Some(body) => body,
            None => serde_json::json!({"digest": true, "alerts": alerts}).to_string(),
        }
    }

    /// Runs the program once with `input` on its stdin.
    async fn run(&self, input: String) -> Result<Receipt, DeliveryError> {
        use std::os::unix::process::ExitStatusExt;

        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg0(&self.shown)
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The leader of a group of its own: one kill reaches all it started.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.working_dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|e| DeliveryError::Retryable {
            message: format!("cannot start `{}`: {e}", self.shown),
            retry_after: None,
        })?;
        // Declared after `child`, so dropped before it: the group is killed while its
        // leader is not yet reaped (its id cannot have been reused).
        let mut group = Group(child.id().and_then(|id| i32::try_from(id).ok()));
        let stdout = Capture::start(child.stdout.take());
        let stderr = Capture::start(child.stderr.take());
        let stdin = child.stdin.take();
        let feed = async move {
            if let Some(mut stdin) = stdin {
                // A program that exits without reading it all is not an error: its exit
                // status says how it went.
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let exited = tokio::time::timeout(self.timeout, async {
            tokio::pin!(feed);
            let mut fed = false;
            loop {
                tokio::select! {
                    () = &mut feed, if !fed => fed = true,
                    status = child.wait() => break status,
                }
            }
        })
        .await;
        let status = match exited {
            Ok(Ok(status)) => {
                group.disarm();
                if status.success() {
                    Ok(format!("`{}`: exit status 0", self.shown))
                } else if let Some(code) = status.code() {
                    Err(format!("`{}`: exit status {code}", self.shown))
                } else {
                    let signal = status.signal().unwrap_or(0);
                    Err(format!("`{}`: killed by signal {signal}", self.shown))
                }
            }
            Ok(Err(e)) => {
                group.kill();
                let _ = child.wait().await;
                group.disarm();
                Err(format!("`{}`: cannot wait for it: {e}", self.shown))
            }
            Err(_) => {
                group.kill();
                let _ = child.wait().await;
                group.disarm();
                Err(format!(
                    "`{}`: no exit within {}: its process group was killed",
                    self.shown,
                    HumanDuration(self.timeout)
                ))
            }
        };
        let stdout = stdout.finish().await;
        let stderr = stderr.finish().await;
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        match status {
            Ok(line) => Ok(Receipt::new(outcome(line, &stdout, &stderr, &secrets))),
            Err(line) => Err(DeliveryError::Retryable {
                message: outcome(line, &stdout, &stderr, &secrets),
                retry_after: None,
            }),
        }
    }
}

#[async_trait::async_trait]
impl Channel for CommandChannel {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<Receipt, DeliveryError> {
        self.run(self.alert_body(alert)).await
    }

    async fn send_digest(&self, alerts: &[Alert]) -> Result<Receipt, DeliveryError> {
        self.run(self.digest_body(alerts)).await
    }
}

/// `program` as an absolute path to an executable file: as written when it names a path,
/// else the first match in `path`. Symbolic links are kept (a multi-call binary reads
/// its name), only made absolute.
fn locate(program: &str, path: &std::ffi::OsStr) -> Result<PathBuf, String> {
    let found = if program.contains('/') {
        let p = PathBuf::from(program);
        if !p.exists() {
            return Err(format!("`{program}` does not exist"));
        }
        if !is_executable(&p) {
            return Err(format!("`{program}` is not an executable file"));
        }
        p
    } else {
        std::env::split_paths(path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|p| is_executable(p))
            .ok_or_else(|| format!("`{program}` is not found in any directory of PATH"))?
    };
    std::path::absolute(&found).map_err(|e| format!("`{program}`: {e}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The outcome as text: the status line, then each stream that said something, its
/// secrets redacted and control characters (terminal escapes) replaced.
fn outcome(status: String, stdout: &Captured, stderr: &Captured, secrets: &[&str]) -> String {
    let mut text = status;
    for (name, captured) in [("stdout", stdout), ("stderr", stderr)] {
        let said = String::from_utf8_lossy(&captured.kept);
        let said = said.trim_end();
        if !said.is_empty() {
            text.push_str(&format!("\n{name}:\n{said}"));
        }
        if captured.dropped > 0 {
            text.push_str(&format!(
                "\n… {} more bytes of {name} not kept",
                captured.dropped
            ));
        }
    }
    http::redact(&escape::sanitize(&text), secrets)
}

/// The program's process group, killed unless disarmed (see [`CommandChannel::run`]).
struct Group(Option<i32>);

impl Group {
    fn kill(&self) {
        if let Some(id) = self.0.filter(|id| *id > 0) {
            // SAFETY: kill(2) with a negative pid signals that process group; it touches
            // no memory of ours.
            unsafe {
                libc::kill(-id, libc::SIGKILL);
            }
        }
    }

    /// The leader is reaped: its id may be reused from now on, so it is never signalled.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a stream said: its first [`MAX_OUTPUT_BYTES`], and how many bytes followed.
#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: u64,
}

/// One output stream, read to its end by a task of its own (so the program never blocks
/// on a full pipe while Klaxon waits for its exit); aborted when dropped.
struct Capture {
    captured: Arc<Mutex<Captured>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Capture {
    fn start(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> Capture {
        let captured = Arc::new(Mutex::new(Captured::default()));
        let task = pipe.map(|mut pipe| {
            let captured = captured.clone();
            tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                    let mut c = captured.lock().unwrap_or_else(|e| e.into_inner());
                    let room = MAX_OUTPUT_BYTES.saturating_sub(c.kept.len()).min(n);
                    c.kept.extend_from_slice(&chunk[..room]);
                    c.dropped += (n - room) as u64;
                }
            })
        });
        Capture { captured, task }
    }

    /// What it said, once the stream ended or [`DRAIN_GRACE`] passed.
    async fn finish(mut self) -> Captured {
        if let Some(task) = self.task.as_mut() {
            let _ = tokio::time::timeout(DRAIN_GRACE, task).await;
        }
        let mut c = self.captured.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *c)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(yaml: &str) -> Result<CommandChannel, NotifyError> {
        let config: CommandConfig = serde_saphyr::from_str(yaml).unwrap();
        CommandChannel::new("fix", &config, Templates::defaults("fix", PARTS))
    }

    #[test]
    fn finds_the_program_in_path_or_refuses_it_at_build() {
        let ch = channel("program: sh\nargs: ['-c', 'true']\n").unwrap();
        assert!(ch.program.is_absolute(), "{:?}", ch.program);
        let e = channel("program: no-such-klaxon-hook\n").err().unwrap();
        assert!(
            e.to_string().contains("not found in any directory of PATH"),
            "{e}"
        );
        let e = channel("program: /etc/passwd\n").err().unwrap();
        assert!(e.to_string().contains("not an executable file"), "{e}");
        let e = channel("program: sh\nworking_dir: /no/such/dir\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("`working_dir`"), "{e}");
        let e = channel("program: sh\nenv: {'A=B': x}\n").err().unwrap();
        assert!(e.to_string().contains("`env`"), "{e}");
        let e = channel("program: sh\ntimeout: 10s\ndelivery: {send_timeout: 5s}\n")
            .err()
            .unwrap();
        assert!(e.to_string().contains("send_timeout"), "{e}");
    }

    #[test]
    fn the_send_timeout_leaves_room_for_the_programs_own() {
        let config: CommandConfig = serde_saphyr::from_str("program: sh\ntimeout: 2m\n").unwrap();
        assert_eq!(config.plan().send_timeout, Duration::from_secs(125));
        let config: CommandConfig = serde_saphyr::from_str("program: sh\n").unwrap();
        assert_eq!(config.plan().send_timeout, Duration::from_secs(30));
    }

    #[test]
    fn relative_paths_are_read_against_the_config_directory() {
        let mut config: CommandConfig =
            serde_saphyr::from_str("program: hooks/fix.sh\nworking_dir: work\n").unwrap();
        config.resolve(Path::new("/etc/klaxon"));
        assert_eq!(config.program, "/etc/klaxon/hooks/fix.sh");
        assert_eq!(config.working_dir.unwrap(), Path::new("/etc/klaxon/work"));
        let mut config: CommandConfig = serde_saphyr::from_str("program: sh\n").unwrap();
        config.resolve(Path::new("/etc/klaxon"));
        assert_eq!(config.program, "sh", "a bare name is looked up in PATH");
    }

    #[tokio::test]
    async fn output_is_bounded_redacted_and_clean() {
        let ch = channel(
            r#"
program: sh
args: ['-c', 'head -c 200000 /dev/zero | tr "\0" x; printf "tok=%s \033[2J\n" "$TOKEN" >&2']
env: {TOKEN: s3cr3t-value}
"#,
        )
        .unwrap();
        let receipt = ch.send(&crate::alert::sample_alert()).await.unwrap();
        let text = receipt.answer;
        assert!(
            text.starts_with("`sh`: exit status 0\nstdout:\nxxx"),
            "{}",
            &text[..80]
        );
        assert!(text.contains(&format!(
            "… {} more bytes of stdout not kept",
            200_000 - MAX_OUTPUT_BYTES
        )));
        assert!(
            text.contains("stderr:\ntok=*** \u{FFFD}[2J"),
            "{}",
            &text[text.len() - 100..]
        );
        assert!(!text.contains("s3cr3t-value"));
    }
}
