//! The caller's IP address, for per-IP limits.
//!
//! Without trusted proxies it is the socket peer. Behind proxies
//! (`TICKETGW_TRUST_FORWARDED=true`) it is read from `X-Forwarded-For`
//! counting from the right, because only the entries the trusted proxies
//! appended are true; the left end is whatever the client wrote:
//!
//! * `TICKETGW_TRUSTED_PROXIES` (CIDRs): walk from the socket peer leftwards
//!   over the addresses inside those networks; the first one outside is the
//!   client. A peer outside them is the client itself (its header is ignored).
//! * otherwise `TICKETGW_TRUSTED_PROXY_HOPS` (default 1): the entry that
//!   many places from the right end of the header (1: the address the one
//!   proxy in front appended).
//!
//! On AWS Lambda the runtime's request context carries the source address
//! API Gateway or the function URL saw; it is read here, in the platform,
//! never in handlers. (An ALB context has none: its appended header entry
//! is used as above.)

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use tg_http::ApiError;

use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

impl ClientIp {
    /// A stable key for counters (`unknown` when no address is known).
    pub fn key(&self) -> String {
        self.0
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "unknown".into())
    }
}

/// An IP network (`10.0.0.0/8`, `fd00::/8`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // Compare IPv4-mapped IPv6 peers as IPv4.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: prefix must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }
}

/// Which forwarded entries the deployment vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardedTrust {
    /// The socket peer is the client (no proxy trusted).
    None,
    /// This many proxies in front each appended one entry.
    Hops(u32),
    /// Proxies are the addresses inside these networks.
    Networks(Vec<Cidr>),
}

/// The client address from the socket peer (or Lambda's source address)
/// and the `X-Forwarded-For` header values, under `trust`.
pub fn resolve(peer: Option<IpAddr>, forwarded: &[&str], trust: &ForwardedTrust) -> Option<IpAddr> {
    // Every entry of every header line, left to right.
    let hops: Vec<&str> = forwarded
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    match trust {
        ForwardedTrust::None => peer,
        ForwardedTrust::Hops(n) => {
            let n = usize::try_from(*n).unwrap_or(usize::MAX).max(1);
            if hops.len() < n {
                // Fewer entries than proxies: it did not come through them.
                return peer;
            }
            parse_hop(hops[hops.len() - n]).or(peer)
        }
        ForwardedTrust::Networks(nets) => {
            let trusted = |ip: IpAddr| nets.iter().any(|n| n.contains(ip));
            match peer {
                Some(p) if !trusted(p) => return Some(p),
                _ => {}
            }
            let mut last = peer;
            for h in hops.iter().rev() {
                let Some(ip) = parse_hop(h) else {
                    // Garbage left of the trusted entries: the last address
                    // a trusted proxy vouched for is the client.
                    return last;
                };
                if !trusted(ip) {
                    return Some(ip);
                }
                last = Some(ip);
            }
            last
        }
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(h: &str) -> Option<IpAddr> {
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(ip);
    }
    h.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The address the runtime saw: the TCP peer, or on Lambda the source
/// address in the request context.
fn peer(parts: &Parts) -> Option<IpAddr> {
    if let Some(ConnectInfo(addr)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
        return Some(addr.ip());
    }
    use lambda_http::request::RequestContext;
    let source = match parts.extensions.get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref(),
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref(),
        // ALB (and contexts of features enabled elsewhere) carry no source address.
        #[allow(unreachable_patterns)]
        _ => None,
    };
    source.and_then(parse_hop)
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientIp(resolve(
            peer(parts),
            &forwarded,
            &state.config.forwarded_trust(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    fn nets(list: &[&str]) -> ForwardedTrust {
        ForwardedTrust::Networks(
            list.iter()
                .map(|s| s.parse().unwrap_or_else(|e| panic!("{e}")))
                .collect(),
        )
    }

    #[test]
    fn the_left_end_is_never_believed() {
        let peer = Some(ip("10.0.0.7"));
        let xff = ["6.6.6.6, 203.0.113.9"];
        assert_eq!(
            resolve(peer, &xff, &ForwardedTrust::Hops(1)),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            resolve(peer, &xff, &ForwardedTrust::Hops(2)),
            Some(ip("6.6.6.6"))
        );
        assert_eq!(resolve(peer, &xff, &ForwardedTrust::None), peer);
        // Several header lines are one list.
        let lines = ["6.6.6.6", "203.0.113.9"];
        assert_eq!(
            resolve(peer, &lines, &ForwardedTrust::Hops(1)),
            Some(ip("203.0.113.9"))
        );
        // Fewer entries than proxies: the peer.
        assert_eq!(resolve(peer, &[], &ForwardedTrust::Hops(1)), peer);
    }

    #[test]
    fn networks_walk_from_the_right() {
        let trust = nets(&["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"]);
        // queue-proxy (loopback) <- activator (10.x) <- ingress (10.x) <- client
        let xff = ["6.6.6.6, 198.51.100.4, 10.1.2.3, 10.4.5.6"];
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), &xff, &trust),
            Some(ip("198.51.100.4"))
        );
        // An untrusted peer is the client; its header means nothing.
        assert_eq!(
            resolve(Some(ip("192.0.2.1")), &xff, &trust),
            Some(ip("192.0.2.1"))
        );
        // Only proxies: the leftmost proxy-written entry.
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), &["10.9.9.9"], &trust),
            Some(ip("10.9.9.9"))
        );
        // Garbage in the header stops the walk at the last trusted hop.
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), &["nonsense, 10.9.9.9"], &trust),
            Some(ip("10.9.9.9"))
        );
        assert_eq!(
            resolve(Some(ip("::ffff:10.0.0.1")), &["198.51.100.4"], &trust),
            Some(ip("198.51.100.4"))
        );
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(all.contains(ip("8.8.8.8")));
        let one: Cidr = "::1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(one.contains(ip("::1")) && !one.contains(ip("::2")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("ten".parse::<Cidr>().is_err());
    }
}
