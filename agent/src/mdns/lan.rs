//! The LAN interface and its current addresses.

use std::net::IpAddr;

/// The interface of the default route (from `/proc/net/route`), else the first interface
/// that is up, not loopback, with an IPv4 address.
pub fn default_interface() -> Option<String> {
    if let Ok(text) = std::fs::read_to_string("/proc/net/route") {
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() > 2 && cols[1] == "00000000" {
                return Some(cols[0].to_owned());
            }
        }
    }
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    addrs
        .filter(|a| {
            a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP)
                && !a
                    .flags
                    .contains(nix::net::if_::InterfaceFlags::IFF_LOOPBACK)
        })
        .find(|a| {
            a.address
                .as_ref()
                .and_then(|s| s.as_sockaddr_in())
                .is_some()
        })
        .map(|a| a.interface_name)
}

/// The addresses of `interface` that other devices can use: IPv4 and global or unique-local
/// IPv6 (link-local IPv6 needs a zone, which URLs and certificates cannot carry).
pub fn addresses(interface: &str) -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return vec![];
    };
    let mut out: Vec<IpAddr> = addrs
        .filter(|a| a.interface_name == interface)
        .filter_map(|a| {
            let s = a.address?;
            if let Some(v4) = s.as_sockaddr_in() {
                return Some(IpAddr::V4(v4.ip()));
            }
            let v6 = s.as_sockaddr_in6()?.ip();
            let link_local = (v6.segments()[0] & 0xffc0) == 0xfe80;
            (!link_local).then_some(IpAddr::V6(v6))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
