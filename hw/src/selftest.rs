//! `panier hw selftest`: bounded hardware tests with progress lines and a pass/fail summary.
//!
//! Items: a memory pattern test over a chosen size, per internal disk a read sample through
//! `O_DIRECT` and a SMART short self-test (start, poll, result), a CPU load on every thread
//! while watching the temperature, and the link of each wired NIC.
//! Invariants: every item is bounded (size, seconds, a SMART timeout); an item that cannot
//! run (no sensor, no self-test support, `--no-smart`) is `Skipped`, never a silent pass.
//! Limits: the memory test only covers the memory we allocate (it finds gross faults, it
//! is not memtest86+); the disk sample reads, it never writes.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::host::Host;
use crate::html::human_bytes;
use crate::i18n::{Lang, Msg, tr};
use crate::probe::{self, Disk, DiskKind, sensors};
use crate::rawio::{self, AlignedBuf};

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemResult {
    pub item: String,
    pub outcome: Outcome,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub items: Vec<ItemResult>,
    pub passed: bool,
}

#[derive(Debug, Clone)]
pub struct SelftestOptions {
    pub memory_mib: u64,
    pub disk_sample_mib: u64,
    pub cpu_seconds: u64,
    pub smart: bool,
    pub smart_timeout: Duration,
    pub smart_poll: Duration,
    /// CPU temperature at which the load test fails.
    pub max_temp_c: f32,
    pub lang: Lang,
}

impl Default for SelftestOptions {
    fn default() -> Self {
        Self {
            memory_mib: 256,
            disk_sample_mib: 256,
            cpu_seconds: 30,
            smart: true,
            smart_timeout: Duration::from_secs(300),
            smart_poll: Duration::from_secs(10),
            max_temp_c: 95.0,
            lang: Lang::Fr,
        }
    }
}

pub fn run(host: &Host, options: &SelftestOptions, progress: &mut dyn FnMut(&str)) -> Summary {
    let lang = options.lang;
    let mut items = vec![memory(options.memory_mib, lang, progress)];
    let mut notes = Vec::new();
    let disks: Vec<Disk> = probe::disks::disks(host, &mut notes)
        .into_iter()
        .filter(|d| d.is_internal())
        .collect();
    for disk in &disks {
        items.push(disk_read(disk, options.disk_sample_mib, lang));
        progress(&line(lang, items.last().expect("just pushed")));
        let item = if options.smart {
            smart_short(
                host,
                disk,
                options.smart_timeout,
                options.smart_poll,
                lang,
                progress,
            )
        } else {
            ItemResult {
                item: tr(lang, Msg::StSmart, &[("disk", &disk.identity.name)]),
                outcome: Outcome::Skipped,
                detail: "--no-smart".into(),
            }
        };
        progress(&line(lang, &item));
        items.push(item);
    }
    items.push(cpu_load(
        host,
        options.cpu_seconds,
        options.max_temp_c,
        lang,
        progress,
    ));
    for item in nic_links(host, lang) {
        progress(&line(lang, &item));
        items.push(item);
    }
    let passed = items.iter().all(|i| i.outcome != Outcome::Fail);
    Summary { items, passed }
}

pub fn line(lang: Lang, item: &ItemResult) -> String {
    let outcome = match item.outcome {
        Outcome::Pass => tr(lang, Msg::StPass, &[]),
        Outcome::Fail => tr(lang, Msg::StFail, &[]),
        Outcome::Skipped => tr(lang, Msg::StSkipped, &[]),
    };
    format!("[{outcome}] {} — {}", item.item, item.detail)
}

/// Writes and checks patterns over `mib` MiB of freshly allocated memory.
pub fn memory(mib: u64, lang: Lang, progress: &mut dyn FnMut(&str)) -> ItemResult {
    let words = (mib as usize) << 17;
    let mut area = vec![0u64; words];
    type Pattern = (&'static str, fn(usize) -> u64);
    let patterns: [Pattern; 5] = [
        ("0x00", |_| 0),
        ("0xFF", |_| u64::MAX),
        ("0x55", |_| 0x5555_5555_5555_5555),
        ("0xAA", |_| 0xAAAA_AAAA_AAAA_AAAA),
        ("address", |i| {
            (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        }),
    ];
    let (mut errors, mut first) = (0u64, None);
    for (name, pattern) in patterns {
        progress(&tr(
            lang,
            Msg::StMemoryPattern,
            &[("pattern", &name), ("size", &format!("{mib} MiB"))],
        ));
        for (i, w) in area.iter_mut().enumerate() {
            *w = pattern(i);
        }
        for (i, w) in area.iter().enumerate() {
            // black_box keeps the compiler from proving the read equals the write.
            if std::hint::black_box(*w) != pattern(i) {
                errors += 1;
                first.get_or_insert(i * 8);
            }
        }
    }
    let item = tr(lang, Msg::StMemory, &[]);
    let result = if errors == 0 {
        ItemResult {
            item,
            outcome: Outcome::Pass,
            detail: format!("{mib} MiB × 5"),
        }
    } else {
        ItemResult {
            item,
            outcome: Outcome::Fail,
            detail: tr(
                lang,
                Msg::StMemoryErrors,
                &[("count", &errors), ("offset", &first.unwrap_or(0))],
            ),
        }
    };
    progress(&line(lang, &result));
    result
}

/// Reads `sample_mib` MiB spread evenly over the disk, bypassing the page cache.
pub fn disk_read(disk: &Disk, sample_mib: u64, lang: Lang) -> ItemResult {
    use std::os::unix::fs::OpenOptionsExt;
    let item = tr(lang, Msg::StDiskRead, &[("disk", &disk.identity.name)]);
    let fail = |offset: u64, error: String| ItemResult {
        item: item.clone(),
        outcome: Outcome::Fail,
        detail: tr(
            lang,
            Msg::StDiskReadError,
            &[("offset", &offset), ("error", &error)],
        ),
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(&disk.identity.path)
    {
        Ok(f) => f,
        Err(e) => return fail(0, e.to_string()),
    };
    let size = rawio::device_size(&file).unwrap_or(disk.identity.size_bytes);
    const REGION: u64 = 1 << 20;
    let regions = (sample_mib.max(1)).min(size / REGION).max(1);
    let mut buf = AlignedBuf::new(REGION as usize);
    let started = Instant::now();
    let mut read = 0u64;
    let step = if regions > 1 {
        size.saturating_sub(REGION) / (regions - 1)
    } else {
        0
    };
    for i in 0..regions {
        let offset = step * i / 4096 * 4096;
        let len = REGION.min(size - offset) as usize;
        if let Err(e) = rawio::read_exact_at(&file, &mut buf.as_mut_slice()[..len], offset) {
            return fail(offset, e.to_string());
        }
        read += len as u64;
    }
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    let detail = tr(
        lang,
        Msg::StDiskReadResult,
        &[
            ("bytes", &human_bytes(read)),
            ("secs", &format!("{secs:.1}")),
            ("mbps", &format!("{:.0}", read as f64 / secs / 1e6)),
        ],
    );
    ItemResult {
        item,
        outcome: Outcome::Pass,
        detail,
    }
}

/// Self-test progress from `smartctl --json --all`: `Some(remaining %)` while running,
/// `None` when finished; plus the latest result (`true` = passed) once finished.
pub fn parse_self_test(json: &serde_json::Value) -> (Option<u64>, Option<bool>) {
    if let Some(status) = json["ata_smart_data"]["self_test"]["status"]["value"].as_u64() {
        if status >> 4 == 0xF {
            return (Some((status & 0xF) * 10), None);
        }
        return (None, Some(status == 0));
    }
    let log = &json["nvme_self_test_log"];
    if log.is_object() {
        if log["current_self_test_operation"]["value"]
            .as_u64()
            .unwrap_or(0)
            != 0
        {
            let done = log["current_self_test_completion_percent"]
                .as_u64()
                .unwrap_or(0);
            return (Some(100 - done.min(100)), None);
        }
        return (
            None,
            log["table"][0]["self_test_result"]["value"]
                .as_u64()
                .map(|v| v == 0),
        );
    }
    (None, None)
}

pub fn smart_short(
    host: &Host,
    disk: &Disk,
    timeout: Duration,
    poll: Duration,
    lang: Lang,
    progress: &mut dyn FnMut(&str),
) -> ItemResult {
    let name = &disk.identity.name;
    let item = tr(lang, Msg::StSmart, &[("disk", name)]);
    let skipped = |detail: String| ItemResult {
        item: item.clone(),
        outcome: Outcome::Skipped,
        detail,
    };
    if !disk.health.as_ref().is_some_and(|h| h.self_test_supported) || disk.kind == DiskKind::Usb {
        return skipped(tr(lang, Msg::StSmartNotSupported, &[]));
    }
    let path = disk.identity.path.as_str();
    match host.run("smartctl", &["--json=c", "--test=short", path]) {
        Ok(out) if out.status & 0b11 == 0 => {}
        Ok(out) => {
            return ItemResult {
                item,
                outcome: Outcome::Fail,
                detail: format!("smartctl --test=short: status {}", out.status),
            };
        }
        Err(e) => return skipped(e.to_string()),
    }
    progress(&tr(
        lang,
        Msg::StSmartStarted,
        &[("disk", name), ("minutes", &2)],
    ));
    let deadline = Instant::now() + timeout;
    loop {
        std::thread::sleep(poll);
        let json: serde_json::Value = match host.run("smartctl", &["--json=c", "--all", path]) {
            Ok(out) => serde_json::from_str(&out.stdout).unwrap_or_default(),
            Err(e) => return skipped(e.to_string()),
        };
        match parse_self_test(&json) {
            (Some(remaining), _) if Instant::now() < deadline => progress(&tr(
                lang,
                Msg::StSmartRunning,
                &[("disk", name), ("pct", &remaining)],
            )),
            (Some(_), _) => {
                return ItemResult {
                    item,
                    outcome: Outcome::Fail,
                    detail: tr(lang, Msg::StSmartTimeout, &[("secs", &timeout.as_secs())]),
                };
            }
            (None, Some(true)) => {
                return ItemResult {
                    item,
                    outcome: Outcome::Pass,
                    detail: "short self-test: completed without error".into(),
                };
            }
            (None, Some(false)) => {
                return ItemResult {
                    item,
                    outcome: Outcome::Fail,
                    detail: "short self-test: the disk reports errors".into(),
                };
            }
            (None, None) => return skipped(tr(lang, Msg::StSmartNotSupported, &[])),
        }
    }
}

/// Loads every CPU thread for `seconds`, sampling the package temperature once a second.
pub fn cpu_load(
    host: &Host,
    seconds: u64,
    max_temp_c: f32,
    lang: Lang,
    progress: &mut dyn FnMut(&str),
) -> ItemResult {
    use sha2::Digest;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut block = [t as u8; 4096];
                while Instant::now() < deadline {
                    for _ in 0..64 {
                        let digest = sha2::Sha256::digest(block);
                        block[..32].copy_from_slice(&digest);
                    }
                }
                std::hint::black_box(block[0])
            })
        })
        .collect();
    let mut max_temp: Option<f32> = None;
    let started = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(
            Duration::from_secs(1).min(deadline.saturating_duration_since(Instant::now())),
        );
        let temp = sensors::cpu_temperature(host);
        if let Some(t) = temp {
            max_temp = Some(max_temp.map_or(t, |m| m.max(t)));
        }
        let shown = temp
            .map(|t| format!("{t:.0} °C"))
            .unwrap_or_else(|| tr(lang, Msg::StNoSensor, &[]));
        progress(&tr(
            lang,
            Msg::StCpuProgress,
            &[("secs", &started.elapsed().as_secs()), ("temp", &shown)],
        ));
    }
    let all_ran = workers.into_iter().all(|w| w.join().is_ok());
    let shown = max_temp
        .map(|t| format!("{t:.0} °C"))
        .unwrap_or_else(|| tr(lang, Msg::StNoSensor, &[]));
    let item = tr(lang, Msg::StCpu, &[]);
    let result = match max_temp {
        Some(t) if t >= max_temp_c => ItemResult {
            item,
            outcome: Outcome::Fail,
            detail: tr(lang, Msg::StCpuTooHot, &[("temp", &shown)]),
        },
        _ if !all_ran => ItemResult {
            item,
            outcome: Outcome::Fail,
            detail: "a load thread crashed".into(),
        },
        _ => ItemResult {
            item,
            outcome: Outcome::Pass,
            detail: tr(
                lang,
                Msg::StCpuResult,
                &[("secs", &seconds), ("threads", &threads), ("temp", &shown)],
            ),
        },
    };
    progress(&line(lang, &result));
    result
}

pub fn nic_links(host: &Host, lang: Lang) -> Vec<ItemResult> {
    sensors::nics(host)
        .into_iter()
        .filter(|n| n.wired)
        .map(|n| {
            let item = tr(lang, Msg::StNic, &[("nic", &n.name)]);
            match (n.carrier, n.speed_mbps) {
                (Some(true), speed) => ItemResult {
                    item,
                    outcome: Outcome::Pass,
                    detail: tr(
                        lang,
                        Msg::StNicLinkUp,
                        &[("speed", &speed.map(|s| s.to_string()).unwrap_or("?".into()))],
                    ),
                },
                _ => ItemResult {
                    item,
                    outcome: Outcome::Fail,
                    detail: tr(lang, Msg::StNicNoLink, &[]),
                },
            }
        })
        .collect()
}

pub fn summary_line(lang: Lang, summary: &Summary) -> String {
    let count = |o| summary.items.iter().filter(|i| i.outcome == o).count();
    tr(
        lang,
        Msg::StSummary,
        &[
            ("passed", &count(Outcome::Pass)),
            ("failed", &count(Outcome::Fail)),
            ("skipped", &count(Outcome::Skipped)),
        ],
    )
}
