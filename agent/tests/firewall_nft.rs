//! The nft backend against the real `nft` in a scratch network namespace (root only): a whole
//! table applied atomically, and a batch nft refuses leaves the previous table in place and
//! reports nft's own message — through the backend and through a firewall change.

use panier::admins::Actor;
use panier::firewall::ruleset::ruleset;
use panier::firewall::{
    BackendError, Change, Exposure, Firewall, FirewallBackend, FirewallError, FirewallOptions,
    FirewallState, Nft, NoServices, Port, Subnet,
};
use panier::store::Store;
use std::process::Command;
use std::sync::Arc;

/// Runs `f` on a thread inside a fresh network namespace (nft inherits it), or skips.
fn in_scratch_netns(name: &str, f: impl FnOnce() + Send) {
    if !nix::unistd::geteuid().is_root() || Command::new("nft").arg("--version").output().is_err() {
        eprintln!("needs root and nft: skipped");
        return;
    }
    let _ = Command::new("ip").args(["netns", "del", name]).output();
    assert!(
        Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .unwrap()
            .success()
    );
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/var/run/netns/{name}")).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
    });
    let _ = Command::new("ip").args(["netns", "del", name]).output();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

fn state() -> FirewallState {
    FirewallState {
        lan_subnets: vec![Subnet::parse("10.203.7.0/24").unwrap()],
        admin_port: Port::new(8443).unwrap(),
        portal_port: Port::new(80).unwrap(),
        ssh_enabled: false,
        relay_interface: None,
        services: vec![],
    }
}

/// The real nft, fed a batch with one extra rule that jumps to a chain that does not exist.
struct Corrupting(Nft);

impl FirewallBackend for Corrupting {
    fn apply(&self, batch: &nftables::schema::Nftables) -> Result<(), BackendError> {
        let mut value = serde_json::to_value(batch).unwrap();
        let bad = serde_json::json!({"add": {"rule": {"family": "inet", "table": "panier", "chain": "input", "expr": [{"jump": {"target": "no_such_chain"}}]}}});
        value["nftables"].as_array_mut().unwrap().push(bad);
        self.0.apply(&serde_json::from_value(value).unwrap())
    }
    fn show(&self) -> Result<Option<String>, BackendError> {
        self.0.show()
    }
    fn rule_count(&self) -> Result<Option<usize>, BackendError> {
        self.0.rule_count()
    }
}

#[test]
fn refused_batch_keeps_the_previous_table_and_says_why() {
    in_scratch_netns("panier-fw-unit", || {
        let nft = Nft::default();
        assert_eq!(nft.rule_count().unwrap(), None);
        let good = ruleset(&state());
        nft.apply(&good).unwrap();
        nft.apply(&good).unwrap(); // replacing the whole table works too
        let count = nft.rule_count().unwrap().unwrap();
        assert_eq!(count, panier::firewall::ruleset::rule_count(&good));

        // Through a firewall change: refused, nft's message, nothing stored, table unchanged.
        let store = Store::memory();
        let options = FirewallOptions {
            admin_port: Port::new(8443).unwrap(),
            portal_port: Port::new(80).unwrap(),
            revert_after: panier::firewall::REVERT_AFTER,
            detect_lan: || vec![],
        };
        let fw = Firewall::new(
            store.clone(),
            Some(Arc::new(Corrupting(Nft::default()))),
            Arc::new(NoServices),
            Arc::new(NoServices),
            options,
        );
        let err = fw
            .change(
                &Actor::Local { uid: 0 },
                None,
                Change::Exposure {
                    app: panier::firewall::AppName::parse("pad").unwrap(),
                    exposure: Exposure::Outside,
                },
            )
            .unwrap_err();
        let FirewallError::Refused { message } = &err else {
            panic!("{err:?}")
        };
        assert!(
            message.contains("no_such_chain") || message.contains("No such file"),
            "nft's own words: {message}"
        );
        assert!(
            store.firewall_policy().unwrap().exposures.is_empty(),
            "nothing stored"
        );
        assert_eq!(
            nft.rule_count().unwrap(),
            Some(count),
            "the previous table is still there"
        );
        assert!(
            nft.show()
                .unwrap()
                .unwrap()
                .contains("the admin UI: LAN only, always")
        );
    });
}
