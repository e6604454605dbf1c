//! A local Redis Cluster of a test's own: `redis-server --cluster-enabled yes` on free loopback ports, joined
//! with `redis-cli --cluster create`. Killed on drop.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use redis::AsyncCommands;

use super::{RedisUnderTest, free_port, ping, spawn_server};
use crate::{config::RedisSettings, connection::RedisConnection};

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
}

impl TestCluster {
    /// Starts the nodes, joins them into a cluster and waits until every node sees it whole.
    pub fn start(primaries: usize, replicas: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("recur-test-cluster-{}", uuid::Uuid::new_v4()));
        let count = primaries * (1 + replicas);
        let mut nodes = Vec::with_capacity(count);
        for _ in 0..count {
            let port = free_port();
            let node_dir = dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).expect("create the test cluster's data folder");
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
            ]
            .map(String::from);
            nodes.push(Node { child: spawn_server(port, &node_dir, &options), port });
        }
        let cluster = Self { nodes, dir };
        for node in &cluster.nodes {
            assert!(wait(Duration::from_secs(10), || ping(node.port)), "cluster node {} did not start", node.port);
        }
        let addresses: Vec<String> = cluster.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli must be installed to run the cluster tests (it comes with redis-server)");
        assert!(created.success(), "redis-cli --cluster create failed");
        let whole = || cluster.nodes.iter().all(|node| cluster_info(node.port).contains("cluster_state:ok"));
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
        let live: Vec<u16> = self.nodes.iter().map(|node| node.port).filter(|port| ping(*port)).collect();
        wait(timeout, || {
            self.serving(key).is_some_and(|port| port != old)
                && live.iter().all(|port| cluster_info(*port).contains("cluster_state:ok"))
        })
    }

    /// The port of the primary serving `key`'s slot, as a live node sees it: not one marked failed.
    fn serving(&self, key: &str) -> Option<u16> {
        let port = self.live_port();
        let slot = redis_cli(port, &["CLUSTER", "KEYSLOT", key]);
        let slot: u16 = slot.trim().parse().expect("a slot number");
        let nodes = redis_cli(port, &["CLUSTER", "NODES"]);
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

    /// Waits until `WAIT`-style replication of everything written so far to `key`'s primary has reached at
    /// least one replica: what a write acknowledged and replicated means in the failover tests.
    pub fn wait_for_replication(&self, key: &str) {
        let acknowledged = redis_cli(self.primary_of(key), &["WAIT", "1", "5000"]);
        assert_eq!(acknowledged.trim(), "1", "no replica acknowledged the writes");
    }

    /// A cluster connection for direct reads and writes in assertions.
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
        self.nodes.iter().map(|node| node.port).find(|port| ping(*port)).expect("a live cluster node")
    }
}

impl RedisUnderTest for TestCluster {
    fn url(&self) -> String {
        let seeds: Vec<String> = self.nodes.iter().map(|node| format!("127.0.0.1:{}", node.port)).collect();
        format!("redis+cluster://{}", seeds.join(","))
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

fn cluster_info(port: u16) -> String {
    redis_cli(port, &["CLUSTER", "INFO"])
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli").args(["-p", &port.to_string()]).args(args).output();
    output.map(|output| String::from_utf8_lossy(&output.stdout).into_owned()).unwrap_or_default()
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
