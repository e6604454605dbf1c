//! The one connection type the store reads and writes through: one Redis server (a multiplexed connection
//! that reconnects by itself) or a Redis Cluster (which follows MOVED and ASK redirections and refreshes its
//! slot map when a primary fails over). Every key of a deployment carries the same hash tag, so on a
//! cluster a whole deployment lives in one slot, and every script runs on the node that owns it.

use redis::{
    Cmd, Pipeline, RedisFuture, Value,
    aio::{ConnectionLike, ConnectionManager},
    cluster_async::ClusterConnection,
    cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr},
};

/// A connection to one Redis server or to a Redis Cluster; cheap to clone (clones share the connection).
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConnection {
    /// `INFO section` of the servers that hold `keys`: on a cluster, of the primary owning each key's slot
    /// (the deployment's nodes) rather than an answer per node; on one server, its one answer.
    pub async fn info_of(&mut self, keys: &[String], section: &str) -> redis::RedisResult<Vec<String>> {
        let mut info = redis::cmd("INFO");
        info.arg(section);
        match self {
            Self::Single(conn) => Ok(vec![info.query_async(conn).await?]),
            Self::Cluster(conn) => {
                let mut answers = Vec::with_capacity(keys.len());
                for key in keys {
                    let route = Route::with_key(key.as_bytes(), SlotAddr::Master);
                    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                    answers.push(redis::from_redis_value(conn.route_command(info.clone(), routing).await?)?);
                }
                Ok(answers)
            }
        }
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// The value of the field `name` in an `INFO` reply, as `used_memory` in `INFO memory`.
pub fn info_field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(':')).map(str::trim)
}
