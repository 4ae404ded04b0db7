//! Attacks on the firewall with real traffic (the world of `fwnet`: a box namespace with its
//! own dockerd, a LAN namespace that routes, an outside one).
//!
//! - A LAN host that adds a route to the engine's container network reaches a container's
//!   unpublished port directly (forwarding is on and Docker leaves its FORWARD policy at
//!   accept when it was already on): shown to work without the agent's table, then refused
//!   with it, while the published port still works.

use panier_system_tests::engine::busybox_image;
use panier_system_tests::fwnet::{Engine, docker, network, nft_box};
use panier_system_tests::netns::{tcp_open, within};
use panier_system_tests::{Agent, AgentOptions, wait_until};
use std::time::Duration;

const PROBE: Duration = Duration::from_millis(800);

#[test]
fn lan_hosts_cannot_reach_container_networks_directly() {
    let ns = network("phf1", 11);
    let (box_ns, lan) = (ns.name("box"), ns.name("lan"));
    // As on a box whose forwarding is on before the engine starts: the engine then keeps
    // the FORWARD policy at accept.
    ns.exec("box", &["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .unwrap();
    let engine = Engine::start(&box_ns);
    let url = engine.url();
    busybox_image(
        &url,
        "panier-hf-httpd",
        &[("/var/www/index.html", "db\n")],
        r#"["httpd","-f","-p","9000","-h","/var/www"]"#,
    )
    .unwrap();
    // A "database" without a published port (only for its service's other containers), and
    // a service published on 9001.
    for (name, publish) in [("db", None), ("pad", Some("9001:9000"))] {
        let label = format!("org.panier.app={name}");
        let mut args = vec!["run", "-d", "--name", name, "-l", &label];
        if let Some(p) = publish {
            args.extend(["-p", p]);
        }
        args.push("panier-hf-httpd");
        docker(&url, &args).unwrap();
    }
    let ip = docker(
        &url,
        &["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "db"],
    )
    .unwrap()
    .trim()
    .to_owned();
    assert!(!ip.is_empty());
    let subnet = format!(
        "{}.0.0/16",
        ip.split('.').take(2).collect::<Vec<_>>().join(".")
    );
    ns.ip("lan", &["route", "add", &subnet, "via", "10.203.11.1"])
        .unwrap();
    let db = format!("{ip}:9000");

    // Without the agent's table the hole is there: the topology works.
    wait_until(
        Duration::from_secs(20),
        "the database container from the LAN",
        || tcp_open(&lan, &db, PROBE),
    )
    .unwrap();

    let agent = Agent::start_with(AgentOptions {
        engine: Some(url.clone()),
        firewall: true,
        netns: Some(box_ns.clone()),
        listen: Some("0.0.0.0:8443".into()),
        ..Default::default()
    });
    wait_until(
        Duration::from_secs(10),
        "the published port in the table",
        || nft_box(&ns, &["list", "table", "inet", "panier"]).contains("pad: set to LAN"),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log_text()));
    assert!(
        !tcp_open(&lan, &db, PROBE),
        "LAN → an unpublished container port must be blocked:\n{}",
        nft_box(&ns, &["list", "table", "inet", "panier"])
    );
    assert!(
        tcp_open(&lan, "10.203.11.1:9001", PROBE),
        "LAN → a published port still works"
    );
    // And the box itself still answers the LAN.
    let health = within(&lan, || {
        ureq::get("http://10.203.11.1:8443/api/v1/health")
            .call()
            .is_ok()
    });
    assert!(health);
    drop(agent);
    drop(engine);
}
