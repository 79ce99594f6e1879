//! A real nats-server with JetStream for the replication tests: started on
//! a free loopback port with its storage in a temporary directory, killed
//! when dropped. Installed from Debian packages when missing.

use super::TempDir;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

/// The nats-server binary: on PATH or in /usr/sbin, else installed with
/// apt-get (CI and a fresh machine both get it this way).
pub fn binary() -> PathBuf {
    static INSTALL: Once = Once::new();
    let find = ringmaster::harness::peers::replicate::nats_binary;
    if let Some(found) = find() {
        return found;
    }
    INSTALL.call_once(|| {
        super::say("nats", "nats-server missing: installing it with apt-get");
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "nats-server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    });
    find().expect(
        "nats-server is needed by the replication tests and could not be installed \
         (apt-get install nats-server)",
    )
}

/// A running nats-server with JetStream.
#[derive(Debug)]
pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    store: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Nats {
    /// Start one on a free port.
    pub fn start(suite: &str) -> Self {
        let store = TempDir::new(suite, "nats");
        std::fs::create_dir_all(&store).expect("nats store dir");
        let mut nats = Self {
            child: None,
            port: 0,
            store,
        };
        for _ in 0..5 {
            nats.port = free_port();
            if nats.launch() {
                return nats;
            }
        }
        panic!("nats-server did not start on any of 5 ports");
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn launch(&mut self) -> bool {
        let child = Command::new(binary())
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
            .expect("spawn nats-server");
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return false;
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop();
        false
    }

    /// Freeze the server (SIGSTOP): connections stay open, what clients
    /// send sits unread in its socket buffers, and nothing is answered.
    pub fn freeze(&self) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .args(["-STOP", &child.id().to_string()])
                .status()
                .expect("kill -STOP");
            assert!(status.success(), "kill -STOP nats-server failed");
        }
    }

    /// Kill the server (SIGKILL): clients see it vanish mid-stream.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        let started = Instant::now();
        while !self.launch() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "nats-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}
