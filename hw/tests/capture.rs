//! `panier hw capture`: a capture probes the same as the machine it was taken from.
//!
//! Three sources: this very machine (the CI machine, as root), each fixture machine of
//! `testdata/machines/` (captured through its own tree and outputs, which exercises links,
//! empty directories, missing tools and USB disks), and an anonymized capture.

use std::path::{Path, PathBuf};

use panier_hw::capture::{self, CaptureOptions};
use panier_hw::host::Host;
use panier_hw::i18n::Lang;
use panier_hw::probe::{self, Probe};
use panier_hw::wipe;

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/machines")
        .join(name)
}

/// Captures a fixture machine as if it were a live one.
fn capture_fixture(name: &str, out: &Path, options: &CaptureOptions) -> capture::CaptureReport {
    let source = Host::fixture(&fixture_dir(name)).expect("fixture loads");
    capture::capture(source, out, options).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What legitimately changes between two reads of a live machine: temperatures (CPU and
/// disks) and a disk's power-on hour counter, which may tick over in between.
fn without_volatile(mut p: Probe) -> Probe {
    p.cpu_temperature_c = None;
    for disk in &mut p.disks {
        if let Some(h) = disk.health.as_mut() {
            h.temperature_c = None;
            h.power_on_hours = None;
        }
    }
    p
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_under(&entry.path()));
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    out
}

#[test]
fn a_capture_of_this_machine_probes_the_same_as_this_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("this-machine");
    let report = capture::capture_system(&dir, &CaptureOptions::default()).expect("capture");
    assert!(report.mismatch.is_empty(), "{:?}", report.mismatch);

    let captured = Host::fixture(&dir).expect("the capture loads as a fixture");
    let from_capture = probe::probe(&captured);
    assert_eq!(
        from_capture, report.probe,
        "exactly the probe the capture was made from"
    );
    let stored: Probe =
        serde_json::from_str(&std::fs::read_to_string(dir.join("probe.json")).unwrap()).unwrap();
    assert_eq!(stored, report.probe);

    let live = probe::probe(&Host::system());
    assert_eq!(
        without_volatile(from_capture.clone()),
        without_volatile(live),
        "a second live read, volatile fields aside"
    );
    for disk in &from_capture.disks {
        assert_eq!(
            wipe::firmware_plan(&captured, &disk.identity, Lang::En),
            wipe::firmware_plan(&Host::system(), &disk.identity, Lang::En),
            "{}",
            disk.identity.name
        );
    }

    // Only what the probe reads: sysfs, procfs and udev's database, nothing else of the disk.
    let top: Vec<String> = std::fs::read_dir(dir.join("root"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        top.iter()
            .all(|t| ["sys", "proc", "run"].contains(&t.as_str())),
        "{top:?}"
    );
    assert_eq!(files_under(&dir.join("root")).len(), report.files);
    assert!(!dir.with_file_name(".this-machine.partial").exists());

    let again = capture::capture_system(&dir, &CaptureOptions::default()).unwrap_err();
    assert!(again.to_string().contains("not empty"), "{again}");
}

#[test]
fn capturing_each_fixture_machine_gives_the_same_probe_and_wipe_plan() {
    for entry in
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/machines"))
            .unwrap()
    {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join(&name);
        let report = capture_fixture(&name, &out, &CaptureOptions::default());
        assert!(report.mismatch.is_empty(), "{name}: {:?}", report.mismatch);

        let original = Host::fixture(&fixture_dir(&name)).unwrap();
        let copy = Host::fixture(&out).unwrap();
        let p = probe::probe(&copy);
        assert_eq!(p, probe::probe(&original), "{name}");
        for disk in &p.disks {
            assert_eq!(
                wipe::firmware_plan(&copy, &disk.identity, Lang::En),
                wipe::firmware_plan(&original, &disk.identity, Lang::En),
                "{name} {}",
                disk.identity.name
            );
        }
    }
}

#[test]
fn a_usb_disk_link_and_a_missing_tool_survive_the_capture() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("acer");
    capture_fixture(
        "acer-aspire-emmc-wifi-only",
        &out,
        &CaptureOptions::default(),
    );
    let link = std::fs::read_link(out.join("root/sys/block/sdb")).expect("sysfs links stay links");
    assert!(
        link.to_string_lossy().contains("/usb1/"),
        "{}",
        link.display()
    );

    let nuc = tmp.path().join("nuc");
    capture_fixture("intel-nuc7i3bnh-nvme-2gb", &nuc, &CaptureOptions::default());
    let commands = std::fs::read_to_string(nuc.join("commands.toml")).unwrap();
    assert!(
        commands.contains(r#"missing = ["dmidecode"]"#),
        "{commands}"
    );
}

#[test]
fn an_anonymized_capture_replaces_serials_and_macs_everywhere_and_the_same_way() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("lenovo");
    let report = capture_fixture(
        "lenovo-m720q-sata-ssd",
        &out,
        &CaptureOptions { anonymize: true },
    );
    assert!(report.mismatch.is_empty(), "{:?}", report.mismatch);
    let original = probe::probe(&Host::fixture(&fixture_dir("lenovo-m720q-sata-ssd")).unwrap());
    let secrets = ["MJ0AB12C", "S3YJNB0K612345A"];
    for secret in secrets {
        assert!(
            report.replacements.iter().any(|(o, _)| o == secret),
            "{secret} replaced: {:?}",
            report.replacements
        );
    }
    let macs: Vec<String> = original.nics.iter().filter_map(|n| n.mac.clone()).collect();
    assert_eq!(macs.len(), 2);

    for file in files_under(&out) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in secrets
            .iter()
            .copied()
            .chain(macs.iter().map(String::as_str))
        {
            assert!(
                !text.contains(secret),
                "{secret} still in {}",
                file.display()
            );
        }
    }

    let p = probe::probe(&Host::fixture(&out).unwrap());
    assert_eq!(p, report.probe);
    assert_eq!(
        p.machine.serial.as_deref(),
        Some("ANON0001"),
        "same length as MJ0AB12C"
    );
    let disk_serial = p.disks[0].identity.serial.clone().unwrap();
    assert_eq!(disk_serial.len(), "S3YJNB0K612345A".len());
    let smart = std::fs::read_to_string(out.join("smartctl-sda.json")).unwrap();
    assert!(
        smart.contains(&disk_serial),
        "smartctl's output has the same stand-in as sysfs and udev"
    );
    assert_eq!(
        p.nics[0].mac.as_deref().map(|m| &m[..8]),
        macs[0].get(..8),
        "the maker's prefix stays"
    );

    // Everything else is the original probe.
    let mut expected = original;
    expected.machine.serial = p.machine.serial.clone();
    expected.disks[0].identity.serial = Some(disk_serial);
    for (nic, anon) in expected.nics.iter_mut().zip(&p.nics) {
        nic.mac = anon.mac.clone();
    }
    assert_eq!(p, expected);
}

#[test]
fn an_nvme_disks_identify_data_is_captured_and_anonymized() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("hp");
    let report = capture_fixture(
        "hp-elitedesk-800-g4-nvme-failing",
        &out,
        &CaptureOptions { anonymize: true },
    );
    assert!(report.mismatch.is_empty(), "{:?}", report.mismatch);
    let commands = std::fs::read_to_string(out.join("commands.toml")).unwrap();
    assert!(
        commands.contains(
            "[[nvme_identify]]\ndevice = \"/dev/nvme0n1\"\ndata = \"nvme-identify-nvme0n1.bin\""
        ),
        "{commands}"
    );

    let original = std::fs::read(
        fixture_dir("hp-elitedesk-800-g4-nvme-failing").join("nvme-identify-nvme0n1.bin"),
    )
    .unwrap();
    let data = std::fs::read(out.join("nvme-identify-nvme0n1.bin")).unwrap();
    assert_eq!(data.len(), 4096);
    let anon = panier_hw::nvme::Controller::parse(&data).unwrap();
    let disk_serial = report.probe.disks[0].identity.serial.clone().unwrap();
    assert_eq!(anon.serial, disk_serial, "the same stand-in as sysfs");
    assert_ne!(anon.serial, "S41GNX0M412345");
    let differing: Vec<usize> = (0..4096).filter(|&i| data[i] != original[i]).collect();
    assert!(
        differing.iter().all(|i| (4..24).contains(i)),
        "only the serial changed: {differing:?}"
    );
    assert_eq!(
        wipe::firmware_plan(
            &Host::fixture(&out).unwrap(),
            &report.probe.disks[0].identity,
            Lang::En
        )
        .0,
        [wipe::Method::NvmeFormatUserData]
    );
}

#[test]
fn a_file_that_could_not_be_read_stays_unreadable_in_the_capture() {
    // As a capture made without root sees the DMI serial (root only on most kernels).
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("lenovo-without-root");
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(fixture_dir("lenovo-m720q-sata-ssd"))
        .arg(&source)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        source.join("unreadable.txt"),
        "/sys/class/dmi/id/product_serial\n",
    )
    .unwrap();
    let p = probe::probe(&Host::fixture(&source).unwrap());
    assert_eq!(p.machine.serial, None);
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("serial number is unreadable")),
        "{:?}",
        p.notes
    );

    let out = tmp.path().join("capture");
    let report = capture::capture(
        Host::fixture(&source).unwrap(),
        &out,
        &CaptureOptions::default(),
    )
    .unwrap();
    assert!(report.mismatch.is_empty(), "{:?}", report.mismatch);
    assert_eq!(
        std::fs::read_to_string(out.join("unreadable.txt")).unwrap(),
        "/sys/class/dmi/id/product_serial\n"
    );
    assert_eq!(probe::probe(&Host::fixture(&out).unwrap()), p);
}
