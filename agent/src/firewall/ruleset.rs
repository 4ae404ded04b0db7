//! The pure function at the heart of the firewall: [`FirewallState`] → the whole `inet panier`
//! table as one nft JSON batch. No I/O here; `agent/testdata/firewall/*.json` holds golden
//! outputs, and a test checks each one with `nft -c`.
//!
//! The batch starts with `add table` + `delete table` + `add table`, so applying it replaces
//! the table whole, atomically, whether or not it existed. It also deletes the image's
//! boot-time table [`BOOT_TABLE`] (`buildroot-overlay/etc/nftables.conf`, up from power-on
//! until the agent takes over) in the same transaction, so the box is never without a
//! firewall nor under two. Other tables (the engine's) are never named.
//!
//! Shape of the table (every rule carries a comment, so `nft list table inet panier` reads
//! like the explanation):
//! - set `lan4`/`lan6`: the LAN zone (`fe80::/10` is always in it: link-local traffic can only
//!   come from the same link).
//! - chain `input` (hook input, policy drop): loopback, established/related, invalid dropped,
//!   the ICMP a network needs (echo rate-limited), DHCP client answers, then LAN sources jump
//!   to `from_lan`; services open to the outside are accepted for everyone; the rest is
//!   logged (rate-limited, prefix [`LOG_PREFIX`]) and dropped by the policy.
//!   With a relay, its tunnel interface is accepted on the web ports: the proxy, which
//!   alone sees the name asked for, serves visitors there only the services open to the
//!   outside.
//! - chain `from_lan`: mDNS, the portal, the admin UI, SSH when enabled, services set to LAN.
//!   A service's fixed port on the proxy (the agent itself listens there) follows the
//!   service's exposure in `input`/`from_lan` like its published ports; a closed service's
//!   fixed port is accepted nowhere.
//! - chain `forward` (hook forward, priority filter − 10, before the engine's own filter
//!   chains at priority 0): new connections the engine DNATs to a published container port
//!   go through `published`, which matches on the conntrack *original* destination port (the
//!   host port that was published), so the policy holds whatever the engine does in its own
//!   tables. Containers reaching each other through a published port (bridge interfaces)
//!   are left alone; LAN sources are accepted except for closed services; from the outside
//!   only services open to the outside pass, the rest is logged and dropped.
//! - No output chain: outbound traffic is allowed. Per-service outbound limits would be a
//!   `forward` rule on the container's source address, in a chain of its own.

use super::types::{Exposure, FirewallState, Port, Proto, Subnet};
use nftables::expr::{
    CT, CTDir, Expression, Meta, MetaKey, NamedExpression, Payload, PayloadField, Prefix, SetItem,
};
use nftables::schema::{
    Chain, NfCmd, NfListObject, NfObject, Nftables, Rule, Set, SetFlag, SetType, SetTypeValue,
    Table,
};
use nftables::stmt::{JumpTarget, Limit, Log, LogLevel, Match, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use std::borrow::Cow;
use std::collections::HashSet;

pub const TABLE: &str = "panier";
/// The image's boot-time table, replaced by [`TABLE`] in the agent's first batch.
pub const BOOT_TABLE: &str = "panier_boot";
/// The prefix of the kernel log lines of dropped packets (the UI reads them back).
pub const LOG_PREFIX: &str = "panier-blocked: ";
/// Interfaces of the engine's bridges (docker0, user networks br-…, podman's).
const ENGINE_BRIDGES: &[&str] = &["docker0", "br-*", "podman*"];

type Stmts = Vec<Statement<'static>>;

fn s(text: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(text.into()))
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::EQ,
    })
}

fn is_in(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    Statement::Match(Match {
        left,
        right,
        op: Operator::IN,
    })
}

fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn ct(key: &'static str, dir: Option<CTDir>) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(CT {
        key: key.into(),
        family: None,
        dir,
    }))
}

fn set_of(items: &[&'static str]) -> Expression<'static> {
    Expression::Named(NamedExpression::Set(
        items.iter().map(|i| SetItem::Element(s(*i))).collect(),
    ))
}

fn list(items: &[&'static str]) -> Expression<'static> {
    Expression::List(items.iter().map(|i| s(*i)).collect())
}

fn accept() -> Statement<'static> {
    Statement::Accept(None)
}

fn drop() -> Statement<'static> {
    Statement::Drop(None)
}

fn jump(target: &'static str) -> Statement<'static> {
    Statement::Jump(JumpTarget {
        target: target.into(),
    })
}

fn limit(rate: u32, per: &'static str, burst: u32) -> Statement<'static> {
    Statement::Limit(Limit {
        rate,
        rate_unit: None,
        per: Some(per.into()),
        burst: Some(burst),
        burst_unit: None,
        inv: None,
    })
}

fn log() -> Statement<'static> {
    Statement::Log(Some(Log {
        prefix: Some(LOG_PREFIX.into()),
        group: None,
        snaplen: None,
        queue_threshold: None,
        level: Some(LogLevel::Info),
        flags: None,
    }))
}

fn port_match(proto: Proto, port: Port) -> Statement<'static> {
    eq(
        payload(proto.as_str(), "dport"),
        Expression::Number(port.get().into()),
    )
}

/// `meta l4proto P ct original proto-dst N`: the port the client asked for, before DNAT.
fn original_port(proto: Proto, port: Port) -> Stmts {
    vec![
        eq(meta(MetaKey::L4proto), s(proto.as_str())),
        eq(
            ct("proto-dst", Some(CTDir::Original)),
            Expression::Number(port.get().into()),
        ),
    ]
}

/// Keeps a comment to what nft accepts (at most 128 bytes) and to plain characters.
fn comment(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || " -_.:,()/".contains(*c))
        .take(120)
        .collect()
}

/// Removes subnets contained in another one (nft refuses overlapping interval elements).
fn collapse(mut subnets: Vec<Subnet>) -> Vec<Subnet> {
    subnets.sort_by_key(|s| s.prefix());
    let mut out: Vec<Subnet> = Vec::new();
    for s in subnets {
        if !out.iter().any(|o| o.contains(s.addr())) {
            out.push(s);
        }
    }
    out.sort();
    out
}

struct Batch {
    objects: Vec<NfObject<'static>>,
}

impl Batch {
    fn add(&mut self, object: NfListObject<'static>) {
        self.objects.push(NfObject::CmdObject(NfCmd::Add(object)));
    }

    fn chain(&mut self, name: &'static str, hook: Option<(NfHook, i32, NfChainPolicy)>) {
        let (hook, prio, policy) = match hook {
            Some((h, p, pol)) => (Some(h), Some(p), Some(pol)),
            None => (None, None, None),
        };
        self.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: TABLE.into(),
            name: name.into(),
            newname: None,
            handle: None,
            _type: hook.map(|_| NfChainType::Filter),
            hook,
            prio,
            dev: None,
            policy,
        }));
    }

    fn rule(&mut self, chain: &'static str, expr: Stmts, why: &str) {
        self.add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: TABLE.into(),
            chain: chain.into(),
            expr: expr.into(),
            handle: None,
            index: None,
            comment: Some(comment(why).into()),
        }));
    }

    fn lan_set(&mut self, name: &'static str, kind: SetType, subnets: &[Subnet]) {
        let elem: Vec<Expression<'static>> = subnets
            .iter()
            .map(|n| {
                Expression::Named(NamedExpression::Prefix(Prefix {
                    addr: Box::new(s(n.addr().to_string())),
                    len: u32::from(n.prefix()),
                }))
            })
            .collect();
        self.add(NfListObject::Set(Box::new(Set {
            family: NfFamily::INet,
            table: TABLE.into(),
            name: name.into(),
            handle: None,
            set_type: SetTypeValue::Single(kind),
            policy: None,
            flags: Some(HashSet::from([SetFlag::Interval])),
            elem: if elem.is_empty() {
                None
            } else {
                Some(elem.into())
            },
            timeout: None,
            gc_interval: None,
            size: None,
            comment: Some(comment("the LAN zone").into()),
        })));
    }
}

/// The LAN zone as the table holds it: the subnets plus IPv6 link-local, without overlaps.
pub fn lan_with_link_local(subnets: &[Subnet]) -> Vec<Subnet> {
    let link_local = Subnet::parse("fe80::/10").expect("valid");
    collapse(subnets.iter().copied().chain([link_local]).collect())
}

/// The whole `inet panier` table for `state`, as one batch of nft commands.
pub fn ruleset(state: &FirewallState) -> Nftables<'static> {
    let table = || {
        NfListObject::Table(Table {
            family: NfFamily::INet,
            name: TABLE.into(),
            handle: None,
        })
    };
    let boot = || {
        NfListObject::Table(Table {
            family: NfFamily::INet,
            name: BOOT_TABLE.into(),
            handle: None,
        })
    };
    let mut b = Batch {
        objects: Vec::new(),
    };
    b.add(boot());
    b.objects.push(NfObject::CmdObject(NfCmd::Delete(boot())));
    b.add(table());
    b.objects.push(NfObject::CmdObject(NfCmd::Delete(table())));
    b.add(table());

    let lan = lan_with_link_local(&state.lan_subnets);
    let (v4, v6): (Vec<Subnet>, Vec<Subnet>) = lan.into_iter().partition(|s| s.is_ipv4());
    b.lan_set("lan4", SetType::Ipv4Addr, &v4);
    b.lan_set("lan6", SetType::Ipv6Addr, &v6);

    b.chain("input", Some((NfHook::Input, 0, NfChainPolicy::Drop)));
    b.chain("from_lan", None);
    b.chain(
        "forward",
        Some((NfHook::Forward, -10, NfChainPolicy::Accept)),
    );
    b.chain("published", None);
    b.chain("published_from_lan", None);

    // input: what every host needs, then the zones.
    b.rule(
        "input",
        vec![eq(meta(MetaKey::Iif), s("lo")), accept()],
        "the box talking to itself",
    );
    b.rule(
        "input",
        vec![
            is_in(ct("state", None), list(&["established", "related"])),
            accept(),
        ],
        "answers to connections already allowed",
    );
    b.rule(
        "input",
        vec![is_in(ct("state", None), s("invalid")), drop()],
        "packets that belong to no valid connection",
    );
    b.rule(
        "input",
        vec![
            eq(payload("icmp", "type"), s("echo-request")),
            limit(10, "second", 20),
            accept(),
        ],
        "ping, rate-limited",
    );
    b.rule(
        "input",
        vec![
            eq(
                payload("icmp", "type"),
                set_of(&[
                    "destination-unreachable",
                    "time-exceeded",
                    "parameter-problem",
                ]),
            ),
            accept(),
        ],
        "ICMP errors a network needs",
    );
    b.rule(
        "input",
        vec![
            eq(payload("icmpv6", "type"), s("echo-request")),
            limit(10, "second", 20),
            accept(),
        ],
        "ping over IPv6, rate-limited",
    );
    b.rule(
        "input",
        vec![
            eq(
                payload("icmpv6", "type"),
                set_of(&[
                    "destination-unreachable",
                    "packet-too-big",
                    "time-exceeded",
                    "parameter-problem",
                    "mld-listener-query",
                    "nd-router-advert",
                    "nd-neighbor-solicit",
                    "nd-neighbor-advert",
                ]),
            ),
            accept(),
        ],
        "ICMPv6 a network needs (neighbour discovery, errors)",
    );
    // Before the box has an address it cannot know its LAN: DHCP answers are accepted on
    // every interface (they only ever come from the local link).
    b.rule(
        "input",
        vec![
            eq(payload("udp", "sport"), Expression::Number(67)),
            eq(payload("udp", "dport"), Expression::Number(68)),
            accept(),
        ],
        "DHCP: answers of the address server of the network",
    );
    b.rule(
        "input",
        vec![
            eq(payload("ip6", "saddr"), s("@lan6")),
            eq(payload("udp", "sport"), Expression::Number(547)),
            eq(payload("udp", "dport"), Expression::Number(546)),
            accept(),
        ],
        "DHCPv6: answers of the address server of the network",
    );
    let mut web_ports = vec![state.portal_port, state.admin_port];
    web_ports.extend(state.services.iter().filter_map(|svc| svc.proxy_port));
    guard::new_connections_per_source(&mut b, &web_ports);
    if let Some(relay) = &state.relay_interface {
        let mut ports = vec![state.portal_port];
        if state.admin_port != state.portal_port {
            ports.push(state.admin_port);
        }
        for port in ports {
            b.rule(
                "input",
                vec![
                    eq(meta(MetaKey::Iifname), s(relay.clone())),
                    port_match(Proto::Tcp, port),
                    accept(),
                ],
                "the relay: visitors to the public names of services open to the outside (the proxy answers them nothing else, never the admin UI)",
            );
        }
    }
    b.rule(
        "input",
        vec![eq(payload("ip", "saddr"), s("@lan4")), jump("from_lan")],
        "the LAN zone (IPv4)",
    );
    b.rule(
        "input",
        vec![eq(payload("ip6", "saddr"), s("@lan6")), jump("from_lan")],
        "the LAN zone (IPv6)",
    );
    for svc in state
        .services
        .iter()
        .filter(|s| s.exposure == Exposure::Outside)
    {
        for (proto, port) in &svc.ports {
            b.rule(
                "input",
                vec![port_match(*proto, *port), accept()],
                &format!("{}: open to the outside", svc.app),
            );
        }
        if let Some(port) = svc.proxy_port {
            b.rule(
                "input",
                vec![port_match(Proto::Tcp, port), accept()],
                &format!(
                    "{}: its fixed port on the proxy, open to the outside",
                    svc.app
                ),
            );
        }
    }
    b.rule(
        "input",
        vec![limit(10, "minute", 20), log()],
        "log what is dropped (at most 10 lines a minute)",
    );

    // from_lan: the box's own services.
    b.rule(
        "from_lan",
        vec![
            port_match(Proto::Udp, Port::new(5353).expect("valid")),
            accept(),
        ],
        "mDNS: the name of the box (panier.local)",
    );
    b.rule(
        "from_lan",
        vec![port_match(Proto::Tcp, state.portal_port), accept()],
        "the portal",
    );
    if state.admin_port != state.portal_port {
        b.rule(
            "from_lan",
            vec![port_match(Proto::Tcp, state.admin_port), accept()],
            "the admin UI: LAN only, always",
        );
    }
    if state.ssh_enabled {
        b.rule(
            "from_lan",
            vec![
                port_match(Proto::Tcp, Port::new(22).expect("valid")),
                accept(),
            ],
            "SSH, enabled by an admin",
        );
    }
    for svc in state
        .services
        .iter()
        .filter(|s| s.exposure == Exposure::Lan)
    {
        for (proto, port) in &svc.ports {
            b.rule(
                "from_lan",
                vec![port_match(*proto, *port), accept()],
                &format!("{}: set to LAN", svc.app),
            );
        }
        if let Some(port) = svc.proxy_port {
            b.rule(
                "from_lan",
                vec![port_match(Proto::Tcp, port), accept()],
                &format!("{}: its fixed port on the proxy, set to LAN", svc.app),
            );
        }
    }

    // forward: connections the engine forwards to published container ports.
    b.rule(
        "forward",
        vec![
            is_in(ct("state", None), s("new")),
            is_in(ct("status", None), s("dnat")),
            jump("published"),
        ],
        "new connections to a published container port",
    );
    guard::container_networks(&mut b);
    for bridge in ENGINE_BRIDGES {
        b.rule(
            "published",
            vec![
                eq(meta(MetaKey::Iifname), s(*bridge)),
                Statement::Return(None),
            ],
            "containers reaching each other",
        );
    }
    b.rule(
        "published",
        vec![
            eq(payload("ip", "saddr"), s("@lan4")),
            jump("published_from_lan"),
        ],
        "the LAN zone (IPv4)",
    );
    b.rule(
        "published",
        vec![
            eq(payload("ip6", "saddr"), s("@lan6")),
            jump("published_from_lan"),
        ],
        "the LAN zone (IPv6)",
    );
    for svc in state
        .services
        .iter()
        .filter(|s| s.exposure == Exposure::Outside)
    {
        for (proto, port) in &svc.ports {
            let mut expr = original_port(*proto, *port);
            expr.push(accept());
            b.rule(
                "published",
                expr,
                &format!("{}: open to the outside", svc.app),
            );
        }
    }
    b.rule(
        "published",
        vec![limit(10, "minute", 20), log()],
        "log what is dropped (at most 10 lines a minute)",
    );
    b.rule(
        "published",
        vec![drop()],
        "published ports are closed to the outside unless a service is opened",
    );
    for svc in state
        .services
        .iter()
        .filter(|s| s.exposure == Exposure::Closed)
    {
        for (proto, port) in &svc.ports {
            let mut expr = original_port(*proto, *port);
            expr.push(drop());
            b.rule("published_from_lan", expr, &format!("{}: closed", svc.app));
        }
    }
    b.rule(
        "published_from_lan",
        vec![accept()],
        "published ports are open to the LAN",
    );

    Nftables {
        objects: b.objects.into(),
    }
}

/// The number of rules in the batch: the reconciler compares it with the live table.
pub fn rule_count(batch: &Nftables) -> usize {
    batch
        .objects
        .iter()
        .filter(|o| matches!(o, NfObject::CmdObject(NfCmd::Add(NfListObject::Rule(_)))))
        .count()
}

mod guard;
pub use guard::{NEW_BURST, NEW_PER_SECOND};

#[cfg(test)]
mod tests;
