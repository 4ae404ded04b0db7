//! The refurbishment sheet and the CSV inventory, on a fixture machine.

use std::path::PathBuf;

use panier_hw::certificate::{Verification, VerifyMode, WipeCertificate};
use panier_hw::host::Host;
use panier_hw::i18n::Lang;
use panier_hw::report::{self, BoxLabel, CSV_HEADER};
use panier_hw::summarize;
use panier_hw::wipe::Method;

#[test]
fn sheet_and_inventory_for_a_wiped_machine() {
    let host = Host::fixture(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/machines/lenovo-m720q-sata-ssd"),
    )
    .unwrap();
    let s = summarize(&host, Lang::Fr);
    let verification = Verification {
        mode: VerifyMode::Sample,
        regions_checked: 1026,
        bytes_checked: 69_206_016,
        first_nonzero_offset: None,
        passed: true,
        seconds: 0.4,
    };
    let ours = WipeCertificate::start(s.probe.disks[0].identity.clone())
        .finish(Method::AtaSecureEraseEnhanced, verification.clone());
    let mut other_identity = s.probe.disks[0].identity.clone();
    other_identity.serial = Some("SOMEONE-ELSE".into());
    let other =
        WipeCertificate::start(other_identity).finish(Method::DiscardAndOverwrite, verification);
    let all = [ours.clone(), other];
    let certs = report::certificates_for(&s.probe, &all);
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].id, ours.id);

    let label = BoxLabel::new("mediatheque-nord", "K7<P2").unwrap();
    let page = report::sheet_html(
        &s.probe,
        &s.verdict,
        &certs,
        &label,
        "2026-11-22T10:00:00Z",
        Lang::Fr,
    );
    assert!(page.contains("http://mediatheque-nord.local"));
    assert!(page.contains("K7&lt;P2"), "setup code is escaped");
    assert!(page.contains("<b>apte</b>"));
    assert!(page.contains("Intel(R) Core(TM) i5-8500T"));
    assert!(page.contains("S3YJNB0K612345A"));
    assert!(page.contains(&ours.id) && page.contains("effacement sécurisé ATA renforcé"));
    assert!(page.contains("After Power Loss"));
    // French through and through: words, not Rust's names or English.
    assert!(
        page.contains("SSD SATA — Samsung SSD 860 — 250.1 GB")
            && page.contains("n° de série S3YJNB0K612345A"),
        "{page}"
    );
    assert!(
        page.contains("6 cœurs, 6 fils")
            && page.contains("filaire, e1000e")
            && page.contains("sans fil, iwlwifi, a4:c3:f0:11:22:33, non connecté"),
        "{page}"
    );
    for leak in [
        "SataSsd",
        "Some(",
        "None",
        "cores",
        "threads",
        "reallocated",
        "wired",
        "Secure Boot on",
        "Secure Boot off",
        "legacy",
    ] {
        assert!(!page.contains(leak), "'{leak}' on the French sheet");
    }
    let english = report::sheet_html(
        &s.probe,
        &s.verdict,
        &certs,
        &label,
        "2026-11-22T10:00:00Z",
        Lang::En,
    );
    assert!(
        english.contains("SATA SSD — Samsung SSD 860 — 250.1 GB")
            && english.contains("ATA enhanced security erase")
            && english.contains("cores"),
        "{english}"
    );

    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.csv");
    let line = report::csv_line(&s.probe, &s.verdict, &certs, &label, "2026-11-22T10:00:00Z");
    report::append_inventory(&inventory, &line).unwrap();
    report::append_inventory(&inventory, &line).unwrap();
    let text = std::fs::read_to_string(&inventory).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0], CSV_HEADER);
    assert_eq!(lines[1], lines[2]);
    assert!(lines[1].starts_with("\"2026-11-22T10:00:00Z\",\"mediatheque-nord\",\"http://mediatheque-nord.local\",\"LENOVO\",\"10T7S0BE00 ThinkCentre M720q\",\"MJ0AB12C\""), "{}", lines[1]);
    assert!(
        lines[1].ends_with("\"fit\",\"S3YJNB0K612345A:verified\""),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[1].matches("\",\"").count(),
        CSV_HEADER.matches(',').count()
    );
}

#[test]
fn box_names_must_be_mdns_labels() {
    for bad in ["", "Mediatheque", "a b", "-x", "x-", "é", &"a".repeat(64)] {
        assert!(BoxLabel::new(bad, "123").is_err(), "{bad:?}");
    }
    assert!(BoxLabel::new("panier-2", "123").is_ok());
}
