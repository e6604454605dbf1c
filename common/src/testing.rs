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

use redis::AsyncCommands;

use crate::{clock::Clock, config::RedisSettings, connection::RedisConnection, store::Store};

#[cfg(feature = "testing")]
pub mod browser;
pub mod cluster;

pub use cluster::TestCluster;

/// A Redis a test runs recur against: one server ([`TestRedis`]) or a cluster ([`TestCluster`]).
pub trait RedisUnderTest {
    /// What the binaries take as `REDIS_URL`.
    fn url(&self) -> String;

    /// The certificate a TLS client must trust, for a TLS server.
    fn ca_certificate(&self) -> Option<PathBuf> {
        None
    }
}

/// A `redis-server` of this test's own on a free port, killed on drop. Never the shared 6379.
pub struct TestRedis {
    child: Child,
    port: u16,
    /// The TLS port, when the server was started with [`TestRedis::start_tls`].
    tls_port: Option<u16>,
    dir: PathBuf,
    /// The extra arguments it was started with, to start it again the same way.
    extra: Vec<String>,
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
        Self::start_in(dir, extra, None)
    }

    /// Starts a server that also listens with TLS, on a certificate for 127.0.0.1 made for it; [`url`]
    /// is then `rediss://` and [`ca_certificate`] the file a client must trust.
    ///
    /// [`url`]: TestRedis::url
    /// [`ca_certificate`]: TestRedis::ca_certificate
    pub fn start_tls() -> Self {
        let dir = std::env::temp_dir().join(format!("recur-test-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create the test redis data folder");
        make_certificates(&dir);
        let tls_port = free_port().to_string();
        let tls = ["--tls-port", &tls_port, "--tls-cert-file", "cert.pem", "--tls-key-file", "key.pem"];
        let tls = [
            &tls[..],
            &["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no", "--save", "", "--appendonly", "no"],
        ]
        .concat();
        Self::start_in(dir, &tls, tls_port.parse().ok())
    }

    fn start_in(dir: PathBuf, extra: &[&str], tls_port: Option<u16>) -> Self {
        let extra: Vec<String> = extra.iter().map(ToString::to_string).collect();
        // A port can be taken between probing and binding; try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                child: spawn_server(port, &dir, &extra),
                port,
                tls_port,
                dir: dir.clone(),
                extra: extra.clone(),
            };
            if server.wait_until_ready(Duration::from_secs(10)) {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("could not start a private redis-server");
    }

    /// Starts the server again on the same port and data folder after [`TestRedis::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_server(self.port, &self.dir, &self.extra);
        assert!(self.wait_until_ready(Duration::from_secs(10)), "the test redis did not come back");
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

    /// The server's URL: `rediss://` to the TLS port when it has one.
    pub fn url(&self) -> String {
        RedisUnderTest::url(self)
    }

    /// The certificate a TLS client must trust (set it as `SSL_CERT_FILE`), for a TLS server.
    pub fn ca_certificate(&self) -> Option<PathBuf> {
        RedisUnderTest::ca_certificate(self)
    }

    /// Settings that point at this server with the default prefix.
    pub fn settings(&self) -> RedisSettings {
        RedisSettings::for_url(self.url())
    }

    /// A connection for direct reads in assertions (over plain TCP, also for a TLS server).
    pub async fn connection(&self) -> RedisConnection {
        let plain = RedisSettings::for_url(format!("redis://127.0.0.1:{}", self.port));
        plain.connect().await.expect("connect to the test redis")
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

    /// Runs one command as an operator would with `redis-cli` (to damage a record, say), answering its reply.
    pub async fn command(&self, args: &[&str]) -> redis::Value {
        let mut command = redis::cmd(args[0]);
        command.arg(&args[1..]);
        command.query_async(&mut self.connection().await).await.expect("command")
    }

    /// One `INFO` field of `section`, such as `number_of_cached_scripts` of `memory`.
    pub async fn info_field(&self, section: &str, field: &str) -> Option<String> {
        let info: String = redis::cmd("INFO").arg(section).query_async(&mut self.connection().await).await.ok()?;
        crate::connection::info_field(&info, field).map(str::to_string)
    }

    /// Deletes keys, as an operator's mistake or a lost write would.
    pub async fn delete(&self, keys: &[String]) {
        let _: () = self.connection().await.del(keys).await.expect("DEL");
    }
}

impl RedisUnderTest for TestRedis {
    fn url(&self) -> String {
        match self.tls_port {
            Some(port) => format!("rediss://127.0.0.1:{port}"),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    fn ca_certificate(&self) -> Option<PathBuf> {
        self.tls_port.map(|_| self.dir.join("ca.pem"))
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes into `dir` a CA (`ca.pem`) and a certificate for 127.0.0.1 it signs (`cert.pem`, `key.pem`), for
/// TLS test servers.
pub(crate) fn make_certificates(dir: &std::path::Path) {
    // A CA and a server certificate it signs: TLS clients refuse a CA certificate used as the server's.
    let openssl = |args: &[&str]| {
        let made = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl must be installed for the TLS tests");
        assert!(made.success(), "openssl {args:?} failed");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=recur test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
        .expect("write extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
}

fn spawn_server(port: u16, dir: &std::path::Path, extra: &[String]) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed to run the tests (scripts/test installs it)")
}

/// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (false).
pub async fn poll_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
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
