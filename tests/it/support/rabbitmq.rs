//! A real RabbitMQ broker (Debian's `rabbitmq-server`) of the test's own: its own epmd,
//! node name, ports, data, logs, Erlang cookie and config in a temporary directory, the
//! management plugin on a free loopback port. Nothing of the system's broker (its service,
//! its epmd on 4369, /var/lib/rabbitmq) is used or touched. Dropping it stops the broker
//! and its epmd, even when the test failed.
//!
//! Why each piece is there:
//! - the Debian wrapper `/usr/sbin/rabbitmq-server` switches to the `rabbitmq` user and
//!   its home; the script it wraps (`/usr/lib/rabbitmq/bin/…`) runs as whoever starts it;
//! - `HOME` in the temporary directory: the Erlang cookie is created there with the
//!   permissions Erlang insists on, whatever `~/.erlang.cookie` holds;
//! - an epmd started here on a free port (`ERL_EPMD_PORT`), and waited for: otherwise the
//!   node starts a daemon epmd of its own that outlives the test;
//! - the node named `…@localhost`: no dependency on how the machine's hostname resolves;
//! - `disk_free_limit` low: a nearly full disk must not block publishing.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const EPMD: &str = "/usr/bin/epmd";
/// The management API's built-in user, allowed from loopback only.
pub const USER: &str = "guest";
pub const PASSWORD: &str = "guest";

/// Whether `rabbitmq-server` is installed; fails the test, saying what to install, when it
/// is not (unless `KLAXON_SKIP_RABBITMQ=1`).
pub fn installed() -> bool {
    if Path::new(SERVER).exists() && Path::new(EPMD).exists() {
        return true;
    }
    if std::env::var("KLAXON_SKIP_RABBITMQ").is_ok_and(|v| v == "1") {
        eprintln!("note: RabbitMQ test skipped (KLAXON_SKIP_RABBITMQ=1): {SERVER} not found");
        return false;
    }
    panic!(
        "{SERVER} not found: the RabbitMQ source test needs Debian's rabbitmq-server \
         (`apt-get install rabbitmq-server`; scripts/test installs it), or set \
         KLAXON_SKIP_RABBITMQ=1 to skip it"
    );
}

pub struct Broker {
    dir: tempfile::TempDir,
    server: Child,
    epmd: Child,
    api_port: u16,
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Broker {
    /// Starts a broker and waits until its management API answers (about 6 s).
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let [epmd_port, amqp_port, dist_port, api_port] = free_ports();
        std::fs::write(
            path("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{amqp_port}\n\
                 management.tcp.ip = 127.0.0.1\n\
                 management.tcp.port = {api_port}\n\
                 collect_statistics_interval = 500\n\
                 disk_free_limit.absolute = 1MB\n\
                 log.console = true\n\
                 log.file = false\n"
            ),
        )
        .unwrap();
        std::fs::write(path("enabled_plugins"), "[rabbitmq_management].\n").unwrap();
        std::fs::write(path("rabbitmq-env.conf"), "").unwrap();
        let log = |name: &str| std::fs::File::create(path(name)).unwrap();

        let mut epmd = Command::new(EPMD)
            .args(["-port", &epmd_port.to_string(), "-address", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(log("epmd.log"))
            .stderr(Stdio::from(log("epmd.err")))
            .spawn()
            .expect("start epmd");
        let up = super::wait_for(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", epmd_port)).is_ok()
        });
        if !up {
            let _ = epmd.kill();
            let _ = epmd.wait();
            panic!("epmd did not listen on {epmd_port}");
        }

        let mut cmd = Command::new(SERVER);
        cmd.env("HOME", dir.path())
            .env("ERL_EPMD_PORT", epmd_port.to_string())
            .env(
                "RABBITMQ_NODENAME",
                format!("klaxon{}@localhost", std::process::id()),
            )
            .env("RABBITMQ_USE_LONGNAME", "false")
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", amqp_port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONF_ENV_FILE", path("rabbitmq-env.conf"))
            .env("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf"))
            .env("RABBITMQ_ADVANCED_CONFIG_FILE", path("advanced.config"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
            .env("RABBITMQ_LOG_BASE", path("log"))
            .env("RABBITMQ_PLUGINS_EXPAND_DIR", path("plugins-expand"))
            .env("RABBITMQ_LOGS", "-")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log("server.log"))
            .stderr(Stdio::from(log("server.err")));
        // Its own process group: the Erlang VM's helpers go with it.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let server = match cmd.spawn() {
            Ok(server) => server,
            Err(e) => {
                let _ = epmd.kill();
                let _ = epmd.wait();
                panic!("cannot start {SERVER}: {e}");
            }
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut broker = Broker {
            dir,
            server,
            epmd,
            api_port,
            rt,
            client,
        };
        broker.wait_ready();
        broker
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.server.try_wait() {
                panic!(
                    "rabbitmq-server exited ({status}) while starting:\n{}",
                    self.log()
                );
            }
            let answered = self
                .call(reqwest::Method::GET, "/api/overview", None)
                .is_ok();
            if answered {
                return;
            }
            if Instant::now() > deadline {
                panic!("rabbitmq-server not ready within 60 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The end of the broker's log, for failure messages.
    pub fn log(&self) -> String {
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let text =
            read(self.dir.path().join("server.log")) + &read(self.dir.path().join("server.err"));
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The management API's base URL.
    pub fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let url = format!("{}{path}", self.api());
        self.rt
            .block_on(async { request(&self.client, method, &url, body).await })
    }

    /// Declares a classic, non-durable queue in vhost `/`.
    pub fn declare(&self, queue: &str) {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/queues/%2F/{queue}"),
            Some(json!({"durable": false, "auto_delete": false})),
        )
        .unwrap();
    }

    /// Publishes `n` messages to `queue` through the default exchange, 16 at a time.
    pub fn publish(&self, queue: &str, n: usize) {
        let url = format!("{}/api/exchanges/%2F/amq.default/publish", self.api());
        let body = json!({"properties": {}, "routing_key": queue, "payload": "order", "payload_encoding": "string"});
        self.rt.block_on(async {
            let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..n {
                let (client, url, body) = (self.client.clone(), url.clone(), body.clone());
                let permit = permits.clone().acquire_owned().await.unwrap();
                tasks.spawn(async move {
                    let answer = request(&client, reqwest::Method::POST, &url, Some(body)).await;
                    drop(permit);
                    answer
                });
            }
            while let Some(done) = tasks.join_next().await {
                let answer = done.unwrap().unwrap();
                assert_eq!(answer["routed"], true, "{answer}");
            }
        });
    }

    /// Takes (and acknowledges) up to `n` messages off `queue`; how many it got.
    pub fn consume(&self, queue: &str, n: usize) -> usize {
        let got = self
            .call(
                reqwest::Method::POST,
                &format!("/api/queues/%2F/{queue}/get"),
                Some(json!({"count": n, "ackmode": "ack_requeue_false", "encoding": "auto"})),
            )
            .unwrap();
        got.as_array().map_or(0, Vec::len)
    }

    /// The management API's `messages_ready` for `queue` (`None` until reported).
    pub fn ready(&self, queue: &str) -> Option<u64> {
        let q = self
            .call(
                reqwest::Method::GET,
                &format!("/api/queues/%2F/{queue}"),
                None,
            )
            .ok()?;
        q["messages_ready"].as_u64()
    }
}

/// Four distinct loopback ports with nothing listening (all bound at once, then released).
fn free_ports() -> [u16; 4] {
    let listeners: Vec<std::net::TcpListener> = (0..4)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    [ports[0], ports[1], ports[2], ports[3]]
}

async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let mut req = client.request(method, url).basic_auth(USER, Some(PASSWORD));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: HTTP {status}: {text}"));
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("rabbitmq-server log (end):\n{}", self.log());
        }
        // SIGTERM stops the node in order (a few seconds); then SIGKILL for the group.
        let pgid = self.server.id() as i32;
        unsafe {
            libc::kill(-pgid, libc::SIGTERM);
        }
        let stopped = super::wait_for(Duration::from_secs(15), || {
            matches!(self.server.try_wait(), Ok(Some(_)))
        });
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        if !stopped {
            let _ = self.server.wait();
        }
        let _ = self.epmd.kill();
        let _ = self.epmd.wait();
    }
}
