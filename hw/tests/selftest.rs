//! Self-test items: real memory, CPU and disk-read runs; SMART polling with a scripted
//! smartctl (the drive's answers over time); NIC links on fixture machines.

mod common;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use panier_hw::blockdev;
use panier_hw::host::{CommandError, CommandOutput, CommandRunner, Host};
use panier_hw::i18n::Lang;
use panier_hw::probe::{self, Disk, DiskHealth, DiskKind};
use panier_hw::selftest::{self, Outcome};

fn fixture(name: &str) -> Host {
    Host::fixture(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/machines")
            .join(name),
    )
    .unwrap()
}

/// Answers `smartctl --test=short` with success, then each poll with the next scripted JSON.
struct ScriptedSmartctl {
    polls: Mutex<VecDeque<String>>,
    calls: Mutex<Vec<String>>,
}

impl ScriptedSmartctl {
    fn new(polls: &[serde_json::Value]) -> Self {
        Self {
            polls: Mutex::new(polls.iter().map(|p| p.to_string()).collect()),
            calls: Mutex::new(Vec::new()),
        }
    }
}

impl CommandRunner for ScriptedSmartctl {
    fn run(&self, program: &str, args: &[&str]) -> Result<CommandOutput, CommandError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{program} {}", args.join(" ")));
        let stdout = if args.contains(&"--test=short") {
            "{}".to_string()
        } else {
            let mut polls = self.polls.lock().unwrap();
            if polls.len() > 1 {
                polls.pop_front().unwrap()
            } else {
                polls.front().cloned().unwrap()
            }
        };
        Ok(CommandOutput {
            status: 0,
            stdout,
            stderr: String::new(),
        })
    }
}

fn ata_status(value: u64) -> serde_json::Value {
    serde_json::json!({"ata_smart_data": {"self_test": {"status": {"value": value}}}})
}

fn disk(kind: DiskKind) -> Disk {
    let p = probe::probe(&fixture("lenovo-m720q-sata-ssd"));
    let mut d = p.disks[0].clone();
    d.kind = kind;
    d
}

#[test]
fn smart_short_test_is_started_polled_and_passes() {
    let runner = ScriptedSmartctl::new(&[ata_status(249), ata_status(245), ata_status(0)]);
    let host = Host::new("/nonexistent", Box::new(runner));
    let mut lines = Vec::new();
    let r = selftest::smart_short(
        &host,
        &disk(DiskKind::SataSsd),
        Duration::from_secs(60),
        Duration::ZERO,
        Lang::En,
        &mut |l| lines.push(l.to_string()),
    );
    assert_eq!(r.outcome, Outcome::Pass, "{r:?}");
    assert!(
        lines.iter().any(|l| l.contains("90% remaining")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("50% remaining")),
        "{lines:?}"
    );
}

#[test]
fn smart_short_test_reports_a_read_failure() {
    // 0x79: "completed: read failure" with 90 % left.
    let host = Host::new(
        "/nonexistent",
        Box::new(ScriptedSmartctl::new(&[ata_status(249), ata_status(0x79)])),
    );
    let r = selftest::smart_short(
        &host,
        &disk(DiskKind::SataSsd),
        Duration::from_secs(60),
        Duration::ZERO,
        Lang::Fr,
        &mut |_| {},
    );
    assert_eq!(r.outcome, Outcome::Fail);
}

#[test]
fn smart_short_test_is_bounded_in_time() {
    let running = serde_json::json!({"nvme_self_test_log": {"current_self_test_operation": {"value": 1}, "current_self_test_completion_percent": 10}});
    let host = Host::new("/nonexistent", Box::new(ScriptedSmartctl::new(&[running])));
    let r = selftest::smart_short(
        &host,
        &disk(DiskKind::Nvme),
        Duration::from_millis(30),
        Duration::from_millis(10),
        Lang::En,
        &mut |_| {},
    );
    assert_eq!(r.outcome, Outcome::Fail);
    assert!(r.detail.contains("no result"), "{r:?}");
}

#[test]
fn smart_short_test_is_skipped_without_support() {
    let host = Host::new(
        "/nonexistent",
        Box::new(ScriptedSmartctl::new(&[ata_status(0)])),
    );
    let mut d = disk(DiskKind::SataSsd);
    d.health = Some(DiskHealth::default());
    let r = selftest::smart_short(
        &host,
        &d,
        Duration::from_secs(1),
        Duration::ZERO,
        Lang::En,
        &mut |_| {},
    );
    assert_eq!(r.outcome, Outcome::Skipped);
}

#[test]
fn memory_patterns_run_and_pass() {
    let mut lines = Vec::new();
    let r = selftest::memory(8, Lang::En, &mut |l| lines.push(l.to_string()));
    assert_eq!(r.outcome, Outcome::Pass);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("Memory: pattern"))
            .count(),
        5
    );
}

#[test]
fn cpu_load_watches_the_temperature() {
    let host = fixture("lenovo-m720q-sata-ssd"); // coretemp reads 41 °C
    let mut lines = Vec::new();
    let ok = selftest::cpu_load(&host, 1, 95.0, Lang::En, &mut |l| lines.push(l.to_string()));
    assert_eq!(ok.outcome, Outcome::Pass, "{ok:?}");
    assert!(ok.detail.contains("41 °C"), "{ok:?}");
    let hot = selftest::cpu_load(&host, 1, 40.0, Lang::En, &mut |_| {});
    assert_eq!(hot.outcome, Outcome::Fail);
}

#[test]
fn nic_links_come_from_carrier_and_speed() {
    let up = selftest::nic_links(&fixture("lenovo-m720q-sata-ssd"), Lang::En);
    assert_eq!(up.len(), 1, "wireless interfaces are not tested");
    assert_eq!(
        (up[0].outcome, up[0].detail.as_str()),
        (Outcome::Pass, "link at 1000 Mb/s")
    );
    let down = selftest::nic_links(&fixture("intel-nuc7i3bnh-nvme-2gb"), Lang::Fr);
    assert_eq!(down[0].outcome, Outcome::Fail);
}

#[test]
fn disk_read_sample_reads_a_real_device() {
    let lo = common::Loop::with_secret(16 << 20, b"x");
    let host = Host::system();
    let identity = blockdev::identity(&host, &lo.name());
    let d = Disk {
        identity,
        kind: DiskKind::Other,
        system: false,
        health: None,
    };
    let r = selftest::disk_read(&d, 8, Lang::En);
    assert_eq!(r.outcome, Outcome::Pass, "{r:?}");
    assert!(r.detail.starts_with("8.4 MB read"), "{r:?}");
}
