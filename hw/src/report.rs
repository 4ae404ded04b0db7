//! `panier hw report`: the printable refurbishment sheet (HTML for the browser's print
//! dialog) and one line appended to a CSV inventory for batches of machines.
//!
//! The sheet holds the specs, disk health, the verdict with its findings, the wipe
//! certificates of this machine's disks (matched by disk serial, else by device name), and
//! the box's label: its name, `http://<name>.local` and its setup code.
//! Invariants: the box name is validated (lowercase letters, digits, dashes: a valid mDNS
//! label) before it reaches the page; the CSV header is written only when the file is new;
//! every CSV field is quoted. Limits: no PDF (the browser's "print to PDF" does it without
//! a dependency).

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::certificate::WipeCertificate;
use crate::describe;
use crate::html::{self, escape, human_bytes};
use crate::i18n::{Lang, Msg, tr};
use crate::probe::Probe;
use crate::verdict::{Level, Severity, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid box name {0:?}: use 1 to 63 lowercase letters, digits or dashes")]
    BoxName(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Sheet(#[from] crate::certificate::CertificateError),
}

/// The box's label, printed on the sheet.
#[derive(Debug, Clone)]
pub struct BoxLabel {
    pub name: String,
    pub setup_code: String,
}

impl BoxLabel {
    pub fn new(name: &str, setup_code: &str) -> Result<Self, ReportError> {
        let valid = crate::names::valid_box_name(name);
        if !valid {
            return Err(ReportError::BoxName(name.to_string()));
        }
        Ok(Self {
            name: name.to_string(),
            setup_code: setup_code.trim().to_string(),
        })
    }

    pub fn address(&self) -> String {
        format!("http://{}.local", self.name)
    }
}

/// Certificates that belong to this machine's disks.
pub fn certificates_for<'a>(
    probe: &Probe,
    certs: &'a [WipeCertificate],
) -> Vec<&'a WipeCertificate> {
    certs
        .iter()
        .filter(|c| {
            probe
                .disks
                .iter()
                .any(|d| match (&d.identity.serial, &c.disk.serial) {
                    (Some(a), Some(b)) => a == b,
                    (None, None) => d.identity.name == c.disk.name,
                    _ => false,
                })
        })
        .collect()
}

fn row(out: &mut String, key: &str, value: &str) {
    out.push_str(&format!(
        "<tr><th>{}</th><td>{}</td></tr>",
        escape(key),
        escape(value)
    ));
}

pub fn sheet_html(
    probe: &Probe,
    verdict: &Verdict,
    certs: &[&WipeCertificate],
    label: &BoxLabel,
    date: &str,
    lang: Lang,
) -> String {
    let t = |m| tr(lang, m, &[]);
    let mut b = String::new();
    b.push_str(&format!(
        "<div class=\"label\"><h2>{}</h2><p><b>{}</b> : {}</p><p><b>{}</b> : <code>{}</code></p><p><b>{}</b> : <code>{}</code></p><p>{}</p></div>",
        escape(&t(Msg::ReportLabelTitle)),
        escape(&t(Msg::LabelBoxName)),
        escape(&label.name),
        escape(&t(Msg::LabelAddress)),
        escape(&label.address()),
        escape(&t(Msg::LabelSetupCode)),
        escape(&label.setup_code),
        escape(&t(Msg::ReportLabelHint)),
    ));
    let class = match verdict.level {
        Level::Fit => "fit",
        Level::FitWithNotes => "notes",
        Level::Unfit => "unfit",
    };
    b.push_str(&format!(
        "<h2>{}</h2><p class=\"{class}\"><b>{}</b></p><ul>",
        escape(&t(Msg::LabelVerdict)),
        escape(&verdict.label)
    ));
    for f in &verdict.findings {
        let class = match f.severity {
            Severity::Info => "info",
            Severity::Note => "note",
            Severity::Blocker => "blocker",
        };
        b.push_str(&format!(
            "<li class=\"{class}\">{} — {}</li>",
            escape(&f.severity.label(lang)),
            escape(&f.message)
        ));
    }
    b.push_str("</ul><h2>");
    b.push_str(&escape(&t(Msg::LabelMachine)));
    b.push_str("</h2><table>");
    row(
        &mut b,
        &t(Msg::LabelMachine),
        &describe::machine(probe, lang),
    );
    row(
        &mut b,
        &t(Msg::LabelSerial),
        probe.machine.serial.as_deref().unwrap_or("—"),
    );
    row(
        &mut b,
        &t(Msg::LabelFirmware),
        &describe::firmware(probe, lang),
    );
    row(&mut b, &t(Msg::LabelCpu), &describe::cpu(&probe.cpu, lang));
    row(&mut b, &t(Msg::LabelMemory), &describe::memory(probe));
    for d in &probe.disks {
        row(
            &mut b,
            &format!("{} {}", t(Msg::LabelDisks), d.identity.name),
            &format!(
                "{} — {}",
                describe::disk(d, lang),
                describe::health(d.health.as_ref(), lang)
            ),
        );
    }
    for n in &probe.nics {
        row(
            &mut b,
            &format!("{} {}", t(Msg::LabelNetwork), n.name),
            &describe::nic(n, lang),
        );
    }
    if let Some(temp) = probe.cpu_temperature_c {
        row(&mut b, &t(Msg::LabelTemperature), &format!("{temp:.0} °C"));
    }
    if let Some(bat) = &probe.battery {
        row(&mut b, &t(Msg::LabelBattery), &describe::battery(bat, lang));
    }
    row(&mut b, &t(Msg::LabelDate), date);
    b.push_str("</table>");
    if certs.is_empty() {
        b.push_str(&format!(
            "<p class=\"note\">{}</p>",
            escape(&t(Msg::ReportNoCertificate))
        ));
    }
    for c in certs {
        b.push_str(&c.html_fragment(lang));
    }
    html::page(
        &format!("{} — {}", t(Msg::ReportTitle), label.name),
        lang,
        &b,
    )
}

fn csv_field(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

pub const CSV_HEADER: &str =
    "date,box_name,address,vendor,product,machine_serial,cpu,memory_gib,disks,verdict,wipe";

pub fn csv_line(
    probe: &Probe,
    verdict: &Verdict,
    certs: &[&WipeCertificate],
    label: &BoxLabel,
    date: &str,
) -> String {
    let m = &probe.machine;
    let disks: Vec<String> = probe
        .disks
        .iter()
        .filter(|d| d.is_internal())
        .map(|d| {
            format!(
                "{} {} {}",
                d.identity.model.as_deref().unwrap_or("?"),
                d.identity.serial.as_deref().unwrap_or("?"),
                human_bytes(d.identity.size_bytes)
            )
        })
        .collect();
    let wipe = if certs.is_empty() {
        "none".to_string()
    } else {
        certs
            .iter()
            .map(|c| {
                format!(
                    "{}:{}",
                    c.disk.confirmation_token(),
                    if c.passed { "verified" } else { "FAILED" }
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let memory = probe
        .memory
        .installed_bytes()
        .unwrap_or(probe.memory.total_bytes) as f64
        / (1u64 << 30) as f64;
    let level = serde_json::to_value(verdict.level)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    [
        date.to_string(),
        label.name.clone(),
        label.address(),
        m.vendor.clone().unwrap_or_default(),
        [&m.product, &m.version]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        m.serial.clone().unwrap_or_default(),
        probe.cpu.model.clone().unwrap_or_default(),
        format!("{memory:.1}"),
        disks.join("; "),
        level,
        wipe,
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
}

/// Where [`write`] put the sheet and the inventory line.
#[derive(Debug, Clone)]
pub struct Written {
    pub sheet: PathBuf,
    pub inventory: PathBuf,
}

/// Probes `host`, judges it, and writes the sheet (default `DIR/sheet-NAME.html`) with the
/// wipe certificates found in `certificates` for this machine's disks, and one line of the
/// inventory (default `DIR/inventory.csv`). `panier hw report` and the agent's install job.
pub fn write(
    host: &crate::host::Host,
    certificates: &Path,
    label: &BoxLabel,
    out: Option<PathBuf>,
    inventory: Option<PathBuf>,
    lang: Lang,
) -> Result<Written, ReportError> {
    let s = crate::summarize(host, lang);
    let all = WipeCertificate::load_dir(certificates);
    let certs = certificates_for(&s.probe, &all);
    let date = crate::certificate::now();
    let sheet = out.unwrap_or_else(|| certificates.join(format!("sheet-{}.html", label.name)));
    let inventory = inventory.unwrap_or_else(|| certificates.join("inventory.csv"));
    crate::certificate::write_atomic(
        &sheet,
        sheet_html(&s.probe, &s.verdict, &certs, label, &date, lang).as_bytes(),
    )?;
    append_inventory(
        &inventory,
        &csv_line(&s.probe, &s.verdict, &certs, label, &date),
    )?;
    Ok(Written { sheet, inventory })
}

/// Appends one line (and the header when the file is new), then fsyncs.
pub fn append_inventory(path: &Path, line: &str) -> Result<(), ReportError> {
    let err = |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let new = !path.exists()
        || std::fs::metadata(path)
            .map(|m| m.len() == 0)
            .unwrap_or(true);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let text = if new {
        format!("{CSV_HEADER}\n{line}\n")
    } else {
        format!("{line}\n")
    };
    file.write_all(text.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}
