//! The egress policy of http steps: which addresses a workflow may reach. It is checked on the address each
//! connection actually goes to (the names a step's URL and every redirect resolve to, and address literals),
//! so neither DNS rebinding nor a redirect can lead a step to an address the policy denies.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;
use recur_common::config::{ConfigError, env_or};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Denied by default: link-local ranges, where cloud metadata services answer (169.254.169.254, fd00:ec2::254),
/// Alibaba's metadata address, and "this network".
pub const DEFAULT_DENY: &str = "169.254.0.0/16,fe80::/10,fd00:ec2::254/128,100.100.100.200/32,0.0.0.0/8";

/// Ranges http steps may not reach (`RECUR_HTTP_DENY`), and exceptions inside them (`RECUR_HTTP_ALLOW`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    deny: Vec<IpNet>,
    allow: Vec<IpNet>,
}

impl EgressPolicy {
    /// Reads `RECUR_HTTP_DENY` (default [`DEFAULT_DENY`]) and `RECUR_HTTP_ALLOW` (default none), each a
    /// comma-separated list of CIDR ranges or single addresses.
    pub fn from_env() -> Result<Self, ConfigError> {
        let deny: String = env_or("RECUR_HTTP_DENY", DEFAULT_DENY.to_string())?;
        let allow: String = env_or("RECUR_HTTP_ALLOW", String::new())?;
        Ok(Self { deny: ranges("RECUR_HTTP_DENY", &deny)?, allow: ranges("RECUR_HTTP_ALLOW", &allow)? })
    }

    /// Whether a step may connect to `ip`; the error says which range denies it.
    pub fn check(&self, ip: IpAddr) -> Result<(), String> {
        // An IPv4 address written as IPv6 (::ffff:a.b.c.d) is the IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match self.deny.iter().find(|range| range.contains(&ip)) {
            Some(range) if !self.allow.iter().any(|allowed| allowed.contains(&ip)) => {
                Err(format!("{ip} is in {range}, which RECUR_HTTP_DENY denies to http steps"))
            }
            _ => Ok(()),
        }
    }
}

impl Default for EgressPolicy {
    fn default() -> Self {
        let deny = DEFAULT_DENY.split(',').filter_map(|range| range.parse().ok()).collect();
        Self { deny, allow: Vec::new() }
    }
}

impl fmt::Display for EgressPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |ranges: &[IpNet]| {
            if ranges.is_empty() {
                "none".to_string()
            } else {
                ranges.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            }
        };
        write!(f, "http steps may not reach {} (except {})", list(&self.deny), list(&self.allow))
    }
}

/// A comma-separated list of CIDR ranges; a bare address is a range of one.
fn ranges(name: &'static str, list: &str) -> Result<Vec<IpNet>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|range| !range.is_empty())
        .map(|range| {
            range.parse::<IpNet>().or_else(|_| range.parse::<IpAddr>().map(IpNet::from)).map_err(|_| ConfigError {
                name,
                value: list.to_string(),
                reason: format!("{range:?} is not a CIDR range or an IP address"),
            })
        })
        .collect()
}

/// Resolves names as the system does, then keeps only the addresses the policy permits: the connection can
/// only go to an address that was checked.
pub struct PolicyResolver(pub Arc<EgressPolicy>);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| policy.check(addr.ip()).map_err(|error| refusal = Some(error)).is_ok())
                .collect();
            match (permitted.is_empty(), refusal) {
                (true, Some(refusal)) => Err(format!("egress policy: {host} resolves to {refusal}").into()),
                _ => Ok(Box::new(permitted.into_iter()) as Addrs),
            }
        })
    }
}

/// The address a URL names literally (`http://10.0.0.1/`, `http://[::1]/`), which no resolver sees.
pub fn literal_address(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn by_default_metadata_and_link_local_addresses_are_denied_and_the_rest_allowed() {
        let policy = EgressPolicy::default();
        for denied in [
            "169.254.169.254",
            "169.254.1.1",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "::ffff:169.254.169.254",
            "0.0.0.0",
        ] {
            assert!(policy.check(ip(denied)).is_err(), "{denied}");
        }
        for allowed in ["127.0.0.1", "10.1.2.3", "192.168.0.1", "93.184.216.34", "::1", "2001:db8::1"] {
            assert!(policy.check(ip(allowed)).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn configured_ranges_deny_and_exceptions_allow_inside_them() {
        let policy = EgressPolicy {
            deny: ranges("RECUR_HTTP_DENY", "10.0.0.0/8, 127.0.0.0/8").unwrap(),
            allow: ranges("RECUR_HTTP_ALLOW", "10.1.2.3").unwrap(),
        };
        assert!(policy.check(ip("10.9.9.9")).unwrap_err().contains("10.0.0.0/8"));
        assert!(policy.check(ip("127.0.0.1")).is_err());
        assert!(policy.check(ip("10.1.2.3")).is_ok());
        assert!(ranges("RECUR_HTTP_DENY", "10.0.0.0/33").unwrap_err().to_string().contains("RECUR_HTTP_DENY"));
    }
}
