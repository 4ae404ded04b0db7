//! Change, confirm and revert against the in-memory store, with a backend that keeps the
//! batches it is given (the kernel side is tested for real in `agent/tests/firewall_nft.rs`
//! and `tests/tests/firewall.rs`) and a confirmation window of a fraction of a second.

use super::*;
use crate::store::AuditEntry;
use nftables::schema::Nftables;
use std::time::Duration;

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<String>>,
}

impl FirewallBackend for Recorder {
    fn apply(&self, batch: &Nftables) -> Result<(), BackendError> {
        let json = serde_json::to_string(batch).expect("a batch serializes");
        self.batches.lock().unwrap().push(json);
        Ok(())
    }
    fn show(&self) -> Result<Option<String>, BackendError> {
        Ok(self.batches.lock().unwrap().last().cloned())
    }
    fn rule_count(&self) -> Result<Option<usize>, BackendError> {
        Ok(Some(self.batches.lock().unwrap().len()))
    }
}

impl Recorder {
    fn last(&self) -> String {
        self.batches
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

const WINDOW: Duration = Duration::from_millis(300);

fn lan() -> Vec<Subnet> {
    vec![Subnet::parse("192.168.1.0/24").unwrap()]
}

fn firewall(store: &Store, window: Duration) -> (Firewall, Arc<Recorder>) {
    let backend = Arc::new(Recorder::default());
    let options = FirewallOptions {
        admin_port: Port::new(443).unwrap(),
        portal_port: Port::new(80).unwrap(),
        revert_after: window,
        detect_lan: lan,
    };
    let fw = Firewall::new(
        store.clone(),
        Some(backend.clone()),
        Arc::new(NoServices),
        Arc::new(NoServices),
        options,
    );
    (fw, backend)
}

fn root() -> Actor {
    Actor::Local { uid: 0 }
}

/// An admin's browser on the LAN, on a given source port (each connection its own).
fn browser(port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::from(([192, 168, 1, 20], port)))
}

fn close_pad() -> Change {
    Change::Exposure {
        app: AppName::parse("pad").unwrap(),
        exposure: Exposure::Closed,
    }
}

fn audit(store: &Store) -> Vec<AuditEntry> {
    store.audit_after(0, 100).unwrap()
}

fn has(store: &Store, action: &str, result: &str) -> bool {
    audit(store)
        .iter()
        .any(|e| e.action == action && e.result == result)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_the_box_itself_needs_no_confirmation() {
    let store = Store::memory();
    let (fw, backend) = firewall(&store, WINDOW);
    let out = fw.change(&root(), None, Change::Ssh(true)).unwrap();
    assert_eq!(out.revert_at, None);
    assert!(fw.pending_until().unwrap().is_none());
    assert!(
        backend.last().contains("SSH, enabled"),
        "SSH is in the applied batch"
    );
    tokio::time::sleep(WINDOW * 3).await;
    assert!(fw.policy().unwrap().ssh_enabled, "never undone");
    assert!(has(&store, "firewall_ssh", "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_over_the_network_is_undone_unless_confirmed() {
    let store = Store::memory();
    let (fw, backend) = firewall(&store, WINDOW);
    let before = backend.batches.lock().unwrap().len();
    let out = fw
        .change(&root(), browser(50000), Change::Ssh(true))
        .unwrap();
    assert!(out.revert_at.is_some());
    assert_eq!(fw.pending_until().unwrap(), out.revert_at);
    assert!(fw.policy().unwrap().ssh_enabled);
    tokio::time::sleep(WINDOW * 4).await;
    assert!(!fw.policy().unwrap().ssh_enabled, "back as it was");
    assert!(fw.pending_until().unwrap().is_none());
    assert!(has(&store, "firewall_revert", "ok"));
    let batches = backend.batches.lock().unwrap();
    assert_eq!(
        batches.len(),
        before + 2,
        "the change, then the previous rules"
    );
    assert!(
        batches[before].contains("SSH, enabled") && !batches[before + 1].contains("SSH, enabled")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_must_come_from_a_new_connection_and_keeps_the_change() {
    let store = Store::memory();
    let (fw, _) = firewall(&store, WINDOW);
    fw.change(&root(), browser(50000), close_pad()).unwrap();
    assert!(matches!(
        fw.confirm(&root(), browser(50000)),
        Err(FirewallError::NotFresh)
    ));
    fw.confirm(&root(), browser(50001)).unwrap();
    assert!(fw.pending_until().unwrap().is_none());
    tokio::time::sleep(WINDOW * 3).await;
    assert_eq!(
        fw.policy().unwrap().exposures["pad"],
        Exposure::Closed,
        "kept"
    );
    assert!(has(&store, "firewall_confirm", "ok"));
    assert!(!has(&store, "firewall_revert", "ok"));
    assert!(matches!(
        fw.confirm(&root(), browser(50002)),
        Err(FirewallError::NothingPending)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_unconfirmed_changes_go_back_to_the_last_confirmed_policy() {
    let store = Store::memory();
    let (fw, _) = firewall(&store, Duration::from_secs(1));
    fw.change(&root(), browser(50000), close_pad()).unwrap();
    fw.change(&root(), browser(50001), Change::Ssh(true))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let policy = fw.policy().unwrap();
    assert_eq!(policy, FirewallPolicy::default(), "both undone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_would_cut_the_admin_is_refused_and_changes_nothing() {
    let store = Store::memory();
    let (fw, backend) = firewall(&store, WINDOW);
    let before = backend.last();
    let elsewhere = Change::Lan(Some(vec![Subnet::parse("10.9.0.0/16").unwrap()]));
    assert!(matches!(
        fw.change(&root(), browser(50000), elsewhere),
        Err(FirewallError::WouldCutAdmin { .. })
    ));
    assert_eq!(fw.policy().unwrap(), FirewallPolicy::default());
    assert_eq!(backend.last(), before, "nothing applied");
    assert!(has(&store, "firewall_lan", "refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_left_pending_by_a_stopped_agent_is_undone_at_the_next_start() {
    let store = Store::memory();
    // What an agent stopped inside the window leaves: the change saved, its deadline passed.
    let closed = FirewallPolicy {
        exposures: BTreeMap::from([("pad".to_owned(), Exposure::Closed)]),
        ..FirewallPolicy::default()
    };
    let entry = NewAudit {
        actor: "camille".into(),
        action: "firewall_exposure",
        target: "pad=closed".into(),
        result: "ok",
        detail: String::new(),
    };
    let deadline = crate::store::now() - 1;
    store
        .save_firewall_policy(
            &closed,
            Some((&FirewallPolicy::default(), deadline)),
            &entry,
        )
        .unwrap();
    let (fw, backend) = firewall(&store, Duration::from_secs(3600));
    assert!(fw.pending_until().unwrap().is_some());
    fw.start();
    assert!(!fw.policy().unwrap().exposures.contains_key("pad"));
    assert!(fw.pending_until().unwrap().is_none());
    assert!(!backend.last().is_empty(), "the table is applied at start");
}
