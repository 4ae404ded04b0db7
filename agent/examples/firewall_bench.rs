//! Benchmark: build and apply the whole `inet panier` table for 50 services (target ≤ 200 ms),
//! with the real `nft`, inside a scratch network namespace (needs root). Prints figures; not
//! pass/fail. Run by `tools/bench/firewall.sh`.

use panier::firewall::ruleset::{rule_count, ruleset};
use panier::firewall::{
    Exposure, FirewallBackend, FirewallState, Nft, Port, Proto, ServiceRule, Subnet,
};
use std::process::Command;
use std::time::{Duration, Instant};

fn state(services: usize) -> FirewallState {
    let exposures = [Exposure::Lan, Exposure::Outside, Exposure::Closed];
    FirewallState {
        lan_subnets: vec![
            Subnet::parse("192.168.1.0/24").unwrap(),
            Subnet::parse("2001:db8:1::/64").unwrap(),
        ],
        admin_port: Port::new(443).unwrap(),
        portal_port: Port::new(80).unwrap(),
        ssh_enabled: true,
        relay_interface: None,
        services: (0..services)
            .map(|i| ServiceRule {
                app: format!("service-{i:02}"),
                exposure: exposures[i % 3],
                ports: vec![
                    (Proto::Tcp, Port::new(10000 + 2 * i as u16).unwrap()),
                    (Proto::Udp, Port::new(10001 + 2 * i as u16).unwrap()),
                ],
                proxy_port: Some(Port::new(8000 + i as u16).unwrap()),
            })
            .collect(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let ns = format!("panier-fw-bench-{}", std::process::id());
    assert!(
        Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .expect("ip")
            .success(),
        "creating a network namespace needs root"
    );
    let file = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("entering the namespace");
    let nft = Nft::default();
    let s = state(50);
    let runs = 30;
    let (mut build, mut total) = (Vec::new(), Vec::new());
    let mut rules = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let batch = ruleset(&s);
        let built = start.elapsed();
        nft.apply(&batch).expect("nft applies the table");
        total.push(start.elapsed());
        build.push(built);
        rules = rule_count(&batch);
    }
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    build.sort();
    total.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("firewall: 50 services (100 ports), {rules} rules, {runs} runs");
    println!(
        "  build (pure function)     median {:.2} ms  max {:.2} ms",
        ms(percentile(&build, 0.5)),
        ms(*build.last().unwrap())
    );
    println!(
        "  build + apply (nft batch) median {:.1} ms  p90 {:.1} ms  max {:.1} ms   [target ≤ 200 ms]",
        ms(percentile(&total, 0.5)),
        ms(percentile(&total, 0.9)),
        ms(*total.last().unwrap())
    );
}
