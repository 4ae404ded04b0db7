//! Probe and verdict on fixture machines (`hw/testdata/machines/*`): sysfs, procfs and DMI
//! trees plus `smartctl --json`, dmidecode and hdparm outputs and NVMe Identify Controller
//! data. The first five were written by hand after real machines; the `qemu-*` ones were
//! captured by `panier hw capture` in QEMU (`testdata/capture-qemu.sh`).

use std::path::PathBuf;

use panier_hw::blockdev::Transport;
use panier_hw::host::Host;
use panier_hw::i18n::Lang;
use panier_hw::models::ModelDb;
use panier_hw::probe::{self, BootMode, DiskKind, Probe};
use panier_hw::verdict::{self, Level, Severity, Verdict};
use panier_hw::wipe::{self, Method};

fn machine(name: &str) -> Host {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/machines")
        .join(name);
    Host::fixture(&dir).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn probed(name: &str) -> (Host, Probe) {
    let host = machine(name);
    let p = probe::probe(&host);
    (host, p)
}

fn codes(v: &Verdict, severity: Severity) -> Vec<&str> {
    v.findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.code.as_str())
        .collect()
}

#[test]
fn lenovo_m720q_with_a_healthy_sata_ssd_is_fit() {
    let (host, p) = probed("lenovo-m720q-sata-ssd");
    assert_eq!(p.machine.vendor.as_deref(), Some("LENOVO"));
    assert_eq!(p.machine.version.as_deref(), Some("ThinkCentre M720q"));
    assert_eq!(p.machine.serial.as_deref(), Some("MJ0AB12C"));
    assert_eq!(p.machine.bios_version.as_deref(), Some("M1UKT4BA"));
    assert_eq!(p.firmware.boot_mode, BootMode::Uefi);
    assert_eq!(p.firmware.secure_boot, Some(true));
    assert_eq!(
        p.cpu.model.as_deref(),
        Some("Intel(R) Core(TM) i5-8500T CPU @ 2.10GHz")
    );
    assert_eq!((p.cpu.cores, p.cpu.threads), (6, 6));
    assert!(p.cpu.x86_64 && p.cpu.aes);
    assert_eq!(p.cpu.virtualization.as_deref(), Some("vmx"));
    assert_eq!(p.memory.total_bytes, 7_975_744 * 1024);
    assert_eq!(p.memory.modules.len(), 1);
    assert_eq!(p.memory.modules[0].size_bytes, 8 << 30);
    assert_eq!(p.memory.modules[0].speed_mts, Some(2667));
    assert_eq!(p.memory.modules[0].kind.as_deref(), Some("DDR4"));

    assert_eq!(p.disks.len(), 1);
    let d = &p.disks[0];
    assert_eq!(d.kind, DiskKind::SataSsd);
    assert_eq!(d.identity.transport, Transport::Ata);
    assert_eq!(d.identity.serial.as_deref(), Some("S3YJNB0K612345A"));
    assert_eq!(d.identity.size_bytes, 488_397_168 * 512);
    assert!(d.system, "/ is on sda2");
    let h = d.health.as_ref().unwrap();
    assert_eq!(h.smart_passed, Some(true));
    assert_eq!(h.power_on_hours, Some(12873));
    assert_eq!(h.reallocated_sectors, Some(0));
    assert_eq!(h.wear_used_pct, Some(7));
    assert!(h.self_test_supported);

    let names: Vec<_> = p
        .nics
        .iter()
        .map(|n| (n.name.as_str(), n.wired, n.driver.as_deref(), n.speed_mbps))
        .collect();
    assert_eq!(
        names,
        [
            ("eno1", true, Some("e1000e"), Some(1000)),
            ("wlp2s0", false, Some("iwlwifi"), None)
        ]
    );
    assert_eq!(p.cpu_temperature_c, Some(41.0));
    assert!(p.battery.is_none());
    assert!(p.notes.is_empty(), "{:?}", p.notes);

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::Fr);
    assert_eq!(v.level, Level::Fit, "{v:#?}");
    assert_eq!(
        v.model.as_ref().unwrap().id,
        "lenovo-thinkcentre-m720q-tiny"
    );
    assert!(
        v.findings
            .iter()
            .any(|f| f.code == "bios_power_on_after_power_loss"
                && f.message.contains("After Power Loss"))
    );
    assert_eq!(v.label, "apte");

    let (methods, notes) = wipe::firmware_plan(&host, &d.identity, Lang::En);
    assert_eq!(
        methods,
        [Method::AtaSecureEraseEnhanced, Method::AtaSecureErase]
    );
    assert!(notes.is_empty());
}

#[test]
fn dell_3040_with_a_worn_hdd_is_fit_with_notes() {
    let (host, p) = probed("dell-optiplex-3040-hdd");
    assert_eq!(p.machine.product.as_deref(), Some("OptiPlex 3040"));
    assert_eq!(p.machine.version, None, "empty DMI field");
    assert_eq!(p.firmware.boot_mode, BootMode::Bios);
    assert_eq!(p.firmware.secure_boot, None);
    assert_eq!((p.cpu.cores, p.cpu.threads), (2, 4));
    let d = &p.disks[0];
    assert_eq!(d.kind, DiskKind::Hdd);
    let h = d.health.as_ref().unwrap();
    assert_eq!(
        (h.reallocated_sectors, h.pending_sectors, h.power_on_hours),
        (Some(8), Some(0), Some(41234))
    );
    assert_eq!(h.wear_used_pct, None);
    assert_eq!(p.nics[0].driver.as_deref(), Some("r8169"));
    assert_eq!(p.cpu_temperature_c, Some(47.0), "x86_pkg_temp zone");

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::En);
    assert_eq!(v.level, Level::FitWithNotes, "{v:#?}");
    assert_eq!(
        codes(&v, Severity::Note),
        ["disk_is_hdd", "disk_bad_sectors", "disk_old_hdd"]
    );
    assert!(codes(&v, Severity::Info).contains(&"legacy_bios"));
    assert_eq!(v.model.unwrap().id, "dell-optiplex-3040-micro");
    assert_eq!(v.label, "fit, with notes");

    let (methods, notes) = wipe::firmware_plan(&host, &d.identity, Lang::En);
    assert!(methods.is_empty(), "frozen disk: no ATA erase");
    assert!(notes[0].contains("frozen"), "{notes:?}");
}

#[test]
fn hp_800_g4_with_a_failing_nvme_is_unfit() {
    let (host, p) = probed("hp-elitedesk-800-g4-nvme-failing");
    assert_eq!(p.firmware.secure_boot, Some(false));
    assert_eq!(p.memory.installed_bytes(), Some(16 << 30));
    let d = &p.disks[0];
    assert_eq!(d.kind, DiskKind::Nvme);
    assert_eq!(d.identity.serial.as_deref(), Some("S41GNX0M412345"));
    let h = d.health.as_ref().unwrap();
    assert_eq!(h.smart_passed, Some(false));
    assert_eq!(h.critical_warning, Some(4));
    assert_eq!(h.media_errors, Some(1863));
    assert_eq!(h.wear_used_pct, Some(100));

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::Fr);
    assert_eq!(v.level, Level::Unfit);
    assert_eq!(
        codes(&v, Severity::Blocker),
        ["disk_failing", "disk_critical_warning", "disk_worn_out"]
    );
    assert!(
        v.findings[0].message.contains("nvme0n1") && v.findings[0].message.contains("remplacer")
    );
    assert_eq!(v.model.unwrap().id, "hp-elitedesk-800-g4-mini");

    let (methods, _) = wipe::firmware_plan(&host, &d.identity, Lang::En);
    assert_eq!(methods, [Method::NvmeFormatUserData]);
}

#[test]
fn nuc7_with_2gb_and_no_dmidecode_is_fit_with_notes() {
    let (host, p) = probed("intel-nuc7i3bnh-nvme-2gb");
    assert!(p.memory.modules.is_empty());
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("dmidecode is not installed")),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes.iter().any(|n| n.contains("Secure Boot")),
        "{:?}",
        p.notes
    );
    assert_eq!(p.firmware.secure_boot, None);
    let h = p.disks[0].health.as_ref().unwrap();
    assert_eq!(
        (h.smart_passed, h.wear_used_pct, h.critical_warning),
        (Some(true), Some(9), Some(0))
    );
    assert!(h.self_test_supported);
    let eno1 = p.nics.iter().find(|n| n.name == "eno1").unwrap();
    assert_eq!((eno1.carrier, eno1.speed_mbps), (Some(false), None));

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::En);
    assert_eq!(v.level, Level::FitWithNotes, "{v:#?}");
    assert_eq!(codes(&v, Severity::Note), ["ram_below_recommended"]);
    assert!(codes(&v, Severity::Info).contains(&"nic_no_link"));
    assert_eq!(v.model.unwrap().id, "intel-nuc7");

    let (methods, _) = wipe::firmware_plan(&host, &p.disks[0].identity, Lang::En);
    assert_eq!(
        methods,
        [Method::NvmeFormatCrypto, Method::NvmeFormatUserData]
    );
}

#[test]
fn acer_laptop_without_ethernet_booted_from_usb_is_unfit() {
    let (_, p) = probed("acer-aspire-emmc-wifi-only");
    let names: Vec<_> = p
        .disks
        .iter()
        .map(|d| (d.identity.name.as_str(), d.kind, d.system, d.is_internal()))
        .collect();
    assert_eq!(
        names,
        [
            ("mmcblk0", DiskKind::Emmc, false, true),
            ("sdb", DiskKind::Usb, true, false)
        ]
    );
    assert!(p.disks.iter().all(|d| d.health.is_none()));
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("mmcblk0") && n.contains("Unable to detect device type")),
        "{:?}",
        p.notes
    );
    assert_eq!(
        p.disks[1].identity.serial.as_deref(),
        Some("4C530001230518105174")
    );
    let battery = p.battery.as_ref().unwrap();
    assert_eq!(
        (battery.capacity_pct, battery.health_pct),
        (Some(81), Some(45))
    );
    assert!(p.cpu.aes && p.cpu.x86_64);

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::Fr);
    assert_eq!(v.level, Level::Unfit);
    assert_eq!(codes(&v, Severity::Blocker), ["no_wired_nic"]);
    assert!(codes(&v, Severity::Note).contains(&"battery_worn"));
    assert!(codes(&v, Severity::Note).contains(&"disk_health_unknown"));
    assert!(v.model.is_none());
    assert!(codes(&v, Severity::Info).contains(&"model_unknown"));
}

#[test]
fn verdict_thresholds_on_edited_probes() {
    let (_, base) = probed("lenovo-m720q-sata-ssd");
    let db = ModelDb::builtin();
    let level = |p: &Probe| verdict::check(p, &db, Lang::En).level;

    let mut p = base.clone();
    p.memory.modules[0].size_bytes = 1 << 30;
    assert_eq!(level(&p), Level::Unfit, "1 GiB installed");
    p.memory.modules.clear();
    p.memory.total_bytes = 3_800_000 * 1024;
    assert_eq!(
        level(&p),
        Level::Fit,
        "4 GB seen by the kernel as 3.6 GiB is still 4 GB"
    );

    let mut p = base.clone();
    p.disks[0].identity.size_bytes = 16_000_000_000;
    assert_eq!(level(&p), Level::Unfit);
    p.disks[0].identity.size_bytes = 31_268_536_320; // a "32 GB" eMMC
    assert_eq!(level(&p), Level::Fit);

    let mut p = base.clone();
    p.disks[0].health.as_mut().unwrap().pending_sectors = Some(12);
    assert_eq!(level(&p), Level::Unfit);
    p.disks[0].health.as_mut().unwrap().pending_sectors = Some(1);
    assert_eq!(level(&p), Level::FitWithNotes);

    let mut p = base.clone();
    p.cpu.x86_64 = false;
    assert_eq!(level(&p), Level::Unfit);

    let mut p = base;
    p.nics.retain(|n| !n.wired);
    assert_eq!(level(&p), Level::Unfit);
}

// Machines captured from QEMU by `testdata/capture-qemu.sh` (`panier hw capture` inside the
// project's test image; each fixture's README.md holds the QEMU command line and what it set).

/// Each captured machine probes here exactly as it did in the guest (`probe.json`).
#[test]
fn captured_machines_probe_as_their_guest_did() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/machines");
    let mut captured = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(dir.join(&name).join("probe.json")) else {
            continue;
        };
        let in_guest: Probe = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(probe::probe(&machine(&name)), in_guest, "{name}");
        captured += 1;
    }
    assert!(captured >= 6, "{captured} captured machines");
}

#[test]
fn qemu_nvme_with_a_smart_critical_warning_is_unfit() {
    let (host, p) = probed("qemu-q35-ovmf-nvme-failing");
    assert_eq!(
        (p.firmware.boot_mode, p.firmware.secure_boot),
        (BootMode::Uefi, Some(false))
    );
    let d = &p.disks[0];
    assert_eq!(
        (d.identity.name.as_str(), d.kind, d.system),
        ("nvme0n1", DiskKind::Nvme, true)
    );
    assert_eq!(d.identity.serial.as_deref(), Some("PANIERNVMEFAIL01"));
    let h = d.health.as_ref().unwrap();
    assert_eq!(
        (h.smart_passed, h.critical_warning, h.wear_used_pct),
        (Some(false), Some(4), Some(0))
    );
    assert_eq!(p.memory.installed_bytes(), Some(4 << 30));

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::En);
    assert_eq!(v.level, Level::Unfit, "{v:#?}");
    assert_eq!(
        codes(&v, Severity::Blocker),
        ["disk_failing", "disk_critical_warning"]
    );
    assert!(codes(&v, Severity::Note).is_empty(), "{v:#?}");
    assert_eq!(
        v.model.unwrap().id,
        "hp-elitedesk-800-g4-mini",
        "SMBIOS strings set on QEMU's command line"
    );
    let (methods, _) = wipe::firmware_plan(&host, &d.identity, Lang::En);
    assert_eq!(
        methods,
        [Method::NvmeFormatUserData],
        "QEMU's controller formats, without sanitize or crypto erase"
    );
}

#[test]
fn qemu_healthy_nvme_with_e1000e_and_8gb_is_fit() {
    let (_, p) = probed("qemu-q35-ovmf-nvme-e1000e");
    let h = p.disks[0].health.as_ref().unwrap();
    assert_eq!((h.smart_passed, h.critical_warning), (Some(true), Some(0)));
    assert_eq!(p.machine.board.as_deref(), Some("NUC7i5BNB"));
    let nics: Vec<_> = p
        .nics
        .iter()
        .map(|n| (n.driver.as_deref(), n.wired, n.carrier, n.speed_mbps))
        .collect();
    assert_eq!(nics, [(Some("e1000e"), true, Some(true), Some(1000))]);

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::Fr);
    assert_eq!(v.level, Level::Fit, "{v:#?}");
    assert_eq!(v.model.unwrap().id, "intel-nuc7");
}

#[test]
fn qemu_sata_ssd_is_fit_and_offers_no_ata_erase() {
    let (host, p) = probed("qemu-q35-ovmf-sata-ssd-e1000e");
    let d = &p.disks[0];
    assert_eq!(
        (d.kind, d.identity.transport, d.identity.rotational),
        (DiskKind::SataSsd, Transport::Ata, false)
    );
    assert_eq!(
        d.identity.serial.as_deref(),
        Some("PANIERSSD01"),
        "from udev's database: ATA disks have no sysfs serial"
    );
    let h = d.health.as_ref().unwrap();
    assert_eq!(
        (h.smart_passed, h.reallocated_sectors, h.wear_used_pct),
        (Some(true), Some(0), None)
    );
    assert!(h.self_test_supported);

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::En);
    assert_eq!(v.level, Level::Fit, "{v:#?}");
    assert_eq!(v.model.unwrap().id, "lenovo-thinkcentre-m720q-tiny");
    let (methods, notes) = wipe::firmware_plan(&host, &d.identity, Lang::En);
    assert!(
        methods.is_empty(),
        "QEMU's ATA disk has no security feature set"
    );
    assert!(notes[0].contains("no ATA secure erase"), "{notes:?}");
}

#[test]
fn qemu_pc_with_an_hdd_and_a_floppy_controller_is_fit_with_notes() {
    let (_, p) = probed("qemu-pc-seabios-hdd-e1000");
    assert_eq!(p.firmware.boot_mode, BootMode::Bios);
    let disks: Vec<_> = p
        .disks
        .iter()
        .map(|d| (d.identity.name.as_str(), d.kind))
        .collect();
    assert_eq!(
        disks,
        [("sda", DiskKind::Hdd)],
        "fd0 (the i440FX floppy controller) is no disk"
    );
    assert!(!p.cpu.aes, "qemu64 CPU model");
    assert_eq!(p.nics[0].driver.as_deref(), Some("e1000"));

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::En);
    assert_eq!(v.level, Level::FitWithNotes, "{v:#?}");
    assert_eq!(codes(&v, Severity::Note), ["disk_is_hdd"]);
    let info = codes(&v, Severity::Info);
    assert!(
        info.contains(&"legacy_bios") && info.contains(&"cpu_no_aes"),
        "{info:?}"
    );
    assert_eq!(v.model.unwrap().id, "dell-optiplex-3040-micro");
}

#[test]
fn qemu_as_the_system_tests_run_it_virtio_and_2gb_is_fit_with_notes() {
    let (_, p) = probed("qemu-q35-seabios-virtio-2gb");
    assert_eq!(p.machine.vendor.as_deref(), Some("QEMU"));
    assert_eq!(p.machine.serial, None);
    assert!(
        !p.notes
            .iter()
            .any(|n| n.contains("serial number is unreadable")),
        "empty, not unreadable: {:?}",
        p.notes
    );
    assert_eq!(
        (p.disks[0].identity.transport, p.disks[0].kind),
        (Transport::Virtio, DiskKind::Other)
    );
    assert!(p.disks[0].health.is_none());

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::En);
    assert_eq!(v.level, Level::FitWithNotes, "{v:#?}");
    assert_eq!(
        codes(&v, Severity::Note),
        ["ram_below_recommended", "disk_health_unknown"]
    );
    assert!(v.model.is_none());
}

#[test]
fn qemu_booted_from_a_usb_stick_without_a_network_card_is_unfit() {
    let (_, p) = probed("qemu-q35-ovmf-usb-boot-no-nic");
    let disks: Vec<_> = p
        .disks
        .iter()
        .map(|d| (d.identity.name.as_str(), d.kind, d.system, d.is_internal()))
        .collect();
    assert_eq!(
        disks,
        [
            ("sda", DiskKind::SataSsd, false, true),
            ("sdb", DiskKind::Usb, true, false)
        ]
    );
    assert!(
        p.nics.is_empty(),
        "unplugged through QEMU's monitor before the capture"
    );

    let v = verdict::check(&p, &ModelDb::builtin(), Lang::Fr);
    assert_eq!(v.level, Level::Unfit, "{v:#?}");
    assert_eq!(codes(&v, Severity::Blocker), ["no_wired_nic"]);
    assert!(
        codes(&v, Severity::Note).is_empty(),
        "the USB stick is not judged: {v:#?}"
    );
}
