//! The LAN zone, detected from the box's interfaces: the networks of every interface that is
//! up, except loopback and the container engine's bridges and veths. IPv6 link-local is always
//! part of the LAN (the ruleset adds it). An admin may override the detection with explicit
//! subnets; the detection is then only shown.
//!
//! Limits: a box with two uplinks (one to the LAN, one to a modem in bridge mode) would count
//! both as LAN; such a box needs the override.

use super::types::Subnet;
use std::net::IpAddr;

/// Interface name prefixes that are never the LAN: the engine's bridges and container links,
/// and the relay's tunnel (`panier0`: what comes through it is the outside).
const NOT_LAN: &[&str] = &[
    "lo", "docker", "br-", "veth", "podman", "cni", "virbr", "flannel", "panier",
];

/// The LAN subnets among `(interface, address, prefix length)` triples. Pure; see [`detect`].
pub fn lan_from(addresses: &[(String, IpAddr, u8)]) -> Vec<Subnet> {
    let mut out: Vec<Subnet> = addresses
        .iter()
        .filter(|(name, _, _)| !NOT_LAN.iter().any(|p| name.starts_with(p)))
        .filter(|(_, ip, _)| match ip {
            IpAddr::V4(a) => !a.is_loopback() && !a.is_link_local() && !a.is_unspecified(),
            IpAddr::V6(a) => !a.is_loopback() && !a.is_unicast_link_local() && !a.is_unspecified(),
        })
        .map(|(_, ip, prefix)| Subnet::containing(*ip, *prefix))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Reads the interfaces of the box's network namespace.
pub fn detect() -> Vec<Subnet> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        log::warn!(
            "cannot read the network interfaces: the LAN zone is empty until an admin sets it"
        );
        return Vec::new();
    };
    let mut triples = Vec::new();
    for a in addrs {
        if !a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP) {
            continue;
        }
        let (Some(addr), Some(mask)) = (a.address, a.netmask) else {
            continue;
        };
        if let (Some(ip), Some(m)) = (addr.as_sockaddr_in(), mask.as_sockaddr_in()) {
            triples.push((
                a.interface_name,
                IpAddr::V4(ip.ip()),
                u32::from(m.ip()).count_ones() as u8,
            ));
        } else if let (Some(ip), Some(m)) = (addr.as_sockaddr_in6(), mask.as_sockaddr_in6()) {
            triples.push((
                a.interface_name,
                IpAddr::V6(ip.ip()),
                u128::from(m.ip()).count_ones() as u8,
            ));
        }
    }
    lan_from(&triples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_bridges_and_loopback_are_not_the_lan() {
        let t = |n: &str, a: &str, p: u8| (n.to_owned(), a.parse().unwrap(), p);
        let got = lan_from(&[
            t("lo", "127.0.0.1", 8),
            t("enp1s0", "192.168.1.37", 24),
            t("enp1s0", "2001:db8:1::37", 64),
            t("enp1s0", "fe80::1", 64),
            t("docker0", "172.17.0.1", 16),
            t("br-1234", "172.18.0.1", 16),
            t("wlp2s0", "192.168.1.40", 24),
            t("panier0", "10.251.71.2", 24),
        ]);
        let names: Vec<String> = got.iter().map(|s| s.to_string()).collect();
        assert_eq!(names, ["192.168.1.0/24", "2001:db8:1::/64"]);
    }
}
