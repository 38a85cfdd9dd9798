//! A real SMTP server (aiosmtpd, via `smtp_server.py`) in a child process, killed on drop.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl SmtpServer {
    /// Starts the server and waits until it accepts connections. Fails (never skips)
    /// when aiosmtpd is missing, saying how to install it.
    pub fn start() -> SmtpServer {
        let check = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .output()
            .expect("python3 must be installed to run the email tests");
        assert!(
            check.status.success(),
            "the email tests need aiosmtpd: run `pip install aiosmtpd` ({})",
            String::from_utf8_lossy(&check.stderr).trim()
        );
        let port = super::http::closed_port();
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/smtp_server.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn python3 smtp_server.py");
        let mut server = SmtpServer { port, dir, child };
        let up = super::wait_for(Duration::from_secs(15), || {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("the SMTP server exited early ({status}); is aiosmtpd installed? `pip install aiosmtpd`");
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "the SMTP server did not start on port {port}");
        server
    }

    /// Raw messages received so far, oldest first.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.files("eml")
            .into_iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    }

    /// Envelopes (`{"mail_from", "rcpt_tos"}`) of the messages received so far.
    pub fn envelopes(&self) -> Vec<serde_json::Value> {
        self.files("eml")
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(p.with_extension("json")).unwrap();
                serde_json::from_str(&text).unwrap()
            })
            .collect()
    }

    fn files(&self, ext: &str) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect();
        out.sort();
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
