//! `panier-hw`: hardware tools for refurbishment workshops and the box's Hardware page.
//!
//! Map: [`host`] (where facts come from) → [`probe`] (what the machine is) → [`verdict`]
//! (can it be a box, with [`models`] advice) → [`selftest`] (does it work) → [`wipe`] and
//! [`flash`] (destructive, both behind [`blockdev`]'s safety gate, using [`rawio`]) →
//! [`certificate`] and [`report`] (what the workshop prints); [`install`] copies the running
//! system from the workshop's USB stick onto a box's internal disk (behind the same gate).
//! [`names`] holds the box name, setup code and DNS-label rules that the agent shares.
//! [`i18n`] holds every sentence in French and English; [`cli`] exposes the commands to the
//! agent's command tree; [`capture`] records a machine as a test fixture through the same probe.
//!
//! Entry points for the agent: [`cli::HwArgs`] + [`cli::run`], [`cli::FlashArgs`] +
//! [`cli::run_flash`], and [`hardware_summary`] for the admin UI's Hardware page.

pub mod blockdev;
pub mod capture;
pub mod certificate;
pub mod cli;
pub mod describe;
pub mod flash;
pub mod host;
pub mod html;
pub mod i18n;
pub mod install;
pub mod models;
pub mod names;
pub mod nvme;
pub mod probe;
pub mod rawio;
pub mod report;
pub mod selftest;
pub mod verdict;
pub mod wipe;

use serde::Serialize;

/// What the Hardware page shows: the probe and the verdict, serializable as one JSON object.
#[derive(Debug, Clone, Serialize)]
pub struct HardwareSummary {
    pub probe: probe::Probe,
    pub verdict: verdict::Verdict,
}

/// Probes this machine and judges it (blocking: ~0.1–1 s, runs smartctl once per disk; call
/// it from `spawn_blocking`).
pub fn hardware_summary(lang: i18n::Lang) -> HardwareSummary {
    summarize(&host::Host::system(), lang)
}

/// The same on any host (a fixture machine in tests).
pub fn summarize(host: &host::Host, lang: i18n::Lang) -> HardwareSummary {
    let probe = probe::probe(host);
    let verdict = verdict::check(&probe, &models::ModelDb::builtin(), lang);
    HardwareSummary { probe, verdict }
}
