//! The firewall in plain words, in the admin's language: what is open to whom, and why. The
//! sentences come from the message catalog (`agent/i18n/*/firewall.toml`), one per fact, in
//! the order of the table: the zones, the box's own doors, each service, then the default.

use super::types::{Exposure, FirewallState, Subnet};
use crate::i18n::Messages;

fn join(list: &[Subnet], t: &Messages) -> String {
    if list.is_empty() {
        return t.get("firewall.explain.no_subnet").to_owned();
    }
    list.iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One sentence per fact. `lan_detected` says whether the LAN comes from the interfaces.
pub fn explain(state: &FirewallState, lan_detected: bool, t: &Messages) -> Vec<String> {
    let lan = join(&state.lan_subnets, t);
    let mut out = Vec::new();
    let zone_key = if lan_detected {
        "firewall.explain.lan_detected"
    } else {
        "firewall.explain.lan_set"
    };
    out.push(t.fmt(zone_key, &[("lan", &lan)]));
    out.push(t.fmt(
        "firewall.explain.portal",
        &[("lan", &lan), ("port", &state.portal_port.to_string())],
    ));
    if state.admin_port != state.portal_port {
        out.push(t.fmt(
            "firewall.explain.admin",
            &[("lan", &lan), ("port", &state.admin_port.to_string())],
        ));
    }
    out.push(if state.ssh_enabled {
        t.fmt("firewall.explain.ssh_on", &[("lan", &lan)])
    } else {
        t.get("firewall.explain.ssh_off").to_owned()
    });
    for svc in &state.services {
        // The proxy's fixed port is one more TCP door of the service, governed the same way.
        let all: Vec<(super::types::Proto, super::types::Port)> = svc
            .ports
            .iter()
            .copied()
            .chain(svc.proxy_port.map(|p| (super::types::Proto::Tcp, p)))
            .collect();
        let ports = if all.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = all
                .iter()
                .map(|(proto, port)| format!("{port}/{}", proto.as_str()))
                .collect();
            t.fmt("firewall.explain.ports", &[("ports", &list.join(", "))])
        };
        let key = match svc.exposure {
            Exposure::Closed => "firewall.explain.service_closed",
            Exposure::Lan => "firewall.explain.service_lan",
            Exposure::Outside => "firewall.explain.service_outside",
        };
        out.push(t.fmt(key, &[("app", &svc.app), ("lan", &lan), ("ports", &ports)]));
    }
    out.push(t.get("firewall.explain.default").to_owned());
    out.push(t.get("firewall.explain.outbound").to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::types::{Port, Proto, ServiceRule};
    use crate::i18n::messages;
    use crate::names::Language;

    #[test]
    fn says_who_reaches_what_and_why() {
        let state = FirewallState {
            lan_subnets: vec![Subnet::parse("192.168.1.0/24").unwrap()],
            admin_port: Port::new(443).unwrap(),
            portal_port: Port::new(80).unwrap(),
            ssh_enabled: false,
            relay_interface: None,
            services: vec![ServiceRule {
                app: "pad".into(),
                exposure: Exposure::Lan,
                ports: vec![(Proto::Tcp, Port::new(9001).unwrap())],
                proxy_port: Some(Port::new(8001).unwrap()),
            }],
        };
        let fr = explain(&state, true, messages(Language::Fr)).join("\n");
        assert!(fr.contains("Le service pad (ports 9001/tcp, 8001/tcp) est accessible depuis le réseau local 192.168.1.0/24, car il est réglé sur « réseau local »"), "{fr}");
        let en = explain(&state, true, messages(Language::En)).join("\n");
        assert!(en.contains("pad (ports 9001/tcp, 8001/tcp) is reachable from the local network 192.168.1.0/24, because it is set to “local network”"), "{en}");
        assert!(!en.contains('{'), "every placeholder is filled: {en}");
    }
}
