//! The shop's TCP server in this process, on a free loopback port, for the
//! tests that talk to it over real sockets.

use ringmaster::ingress::{ServeReport, Server, ServerConfig, ServerHandle};
use ringmaster::journal::Durability;
use ringmaster::shop::{Shop, ShopConfig};
use ringmaster::WaitStrategy;
use std::io::BufReader;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

/// Small ring (the window) and yielding waits: tests run with threads >
/// cores, and the window fills.
pub fn shop_config(dir: &Path) -> ShopConfig {
    ShopConfig::new(dir)
        .durability(Durability::None)
        .segment_size(1 << 20)
        .ring_capacity(256)
        .wait_strategy(WaitStrategy::Yielding)
}

pub struct Running {
    pub shop: Option<Shop>,
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served, if the config asked for it.
    pub metrics_addr: Option<SocketAddr>,
    pub handle: ServerHandle,
    thread: Option<JoinHandle<Result<ServeReport, ringmaster::ingress::ServerError>>>,
    pub dir: PathBuf,
    /// The data directory, when the server made it (removed on drop).
    owned: Option<super::TempDir>,
}

impl Running {
    pub fn start(suite: &str, tag: &str, tune: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = super::tempdir(suite, tag);
        let mut running = Self::start_in(&dir, tune);
        running.owned = Some(dir);
        running
    }

    pub fn start_in(dir: &Path, tune: impl FnOnce(&mut ServerConfig)) -> Self {
        let shop = Shop::open(shop_config(dir)).expect("open shop");
        let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
        tune(&mut config);
        let server = Server::bind(&shop, config).expect("bind");
        let (addr, handle) = (server.local_addr(), server.handle());
        #[cfg(feature = "prometheus")]
        let metrics_addr = server.metrics_addr();
        #[cfg(not(feature = "prometheus"))]
        let metrics_addr = None;
        let thread = Some(std::thread::spawn(move || server.run()));
        Self {
            shop: Some(shop),
            addr,
            metrics_addr,
            handle,
            thread,
            dir: dir.to_path_buf(),
            owned: None,
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s
    }

    /// A connection: its writing half and a buffered reader.
    pub fn open(&self) -> (TcpStream, BufReader<TcpStream>) {
        let tcp = self.connect();
        (tcp.try_clone().unwrap(), BufReader::new(tcp))
    }

    /// Stop the server and close the shop; the report and the data dir.
    pub fn stop(mut self) -> (ServeReport, PathBuf) {
        self.handle.stop();
        let report = self.thread.take().unwrap().join().unwrap().expect("serve");
        self.shop.take().unwrap().close().expect("close");
        (report, self.dir.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.stop();
            let _ = t.join();
        }
        if let Some(shop) = self.shop.take() {
            let _ = shop.close();
        }
    }
}
