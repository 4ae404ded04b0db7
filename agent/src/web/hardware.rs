//! The Hardware page: the verdict, what it is based on, and the disks' health.

use super::PageActor;
use super::{Layout, PageError, render};
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::status::Status;
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use panier_hw::verdict::{Level, Severity};

pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

pub struct DiskView {
    pub name: String,
    pub model: String,
    pub size: String,
    pub health: String,
    pub hours: String,
    pub wear: String,
}

#[derive(Template)]
#[template(path = "hardware.html")]
struct HardwarePage {
    t: &'static Messages,
    layout: Layout,
    verdict: String,
    level: &'static str,
    findings: Vec<(bool, String)>,
    facts: Vec<Fact>,
    disks: Vec<DiskView>,
    notes: Vec<String>,
}

fn or_dash(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into())
}

/// Gigabytes, "Go" in French.
fn gb(bytes: u64, t: &Messages) -> String {
    format!(
        "{:.0} {}",
        bytes as f64 / 1e9,
        if t.language == crate::names::Language::Fr {
            "Go"
        } else {
            "GB"
        }
    )
}

pub async fn page(
    PageActor(actor): PageActor,
    State(status): State<Status>,
) -> Result<Response, PageError> {
    let t = messages(admin_language(&actor, status.box_language()));
    let layout = Layout::new(
        t,
        "hardware.title",
        "/admin/hardware",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    let s = crate::hardware::summary(t.language).await;
    let p = &s.probe;
    let yes_no = |b: bool| {
        t.get(if b { "hardware.yes" } else { "hardware.no" })
            .to_owned()
    };
    let machine = [
        p.machine.vendor.clone(),
        p.machine.version.clone().or(p.machine.product.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let facts = vec![
        Fact {
            label: t.get("hardware.machine"),
            value: or_dash(Some(machine)),
        },
        Fact {
            label: t.get("hardware.serial"),
            value: or_dash(p.machine.serial.clone()),
        },
        Fact {
            label: t.get("hardware.bios"),
            value: or_dash(Some(
                [p.machine.bios_version.clone(), p.machine.bios_date.clone()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" · "),
            )),
        },
        Fact {
            label: t.get("hardware.boot"),
            value: panier_hw::describe::boot(p, crate::hardware::lang(t.language)),
        },
        Fact {
            label: t.get("hardware.cpu"),
            value: format!(
                "{} ({} / {})",
                or_dash(p.cpu.model.clone()),
                p.cpu.cores,
                p.cpu.threads
            ),
        },
        Fact {
            label: t.get("hardware.virtualization"),
            value: yes_no(p.cpu.virtualization.is_some()),
        },
        Fact {
            label: t.get("hardware.memory"),
            value: gb(
                p.memory.installed_bytes().unwrap_or(p.memory.total_bytes),
                t,
            ),
        },
        Fact {
            label: t.get("hardware.network"),
            value: or_dash(Some(
                p.nics
                    .iter()
                    .map(|n| {
                        format!(
                            "{} ({}{})",
                            n.name,
                            t.get(if n.wired {
                                "hardware.wired"
                            } else {
                                "hardware.wireless"
                            }),
                            n.speed_mbps
                                .map(|s| format!(", {s} Mb/s"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        },
        Fact {
            label: t.get("hardware.temperature"),
            value: p
                .cpu_temperature_c
                .map(|c| format!("{c:.0} °C"))
                .unwrap_or_else(|| "—".into()),
        },
    ];
    let disks = p
        .disks
        .iter()
        .map(|d| {
            let h = d.health.as_ref();
            DiskView {
                name: d.identity.name.clone(),
                model: or_dash(d.identity.model.clone()),
                size: gb(d.identity.size_bytes, t),
                health: match h.and_then(|h| h.smart_passed) {
                    Some(true) => t.get("hardware.smart_ok").to_owned(),
                    Some(false) => t.get("hardware.smart_failed").to_owned(),
                    None => "—".into(),
                },
                hours: h
                    .and_then(|h| h.power_on_hours)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "—".into()),
                wear: h
                    .and_then(|h| h.wear_used_pct)
                    .map(|v| format!("{v} %"))
                    .unwrap_or_else(|| "—".into()),
            }
        })
        .collect();
    let level = match s.verdict.level {
        Level::Fit => "ok",
        Level::FitWithNotes => "warning",
        Level::Unfit => "error",
    };
    let findings = s
        .verdict
        .findings
        .iter()
        .map(|f| (f.severity == Severity::Blocker, f.message.clone()))
        .collect();
    Ok(render(&HardwarePage {
        t,
        layout,
        verdict: s.verdict.label.clone(),
        level,
        findings,
        facts,
        disks,
        notes: p.notes.clone(),
    }))
}
