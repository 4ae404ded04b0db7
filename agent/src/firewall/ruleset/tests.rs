//! Golden files: `agent/testdata/firewall/<case>.json` is the exact batch for each case, and
//! each passes `nft -c` (a dry run in the kernel's own parser). `PANIER_UPDATE_GOLDEN=1`
//! rewrites them after a deliberate change; review the diff.

use super::*;
use crate::firewall::types::ServiceRule;
use std::path::PathBuf;
use std::process::Command;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/firewall")
}

fn subnets(list: &[&str]) -> Vec<Subnet> {
    list.iter().map(|s| Subnet::parse(s).unwrap()).collect()
}

fn port(p: u16) -> Port {
    Port::new(p).unwrap()
}

fn cases() -> Vec<(&'static str, FirewallState)> {
    let fresh = FirewallState {
        lan_subnets: subnets(&["192.168.1.0/24"]),
        admin_port: port(443),
        portal_port: port(80),
        ssh_enabled: false,
        relay_interface: None,
        services: vec![],
    };
    let mixed = FirewallState {
        lan_subnets: subnets(&[
            "192.168.1.0/24",
            "10.0.0.0/8",
            "10.1.0.0/16",
            "2001:db8:1::/64",
            "fe80::/64",
        ]),
        admin_port: port(8443),
        portal_port: port(80),
        ssh_enabled: true,
        relay_interface: None,
        services: vec![
            ServiceRule {
                app: "etherpad".into(),
                exposure: Exposure::Lan,
                ports: vec![(Proto::Tcp, port(9001))],
                proxy_port: Some(port(8001)),
            },
            ServiceRule {
                app: "snikket".into(),
                exposure: Exposure::Outside,
                ports: vec![(Proto::Tcp, port(5222)), (Proto::Tcp, port(5269))],
                proxy_port: None,
            },
            ServiceRule {
                app: "galene".into(),
                exposure: Exposure::Closed,
                ports: vec![(Proto::Udp, port(1194)), (Proto::Tcp, port(8444))],
                proxy_port: Some(port(8002)),
            },
            ServiceRule {
                app: "wiki".into(),
                exposure: Exposure::Outside,
                ports: vec![],
                proxy_port: Some(port(8003)),
            },
        ],
    };
    let no_lan = FirewallState {
        lan_subnets: vec![],
        admin_port: port(443),
        portal_port: port(443),
        ssh_enabled: false,
        relay_interface: None,
        services: vec![],
    };
    let relay = FirewallState {
        relay_interface: Some("panier0".into()),
        ..mixed.clone()
    };
    vec![
        ("fresh-box", fresh),
        ("relay", relay),
        ("mixed-services", mixed),
        ("no-lan-detected", no_lan),
    ]
}

#[test]
fn rulesets_match_golden_files() {
    let update = std::env::var_os("PANIER_UPDATE_GOLDEN").is_some();
    for (name, state) in cases() {
        let path = dir().join(format!("{name}.json"));
        let got = serde_json::to_string_pretty(&ruleset(&state)).unwrap() + "\n";
        if update {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (PANIER_UPDATE_GOLDEN=1 writes it)", path.display())
        });
        assert!(
            got == want,
            "{name}: the ruleset differs from {}; if the change is deliberate, rerun with PANIER_UPDATE_GOLDEN=1 and review the diff",
            path.display()
        );
    }
}

#[test]
fn golden_files_pass_nft_check() {
    let Ok(version) = Command::new("nft").arg("--version").output() else {
        eprintln!("nft is not installed: skipping the nft -c check");
        return;
    };
    assert!(version.status.success());
    let mut checked = 0;
    for entry in std::fs::read_dir(dir()).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            let out = Command::new("nft")
                .args(["-c", "-j", "-f"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "nft -c refuses {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 3, "golden files are missing");
}

#[test]
fn admin_ui_is_never_open_to_the_outside() {
    for (_, state) in cases() {
        let json = serde_json::to_value(ruleset(&state)).unwrap();
        for o in json["nftables"].as_array().unwrap() {
            let rule = &o["add"]["rule"];
            let text = rule.to_string();
            // On the relay's interface the proxy decides by name (it never serves the admin UI
            // there): the web ports are accepted on that interface only.
            let on_relay = text.contains("\"iifname\"") && text.contains("panier0");
            if rule["chain"] == "input"
                && !on_relay
                && text.contains(&format!("\"right\":{}", state.admin_port))
            {
                panic!("the admin port is accepted outside from_lan: {text}");
            }
        }
    }
}

#[test]
fn overlapping_lan_subnets_are_collapsed() {
    let c = collapse(subnets(&[
        "10.1.0.0/16",
        "10.0.0.0/8",
        "192.168.1.0/24",
        "192.168.1.0/24",
    ]));
    assert_eq!(c, subnets(&["10.0.0.0/8", "192.168.1.0/24"]));
}
