//! Test support shared by `common`'s own tests and the end-to-end suite: a private `redis-server` per
//! test, and readers of whole Redis structures for assertions.

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use redis::{AsyncCommands, aio::ConnectionManager};

use crate::{clock::Clock, config::RedisSettings, store::Store};

/// A `redis-server` of this test's own on a free port, killed on drop. Never the shared 6379.
pub struct TestRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl TestRedis {
    /// Starts a server without persistence and waits until it answers `PING`.
    pub fn start() -> Self {
        Self::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts a server with `extra` arguments (such as AOF settings) and waits until it answers.
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-test-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create the test redis data folder");
        // A port can be taken between probing and binding; try a few.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
                .arg(&dir)
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed to run the tests (scripts/test installs it)");
            let mut server = Self { child, port, dir: dir.clone() };
            if server.wait_until_ready(Duration::from_secs(10)) {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("could not start a private redis-server");
    }

    fn wait_until_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if ping(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Settings that point at this server with the default prefix.
    pub fn settings(&self) -> RedisSettings {
        RedisSettings { url: self.url(), prefix: "recur".to_string() }
    }

    /// A connection for direct reads in assertions.
    pub async fn connection(&self) -> ConnectionManager {
        self.settings().connect().await.expect("connect to the test redis")
    }

    /// A store on this server that reads time from `clock`.
    pub async fn store(&self, clock: Arc<dyn Clock>) -> Store {
        Store::new(self.connection().await, "recur", clock)
    }

    /// Stops the server at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Reads a whole hash.
    pub async fn hash(&self, key: &str) -> HashMap<String, String> {
        self.connection().await.hgetall(key).await.expect("HGETALL")
    }

    /// Reads a whole sorted set with scores, lowest first.
    pub async fn zset(&self, key: &str) -> Vec<(String, i64)> {
        self.connection().await.zrange_withscores(key, 0, -1).await.expect("ZRANGE")
    }

    /// Reads a whole list.
    pub async fn list(&self, key: &str) -> Vec<String> {
        self.connection().await.lrange(key, 0, -1).await.expect("LRANGE")
    }

    /// Whether a key exists.
    pub async fn exists(&self, key: &str) -> bool {
        self.connection().await.exists(key).await.expect("EXISTS")
    }

    /// Deletes keys, as an operator's mistake or a lost write would.
    pub async fn delete(&self, keys: &[String]) {
        let _: () = self.connection().await.del(keys).await.expect("DEL");
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a free port")
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
