//! Which address a call came from: the TCP peer, or — only when the peer is a trusted proxy —
//! the address the proxy forwarded, as nginx's `set_real_ip_from` with `real_ip_recursive on`.
//!
//! Any pod can reach the Service directly, so a forwarded-for header is believed only from the
//! addresses given with `--trusted-proxy` (the Ingress controller's). Walking the header from
//! its end, each trusted address is replaced by the one before it; the first address that is not
//! a trusted proxy is the client. What a client writes at the start of the header is never
//! reached while a trusted proxy appended after it.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`), or one address (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A `--trusted-proxy` value that is not an address or network.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an IP address or CIDR network (e.g. 10.0.0.0/8, 192.0.2.7, fd00::/8)")]
pub struct BadCidr(String);

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCidr(s.chars().take(80).collect());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { network: mask(addr, prefix), prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(bits.into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(bits.into())
        }
    }
}

impl Cidr {
    /// Whether `addr` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = addr.to_canonical();
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }
}

/// The client address of a call that came from `peer` with `forwarded` (the values of the
/// forwarded-for header, in order; each may hold a comma-separated list).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |a: IpAddr| trusted.iter().any(|c| c.contains(a));
    let mut client = peer.to_canonical();
    if !is_trusted(client) {
        return client;
    }
    let entries: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    for entry in entries.into_iter().rev() {
        if !is_trusted(client) {
            break;
        }
        match entry.trim().parse::<IpAddr>() {
            Ok(a) => client = a.to_canonical(),
            // Garbage where an address should be: stop at the last address known.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn cidrs_parse_mask_and_contain() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains(ip("10.255.0.1")) && !c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.1")), "IPv4-mapped");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")) && !v6.contains(ip("10.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        for bad in ["", "10.0.0.0/33", "10.0.0/8", "x", "::/129", "10.0.0.0/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
    }

    /// Issue 13, item 5.
    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let trusted = cidrs(&["10.0.0.0/24"]);
        // A pod that is not the proxy claims any address it likes: ignored.
        assert_eq!(client_address(ip("10.0.9.9"), ["1.2.3.4"].into_iter(), &trusted), ip("10.0.9.9"));
        // Without trusted proxies the header is never read.
        assert_eq!(client_address(ip("10.0.0.5"), ["1.2.3.4"].into_iter(), &[]), ip("10.0.0.5"));
        // Through the proxy: the address it appended, not what the client wrote before it.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["6.6.6.6, 203.0.113.7"].into_iter(), &trusted),
            ip("203.0.113.7")
        );
        // Chained proxies (a load balancer in front of the Ingress), over two header lines.
        assert_eq!(
            client_address(ip("10.0.0.5"), ["6.6.6.6, 203.0.113.7", "10.0.0.8"].into_iter(), &trusted),
            ip("203.0.113.7")
        );
        // Garbage from the client, or an empty header: the last address known.
        assert_eq!(client_address(ip("10.0.0.5"), ["nonsense"].into_iter(), &trusted), ip("10.0.0.5"));
        assert_eq!(
            client_address(ip("10.0.0.5"), ["nonsense, 10.0.0.6"].into_iter(), &trusted),
            ip("10.0.0.6")
        );
        assert_eq!(client_address(ip("10.0.0.5"), std::iter::empty(), &trusted), ip("10.0.0.5"));
    }
}
