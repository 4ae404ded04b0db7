//! Rules that protect the box from the LAN itself (issue 16), kept apart from the zones so
//! other features (the relay's exposure) add theirs without touching these:
//! - [`new_connections_per_source`]: in `input`, a source opening more than
//!   [`NEW_PER_SECOND`] new TCP connections a second (after a burst of [`NEW_BURST`]) to the
//!   box's web ports has the excess dropped, before it reaches the agent's accept loop (whose
//!   own caps are in `proxy::limits`). One laptop cannot open a thousand connections at once.
//! - [`container_networks`]: in `forward`, nothing reaches a container network that the
//!   engine did not DNAT from a published port (those are judged by `published`), that is not
//!   an answer, or that does not come from a container. Forwarding is on for the engine, and
//!   Docker 20–27 leaves its FORWARD policy at accept when forwarding was already on: without
//!   this a LAN host with a route to 172.17.0.0/16 reached databases and closed services.

use super::{
    Batch, ENGINE_BRIDGES, accept, ct, drop, eq, is_in, limit, list, log, meta, payload, s,
};
use crate::firewall::types::Port;
use nftables::expr::{Expression, MetaKey, NamedExpression, SetItem};
use nftables::stmt::{Limit, Meter, Statement};

/// New connections a second one source may open to the web ports, after the burst.
pub const NEW_PER_SECOND: u32 = 100;
/// A page with many images opens a few dozen at once; a NAT'ed Wi-Fi shares one address.
pub const NEW_BURST: u32 = 400;

fn ports_set(ports: &[Port]) -> Expression<'static> {
    let mut items: Vec<u16> = ports.iter().map(|p| p.get()).collect();
    items.sort_unstable();
    items.dedup();
    Expression::Named(NamedExpression::Set(
        items
            .into_iter()
            .map(|p| SetItem::Element(Expression::Number(p.into())))
            .collect(),
    ))
}

/// In `input`: the per-source rate of new connections to `ports` (see the module doc).
pub(super) fn new_connections_per_source(b: &mut Batch, ports: &[Port]) {
    for (family, meter_name) in [("ip", "web_new4"), ("ip6", "web_new6")] {
        b.rule(
            "input",
            vec![
                eq(payload("tcp", "dport"), ports_set(ports)),
                is_in(ct("state", None), s("new")),
                Statement::Meter(Meter {
                    name: meter_name.into(),
                    key: payload(family, "saddr"),
                    stmt: Box::new(Statement::Limit(Limit {
                        rate: NEW_PER_SECOND,
                        rate_unit: None,
                        per: Some("second".into()),
                        burst: Some(NEW_BURST),
                        burst_unit: None,
                        inv: Some(true),
                    })),
                }),
                drop(),
            ],
            &format!(
                "one source opening more than {NEW_PER_SECOND} web connections a second ({family})"
            ),
        );
    }
}

/// In `forward`, after the published-port rules (see the module doc).
pub(super) fn container_networks(b: &mut Batch) {
    for bridge in ENGINE_BRIDGES {
        b.rule(
            "forward",
            vec![
                eq(meta(MetaKey::Oifname), s(*bridge)),
                is_in(ct("state", None), list(&["established", "related"])),
                accept(),
            ],
            "answers and connections already allowed into container networks",
        );
    }
    for bridge in ENGINE_BRIDGES {
        b.rule(
            "forward",
            vec![eq(meta(MetaKey::Iifname), s(*bridge)), accept()],
            "containers' own traffic (to each other, the LAN and beyond)",
        );
    }
    for bridge in ENGINE_BRIDGES {
        b.rule(
            "forward",
            vec![
                eq(meta(MetaKey::Oifname), s(*bridge)),
                is_in(ct("status", None), s("dnat")),
                accept(),
            ],
            "published ports, already judged by the published chain",
        );
    }
    for bridge in ENGINE_BRIDGES {
        b.rule(
            "forward",
            vec![
                eq(meta(MetaKey::Oifname), s(*bridge)),
                limit(10, "minute", 20),
                log(),
            ],
            "log what is dropped (at most 10 lines a minute)",
        );
        b.rule(
            "forward",
            vec![eq(meta(MetaKey::Oifname), s(*bridge)), drop()],
            "container networks are not reachable from the LAN except through published ports",
        );
    }
}
