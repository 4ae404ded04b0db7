//! How many connections the web entries hold at once, so that one visitor cannot take the
//! box down by opening slow connections until the agent runs out of file descriptors.
//!
//! The budget comes from the process's file-descriptor limit (raised to its hard limit at
//! start, see [`raise_nofile`]): 128 are kept for the agent's own files (database, engine,
//! journal, restic's pipes, the local socket), and each proxied connection may cost two (the
//! visitor's and the upstream's), so `(limit - 128) / 2` connections at most, and never more
//! than [`MAX_CONNECTIONS`] (memory on a 4 GB box). Of those, an eighth is **reserved** for
//! the HTTPS entry, where the admin UI answers: the portal, services by name over HTTP and the
//! fixed ports stop being accepted before it does. Each **source** (an IPv4 address, an IPv6
//! /64) holds at most [`MAX_PER_SOURCE`] (and at most a quarter of the budget): a laptop that
//! opens a thousand connections gets that many and the others are closed at once, while the
//! rest of the LAN, the admin UI and the local socket (which the caps never count) keep
//! answering. nftables limits the rate of new connections per source before that
//! (`firewall::ruleset::guard`).
//!
//! Limits: many sources together can still fill the public share (the reserve then keeps
//! the HTTPS entry answering, but services share it with the admin UI there); a visitor behind
//! the same NAT as many others shares one source's allowance.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections at most, whatever the file-descriptor limit.
pub const MAX_CONNECTIONS: usize = 4096;
/// Connections at most from one source (a page with many images and a few WebSockets uses
/// a few dozen; a classroom behind one NAT address a few hundred).
pub const MAX_PER_SOURCE: usize = 256;
/// File descriptors kept for the agent's own work.
const KEPT_FOR_THE_AGENT: u64 = 128;

/// Which entry a connection arrives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The HTTPS entry (the admin UI): may use the reserve.
    Admin,
    /// The HTTP entry and the fixed ports.
    Public,
}

/// Why a connection is closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this source already holds {0} connections")]
    Source(usize),
    #[error("the box holds {0} connections, its limit for this entry")]
    Full(usize),
}

/// The shared counts of every web entry (cheap to clone).
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Inner>,
}

struct Inner {
    total: usize,
    public: usize,
    per_source: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    open: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it gives its place back.
pub struct Permit {
    inner: Arc<Inner>,
    source: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.open = c.open.saturating_sub(1);
        if let Some(n) = c.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                c.by_source.remove(&self.source);
            }
        }
    }
}

/// The key a connection counts under: the address, or its /64 for IPv6 (one host has a whole
/// /64 to pick addresses from).
fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

impl Limits {
    /// The caps for a process allowed `nofile` file descriptors.
    pub fn for_nofile(nofile: u64) -> Limits {
        let budget = (nofile.saturating_sub(KEPT_FOR_THE_AGENT) / 2) as usize;
        let total = budget.clamp(16, MAX_CONNECTIONS);
        Limits::new(total, MAX_PER_SOURCE.min(total / 4).max(4))
    }

    /// `total` connections, an eighth of them reserved for the admin entry, `per_source`
    /// from one source.
    pub fn new(total: usize, per_source: usize) -> Limits {
        Limits {
            inner: Arc::new(Inner {
                total,
                public: total - (total / 8).max(1),
                per_source,
                counts: Mutex::default(),
            }),
        }
    }

    /// Admits a connection from `peer` on an entry of `class`, or says why not.
    pub fn admit(&self, peer: IpAddr, class: Class) -> Result<Permit, Refusal> {
        let source = source_of(peer);
        let cap = match class {
            Class::Admin => self.inner.total,
            Class::Public => self.inner.public,
        };
        let mut c = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.open >= cap {
            return Err(Refusal::Full(c.open));
        }
        let from_source = c.by_source.entry(source).or_insert(0);
        if *from_source >= self.inner.per_source {
            return Err(Refusal::Source(*from_source));
        }
        *from_source += 1;
        c.open += 1;
        Ok(Permit {
            inner: self.inner.clone(),
            source,
        })
    }

    /// (connections now, the cap of the admin entry, the cap per source).
    pub fn figures(&self) -> (usize, usize, usize) {
        let c = self.inner.counts.lock().unwrap_or_else(|p| p.into_inner());
        (c.open, self.inner.total, self.inner.per_source)
    }
}

/// Raises the soft file-descriptor limit to the hard one (systemd starts services with a soft
/// limit of 1024 whatever `LimitNOFILE` allows as hard limit) and returns the limit now in
/// force.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_capped_and_the_admin_entry_keeps_a_reserve() {
        let limits = Limits::new(16, 4);
        let visitor: IpAddr = "192.168.1.50".parse().unwrap();
        let held: Vec<Permit> = (0..4)
            .map(|_| limits.admit(visitor, Class::Public).unwrap())
            .collect();
        assert_eq!(
            limits.admit(visitor, Class::Public).err(),
            Some(Refusal::Source(4))
        );
        // Other hosts fill the public share (16 - 2 reserved = 14)…
        let others: Vec<Permit> = (0..10)
            .map(|i| {
                let ip: IpAddr = format!("192.168.1.{}", 100 + i).parse().unwrap();
                limits.admit(ip, Class::Public).unwrap()
            })
            .collect();
        let late: IpAddr = "192.168.1.200".parse().unwrap();
        assert_eq!(
            limits.admit(late, Class::Public).err(),
            Some(Refusal::Full(14))
        );
        // …and the admin entry still admits.
        let admin = limits.admit(late, Class::Admin).unwrap();
        drop(held);
        assert!(limits.admit(visitor, Class::Public).is_ok());
        drop((others, admin));
        assert_eq!(limits.figures().0, 0);
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64() {
        let limits = Limits::new(64, 2);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let _p = (
            limits.admit(a, Class::Public).unwrap(),
            limits.admit(b, Class::Public).unwrap(),
        );
        assert!(limits.admit(a, Class::Public).is_err());
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limits.admit(other, Class::Public).is_ok());
    }

    #[test]
    fn the_budget_follows_the_descriptor_limit() {
        assert_eq!(Limits::for_nofile(1024).figures(), (0, 448, 112));
        assert_eq!(Limits::for_nofile(65536).figures(), (0, 4096, 256));
    }
}
