//! Validated values of the firewall: subnets, ports, protocols, exposures, and the plain
//! [`FirewallState`] the ruleset is generated from.
//!
//! Invariant: a [`Subnet`] is a network address with its prefix length (host bits zero), a
//! [`Port`] is 1–65535; both deserialize through `TryFrom<String>`/`TryFrom<u16>`, so a bad
//! value in a request is a 400 naming the field and never reaches nft.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

use crate::names::Invalid;

fn invalid(key: &'static str, message: String) -> Invalid {
    Invalid { key, message }
}

/// An IPv4 or IPv6 network such as `192.168.1.0/24` or `fd00:1::/64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Subnet {
    addr: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// Parses `addr/len`. A host address with bits set past the prefix is refused rather than
    /// silently masked, so `192.168.1.10/24` is caught as a likely typo.
    pub fn parse(text: &str) -> Result<Subnet, Invalid> {
        let text = text.trim();
        let (a, l) = text.split_once('/').ok_or_else(|| {
            invalid(
                "subnet_format",
                format!("'{text}' is not a subnet such as 192.168.1.0/24"),
            )
        })?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| invalid("subnet_format", format!("'{a}' is not an IP address")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = l.parse().ok().filter(|p| *p <= max).ok_or_else(|| {
            invalid(
                "subnet_format",
                format!("'{l}' is not a prefix length between 0 and {max}"),
            )
        })?;
        let s = Subnet { addr, prefix };
        if s.network() != addr {
            return Err(invalid(
                "subnet_host_bits",
                format!(
                    "'{text}' has host bits set; did you mean {}/{prefix}?",
                    s.network()
                ),
            ));
        }
        Ok(s)
    }

    /// The subnet holding `addr` with `prefix` bits (host bits cleared).
    pub fn containing(addr: IpAddr, prefix: u8) -> Subnet {
        let s = Subnet { addr, prefix };
        Subnet {
            addr: s.network(),
            prefix,
        }
    }

    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                IpAddr::V6((u128::from(a) & mask).into())
            }
        }
    }

    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_ipv4() == self.addr.is_ipv4() && Subnet::containing(ip, self.prefix).addr == self.addr
    }
}

impl utoipa::PartialSchema for Subnet {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An IPv4 or IPv6 network, such as 192.168.1.0/24"))
            .into()
    }
}

impl utoipa::ToSchema for Subnet {}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Subnet {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Invalid> {
        Subnet::parse(&value)
    }
}

impl From<Subnet> for String {
    fn from(s: Subnet) -> String {
        s.to_string()
    }
}

/// A TCP or UDP port, 1–65535.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "u16", into = "u16")]
#[schema(value_type = u16, example = 8080)]
pub struct Port(u16);

impl Port {
    pub fn new(port: u16) -> Result<Port, Invalid> {
        if port == 0 {
            return Err(invalid(
                "port_zero",
                "port 0 is not a port one can open".into(),
            ));
        }
        Ok(Port(port))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Port {
    type Error = Invalid;
    fn try_from(value: u16) -> Result<Self, Invalid> {
        Port::new(value)
    }
}

impl From<Port> for u16 {
    fn from(p: Port) -> u16 {
        p.0
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// Who may reach a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// Nobody, not even the LAN.
    Closed,
    /// The local network only (the default).
    #[default]
    Lan,
    /// Anyone, including the outside (the internet through the building's router).
    Outside,
}

impl Exposure {
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::Closed => "closed",
            Exposure::Lan => "lan",
            Exposure::Outside => "outside",
        }
    }

    pub fn parse(text: &str) -> Result<Exposure, Invalid> {
        match text {
            "closed" => Ok(Exposure::Closed),
            "lan" => Ok(Exposure::Lan),
            "outside" => Ok(Exposure::Outside),
            _ => Err(invalid(
                "exposure",
                format!("'{text}' is not an exposure: use closed, lan or outside"),
            )),
        }
    }
}

/// One service as the firewall sees it: who may reach it, the host ports its containers
/// publish, and the fixed port the proxy serves it on (for clients without mDNS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceRule {
    pub app: String,
    pub exposure: Exposure,
    pub ports: Vec<(Proto, Port)>,
    /// The proxy's listener for this service (TCP, on the box itself: no DNAT involved).
    #[serde(default)]
    pub proxy_port: Option<Port>,
}

/// Everything the ruleset depends on. A plain value: [`super::ruleset::ruleset`] is a pure
/// function of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FirewallState {
    /// The LAN zone; everything else is the outside.
    pub lan_subnets: Vec<Subnet>,
    /// The admin UI's port (from the agent's listen address). LAN only, always.
    pub admin_port: Port,
    /// The portal (plain HTTP, redirecting to the names of the services). LAN only.
    pub portal_port: Port,
    pub ssh_enabled: bool,
    pub services: Vec<ServiceRule>,
    /// The relay's tunnel interface, when the box has joined one: visitors arrive there on
    /// the web ports, and the proxy lets them reach only services open to the outside.
    #[serde(default)]
    pub relay_interface: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_validated() {
        assert_eq!(
            Subnet::parse("192.168.1.0/24").unwrap().to_string(),
            "192.168.1.0/24"
        );
        assert_eq!(
            Subnet::parse("fd00:1::/64").unwrap().to_string(),
            "fd00:1::/64"
        );
        assert_eq!(
            Subnet::parse("192.168.1.10/24").unwrap_err().key,
            "subnet_host_bits"
        );
        for bad in [
            "192.168.1.0",
            "192.168.1.0/33",
            "x/8",
            "10.0.0.0/-1",
            "10.0.0.0/8; flush ruleset",
        ] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
        let s = Subnet::parse("10.203.1.0/24").unwrap();
        assert!(s.contains("10.203.1.77".parse().unwrap()));
        assert!(s.contains("::ffff:10.203.1.77".parse().unwrap()));
        assert!(!s.contains("10.203.2.1".parse().unwrap()));
        assert!(!s.contains("fe80::1".parse().unwrap()));
    }

    #[test]
    fn ports_and_exposures_are_validated() {
        assert!(Port::new(0).is_err());
        assert!(serde_json::from_str::<Port>("0").is_err());
        assert!(serde_json::from_str::<Port>("70000").is_err());
        assert_eq!(
            serde_json::from_str::<Exposure>("\"outside\"").unwrap(),
            Exposure::Outside
        );
        assert!(Exposure::parse("world").is_err());
    }
}
