//! A local Redis Cluster of a test's own: `redis-server --cluster-enabled yes` on free loopback ports, joined
//! with `redis-cli --cluster create`. Killed on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use redis::AsyncCommands;

use super::{RedisUnderTest, free_port, make_certificates, ping, spawn_server};
use crate::{
    config::RedisSettings,
    connection::{RedisConnection, info_field},
};

/// How long a primary may be silent before its replica takes over: short, so failover tests stay quick.
const NODE_TIMEOUT_MS: u64 = 1_000;

/// One node of a [`TestCluster`].
struct Node {
    child: Child,
    port: u16,
}

/// `primaries` primaries, each with `replicas` replicas, holding every slot between them.
pub struct TestCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
    /// Whether the nodes speak TLS only (clients and the cluster bus), on a certificate made for them.
    tls: bool,
}

impl TestCluster {
    /// Starts the nodes, joins them into a cluster and waits until every node sees it whole.
    pub fn start(primaries: usize, replicas: usize) -> Self {
        Self::start_with(primaries, replicas, false)
    }

    /// [`TestCluster::start`], the nodes speaking TLS only (between themselves too); [`RedisUnderTest::url`]
    /// is then `rediss+cluster://` and [`RedisUnderTest::ca_certificate`] the file a client must trust.
    pub fn start_tls(primaries: usize) -> Self {
        Self::start_with(primaries, 0, true)
    }

    fn start_with(primaries: usize, replicas: usize, tls: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-test-cluster-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create the test cluster's data folder");
        if tls {
            make_certificates(&dir);
        }
        let count = primaries * (1 + replicas);
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            let port = free_port();
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("create the test cluster's data folder");
            let file = |name: &str| dir.join(name).display().to_string();
            let port_options = if tls {
                vec![
                    "--port".to_string(),
                    "0".to_string(),
                    "--tls-port".to_string(),
                    port.to_string(),
                    "--tls-cert-file".to_string(),
                    file("cert.pem"),
                    "--tls-key-file".to_string(),
                    file("key.pem"),
                    "--tls-ca-cert-file".to_string(),
                    file("ca.pem"),
                    "--tls-auth-clients".to_string(),
                    "no".to_string(),
                    "--tls-cluster".to_string(),
                    "yes".to_string(),
                    "--tls-replication".to_string(),
                    "yes".to_string(),
                ]
            } else {
                Vec::new()
            };
            let options = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &NODE_TIMEOUT_MS.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                // A replica's first full sync starts at once, not after diskless sync's default 5 s delay.
                "--repl-diskless-sync-delay",
                "0",
            ]
            .map(String::from);
            let options = [&options[..], &port_options].concat();
            nodes.push(Node { child: spawn_server(port, &node_dir, &options), port });
        }
        let cluster = Self { nodes, dir, tls };
        for node in &cluster.nodes {
            assert!(wait(Duration::from_secs(10), || cluster.answers(node.port)), "node {} did not start", node.port);
        }
        let addresses: Vec<String> = cluster.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        let created = cluster
            .redis_cli_command()
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli must be installed to run the cluster tests (it comes with redis-server)");
        assert!(created.success(), "redis-cli --cluster create failed");
        let whole = || cluster.nodes.iter().all(|node| cluster.cluster_info(node.port).contains("cluster_state:ok"));
        assert!(wait(Duration::from_secs(20), whole), "the test cluster did not come up");
        cluster
    }

    /// The port of the primary that now serves `key`'s slot.
    pub fn primary_of(&self, key: &str) -> u16 {
        self.serving(key).unwrap_or_else(|| panic!("no primary serves {key}"))
    }

    /// Waits until a primary other than `old` serves `key`'s slot, as every live node sees it (after `old`
    /// was killed and its replica promoted); false on timeout.
    pub fn wait_for_failover(&self, key: &str, old: u16, timeout: Duration) -> bool {
        let live: Vec<u16> = self.nodes.iter().map(|node| node.port).filter(|port| self.answers(*port)).collect();
        wait(timeout, || {
            self.serving(key).is_some_and(|port| port != old)
                && live.iter().all(|port| self.cluster_info(*port).contains("cluster_state:ok"))
        })
    }

    /// The port of the primary serving `key`'s slot, as a live node sees it: not one marked failed.
    fn serving(&self, key: &str) -> Option<u16> {
        let port = self.live_port();
        let slot = self.redis_cli(port, &["CLUSTER", "KEYSLOT", key]);
        let slot: u16 = slot.trim().parse().expect("a slot number");
        let nodes = self.redis_cli(port, &["CLUSTER", "NODES"]);
        nodes
            .lines()
            .filter(|line| line.contains("master") && !line.contains("fail"))
            .find(|line| {
                line.split_whitespace().skip(8).any(|range| {
                    let (first, last) = range.split_once('-').unwrap_or((range, range));
                    matches!((first.parse::<u16>(), last.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
                })
            })
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|address| address.split(['@', ':']).nth(1))
            .and_then(|port| port.parse().ok())
    }

    /// The port of every node, primaries and replicas.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|node| node.port).collect()
    }

    /// Kills the node on `port` at once, as a crash would.
    pub fn kill_node(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|node| node.port == port) {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }

    /// Waits until a replica of `key`'s primary has acknowledged everything the primary had written when
    /// this was called: what a write acknowledged and replicated means in the failover tests. Compares
    /// replication offsets rather than calling `WAIT`, which only waits for the calling connection's own
    /// writes; the deadline covers a replica still in its first full sync on a loaded machine.
    pub fn wait_for_replication(&self, key: &str) {
        let primary = self.primary_of(key);
        let written = info_field(&self.redis_cli(primary, &["INFO", "replication"]), "master_repl_offset")
            .and_then(|offset| offset.parse::<u64>().ok())
            .expect("the primary's replication offset");
        let acknowledged = || {
            let info = self.redis_cli(primary, &["INFO", "replication"]);
            info.lines().filter(|line| line.starts_with("slave")).any(|line| {
                line.contains("state=online")
                    && line
                        .split(',')
                        .find_map(|pair| pair.strip_prefix("offset="))
                        .and_then(|offset| offset.parse::<u64>().ok())
                        .is_some_and(|offset| offset >= written)
            })
        };
        assert!(wait(Duration::from_secs(30), acknowledged), "no replica of {primary} acknowledged offset {written}");
    }

    /// A cluster connection for direct reads and writes in assertions (not for a TLS cluster, whose
    /// certificate the test process does not trust).
    pub async fn connection(&self) -> RedisConnection {
        RedisSettings::for_url(self.url()).connect().await.expect("connect to the test cluster")
    }

    /// Deletes keys, as an operator's mistake or a lost write would.
    pub async fn delete(&self, keys: &[String]) {
        let _: () = self.connection().await.del(keys).await.expect("DEL");
    }

    /// Reads a whole sorted set with scores, lowest first.
    pub async fn zset(&self, key: &str) -> Vec<(String, i64)> {
        self.connection().await.zrange_withscores(key, 0, -1).await.expect("ZRANGE")
    }

    fn live_port(&self) -> u16 {
        self.nodes.iter().map(|node| node.port).find(|port| self.answers(*port)).expect("a live cluster node")
    }

    /// Whether the node on `port` answers `PING`.
    fn answers(&self, port: u16) -> bool {
        if self.tls { self.redis_cli(port, &["PING"]).trim() == "PONG" } else { ping(port) }
    }

    fn cluster_info(&self, port: u16) -> String {
        self.redis_cli(port, &["CLUSTER", "INFO"])
    }

    fn redis_cli(&self, port: u16, args: &[&str]) -> String {
        let output = self.redis_cli_command().args(["-p", &port.to_string()]).args(args).output();
        output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default()
    }

    /// `redis-cli`, speaking TLS to a TLS cluster.
    fn redis_cli_command(&self) -> Command {
        let mut command = Command::new("redis-cli");
        if self.tls {
            command.args(["--tls", "--cacert"]).arg(self.dir.join("ca.pem"));
        }
        command
    }
}

impl RedisUnderTest for TestCluster {
    fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        format!("{}+cluster://{}", if self.tls { "rediss" } else { "redis" }, seeds.join(","))
    }

    fn ca_certificate(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("ca.pem"))
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
