//! The dashboard: the box at a glance.

use super::apps::{InstalledView, installed};
use super::{Banner, Layout, PageActor, PageError, render};
use crate::apps::Apps;
use crate::health::{Issue, Severity};
use crate::http::language::admin_language;
use crate::i18n::{Messages, messages};
use crate::status::{Status, StatusReport};
use askama::Template;
use axum::extract::State;
use axum::response::Response;

/// A health issue with its words in the admin's language.
pub struct IssueView {
    pub critical: bool,
    pub what: String,
    pub fix: String,
}

pub fn issue_view(t: &Messages, issue: &Issue) -> IssueView {
    let args: Vec<(&str, &str)> = issue
        .args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    IssueView {
        critical: issue.severity == Severity::Critical,
        what: t.fmt(&format!("health.{}.what", issue.key), &args),
        fix: t.fmt(&format!("health.{}.fix", issue.key), &args),
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    t: &'static Messages,
    layout: Layout,
    report: StatusReport,
    issues: Vec<IssueView>,
    services: Vec<InstalledView>,
}

impl DashboardPage {
    fn gib(bytes: Option<u64>) -> String {
        bytes
            .map(|b| format!("{:.1}", b as f64 / (1u64 << 30) as f64))
            .unwrap_or_else(|| "—".into())
    }
    fn memory(&self) -> String {
        let r = &self.report.readings;
        let used = r
            .memory_total_bytes
            .zip(r.memory_available_bytes)
            .map(|(t, a)| t - a);
        self.t.fmt(
            "dashboard.gib_of",
            &[
                ("used", &Self::gib(used)),
                ("total", &Self::gib(r.memory_total_bytes)),
            ],
        )
    }
    fn disk(&self) -> String {
        let r = &self.report.readings;
        let used = r
            .disk_total_bytes
            .zip(r.disk_free_bytes)
            .map(|(t, f)| t - f);
        self.t.fmt(
            "dashboard.gib_of",
            &[
                ("used", &Self::gib(used)),
                ("total", &Self::gib(r.disk_total_bytes)),
            ],
        )
    }
    fn uptime(&self) -> String {
        let s = self.report.readings.uptime_secs.unwrap_or(0);
        self.t.fmt(
            "dashboard.uptime_value",
            &[
                ("days", &(s / 86400).to_string()),
                ("hours", &(s % 86400 / 3600).to_string()),
                ("minutes", &(s % 3600 / 60).to_string()),
            ],
        )
    }
    fn load(&self) -> String {
        self.report
            .readings
            .load
            .map(|l| format!("{:.2} · {:.2} · {:.2}", l[0], l[1], l[2]))
            .unwrap_or_else(|| "—".into())
    }
    fn temperature(&self) -> Option<String> {
        self.report
            .readings
            .temperature_celsius
            .map(|c| format!("{c:.0} °C"))
    }
}

pub async fn page(
    PageActor(actor): PageActor,
    State(status): State<Status>,
    State(apps): State<Apps>,
) -> Result<Response, PageError> {
    let lang = status.box_language();
    let t = messages(admin_language(&actor, lang));
    let report = status.report().map_err(|e| PageError::new(e, t.language))?;
    let mut layout = Layout::new(t, "dashboard.title", "/admin", report.box_name.as_deref())
        .for_admin(t, &actor);
    let issues: Vec<IssueView> = report.issues.iter().map(|i| issue_view(t, i)).collect();
    layout.banners = issues
        .iter()
        .filter(|i| i.critical)
        .map(|i| Banner {
            text: format!("{} {}", i.what, i.fix),
        })
        .collect();
    let services = installed(t, &apps);
    Ok(render(&DashboardPage {
        t,
        layout,
        report,
        issues,
        services,
    }))
}
