//! A real Elasticsearch-API server in a child process: noida-db (PyPI, pinned by
//! scripts/test), with its own port and data directory; killed on drop. Restartable on the
//! same data, for outage tests.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Noida {
    pub port: u16,
    pub data: tempfile::TempDir,
    child: Option<Child>,
}

impl Noida {
    /// Starts the server and waits until it answers. Fails (never skips) when noida-db is
    /// missing, saying how to install it.
    pub fn start() -> Noida {
        let mut n = Noida {
            port: super::http::closed_port(),
            data: tempfile::tempdir().unwrap(),
            child: None,
        };
        n.up();
        n
    }

    /// Starts it again (after [`Noida::stop`]) on the same port and data.
    pub fn up(&mut self) {
        use std::os::unix::process::CommandExt;
        // Its own process group: `noida-db` runs the server as a child of its own, and an
        // outage (or the end of the test) must stop both.
        let child = Command::new("noida-db")
            .process_group(0)
            .args(["start", "--only", "elasticsearch", "--elasticsearch-port"])
            .arg(self.port.to_string())
            .arg("--data-dir")
            .arg(self.data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the Elasticsearch tests need noida-db: `pip install noida-db==0.2.3` (scripts/test installs it)");
        self.child = Some(child);
        let port = self.port;
        let up = super::wait_for(Duration::from_secs(30), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok() && self.get("/").is_ok()
        });
        assert!(up, "noida-db did not start on port {port}");
    }

    /// Stops it (an outage).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let port = self.port;
            if let Ok(pid) = i32::try_from(c.id()) {
                // SAFETY: plain signals to the process group this test started: a stop
                // that keeps what was written, then a kill if it lingers.
                unsafe {
                    libc::kill(-pid, libc::SIGTERM);
                }
                let gone = super::wait_for(Duration::from_secs(10), || {
                    TcpStream::connect(("127.0.0.1", port)).is_err()
                });
                if !gone {
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                }
            }
            let _ = c.wait();
            super::wait_for(Duration::from_secs(10), || {
                TcpStream::connect(("127.0.0.1", port)).is_err()
            });
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> Result<String, String> {
        request(self.port, "GET", path, None, "application/json")
    }

    /// Indexes `docs` (`_id`, `_source`) into `index`, refreshed at once.
    pub fn bulk(&self, index: &str, docs: &[(String, serde_json::Value)]) {
        let mut body = String::new();
        for (id, doc) in docs {
            body.push_str(&serde_json::json!({"index": {"_index": index, "_id": id}}).to_string());
            body.push('\n');
            body.push_str(&doc.to_string());
            body.push('\n');
        }
        let answer = request(
            self.port,
            "POST",
            "/_bulk?refresh=true",
            Some(&body),
            "application/x-ndjson",
        )
        .expect("bulk");
        let v: serde_json::Value = serde_json::from_str(&answer).expect("bulk answer is JSON");
        assert_eq!(v["errors"], false, "{answer}");
    }
}

impl Drop for Noida {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain HTTP/1.1 request over a socket: the body of a 2xx answer.
fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&str>,
    ty: &str,
) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {ty}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").ok_or("no answer")?;
    if !head.starts_with("HTTP/1.1 2") && !head.starts_with("HTTP/1.0 2") {
        return Err(head.lines().next().unwrap_or("").to_string());
    }
    // Chunked answers: join the chunks.
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut joined = String::new();
        let mut rest = rest;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            joined.push_str(&after[..n.min(after.len())]);
            rest = after.get(n + 2..).unwrap_or("");
        }
        return Ok(joined);
    }
    Ok(rest.to_string())
}
