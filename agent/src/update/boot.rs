//! After the restart, and the update's clock: what became of an installed attempt (judged
//! from the booted slot, pure: [`judge`]), the planned restart, the daily check, and the
//! attempts a stopped agent left half-done.
//!
//! An installed attempt is judged at every round of [`Updates::start_background`]'s loop
//! (once a minute, and at start):
//! - still the boot that installed it → nothing (the restart has not happened);
//! - the new slot booted → `confirming` until RAUC says the slot is good (`panier-mark-good`
//!   marks it once panier is healthy), then `succeeded`;
//! - another boot of the old slot → the new system was tried and given up (three failed
//!   boots, then GRUB's fallback): `rolled_back`, with what `panier-mark-good` reported from
//!   the failed boots; the booted slot is made the first to boot again.

use super::os::Slot;
use super::{UpdateError, Updates};
use crate::store::{AttemptRow, AttemptState, Said};
use std::time::Duration;

/// How often the scheduler looks (restart due, daily check, attempt to judge).
const TICK: Duration = Duration::from_secs(60);
/// Checks are daily; after a failed one, the next try comes sooner.
const CHECK_EVERY: i64 = 86_400;
const RETRY_AFTER: i64 = 3_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to do yet.
    Wait,
    /// The new system runs, not yet marked good.
    Confirming,
    Succeeded,
    RolledBack,
}

/// What became of `attempt`, given the boot the box is in.
pub fn judge(
    attempt: &AttemptRow,
    booted: Option<Slot>,
    boot_id: &str,
    target_good: bool,
) -> Verdict {
    let waiting = matches!(
        attempt.state,
        AttemptState::Installed | AttemptState::Restarting | AttemptState::Confirming
    );
    let target = attempt.target_slot.as_deref().and_then(Slot::parse);
    let (Some(target), Some(booted), true) = (target, booted, waiting) else {
        return Verdict::Wait;
    };
    if attempt.installed_boot.as_deref() == Some(boot_id) {
        return Verdict::Wait;
    }
    match (booted == target, target_good) {
        (true, true) => Verdict::Succeeded,
        (true, false) => Verdict::Confirming,
        (false, _) => Verdict::RolledBack,
    }
}

/// When to restart: `now`, or the next time the box's clock shows `hour`:00.
pub fn restart_time(now: i64, hour: Option<u8>) -> i64 {
    let Some(hour) = hour else { return now };
    let tz = jiff::tz::TimeZone::system();
    let Ok(zoned) = jiff::Timestamp::from_second(now).map(|t| t.to_zoned(tz)) else {
        return now;
    };
    let at = zoned
        .with()
        .hour(i8::try_from(hour).unwrap_or(0))
        .minute(0)
        .second(0)
        .subsec_nanosecond(0)
        .build();
    match at {
        Ok(at) if at.timestamp().as_second() > now => at.timestamp().as_second(),
        Ok(at) => at
            .checked_add(jiff::Span::new().days(1))
            .map(|t| t.timestamp().as_second())
            .unwrap_or(now),
        Err(_) => now,
    }
}

/// The reason a failed boot gave (`reason: …` in its report), else its first line.
fn reason_of(report: &str) -> String {
    report
        .lines()
        .find_map(|l| l.strip_prefix("reason:"))
        .or_else(|| report.lines().next())
        .unwrap_or("")
        .trim()
        .to_owned()
}

impl Updates {
    /// The scheduler: judges the latest attempt, restarts when one is due, checks the channel
    /// daily. Also resumes an attempt a stopped agent left half-done. Call once, in a runtime,
    /// after `Jobs::recover`.
    pub fn start_background(&self) {
        let updates = self.clone();
        tokio::spawn(async move {
            if let Err(e) = updates.resume() {
                log::error!("cannot resume the interrupted update: {e}");
            }
            loop {
                if let Err(e) = updates.tick().await {
                    log::warn!("update scheduler: {e}");
                }
                let _ = tokio::time::timeout(TICK, updates.inner.wake.notified()).await;
            }
        });
    }

    /// Runs again an attempt left `downloading` or `installing` (its job was interrupted).
    fn resume(&self) -> Result<(), UpdateError> {
        let Some(attempt) = self.store().attempts(1)?.into_iter().next() else {
            return Ok(());
        };
        if !matches!(
            attempt.state,
            AttemptState::Downloading | AttemptState::Installing
        ) {
            return Ok(());
        }
        let job = self
            .inner
            .jobs
            .begin_box("os_update", &format!("{} (resumed)", attempt.actor))?;
        self.store().set_attempt_job(attempt.id, job.id)?;
        log::info!(
            "resuming the update to {} (job {})",
            attempt.version,
            job.id
        );
        tokio::spawn(super::job::run(self.clone(), attempt, job));
        Ok(())
    }

    async fn tick(&self) -> Result<(), UpdateError> {
        let now = crate::store::now();
        if let Some(attempt) = self.store().attempts(1)?.into_iter().next() {
            self.settle(&attempt, now).await?;
        }
        let row = self.store().update_channel()?;
        let due = match (row.checked_at, &row.error) {
            (None, _) => true,
            (Some(at), None) => now - at >= CHECK_EVERY,
            (Some(at), Some(_)) => now - at >= RETRY_AFTER,
        };
        if due && self.running().is_ok() && self.channel().ok().flatten().is_some() {
            // The outcome is kept (and shown) by `check` itself.
            let _ = self.check().await;
        }
        Ok(())
    }

    /// Moves an attempt on: restart when due, then what the boot says of it.
    async fn settle(&self, attempt: &AttemptRow, now: i64) -> Result<(), UpdateError> {
        let slots = &self.inner.slots;
        if attempt.state == AttemptState::Installed
            && attempt.installed_boot.as_deref() == Some(slots.boot_id().as_str())
            && attempt.reboot_at.is_some_and(|at| at <= now)
        {
            log::warn!("restarting into the new system {}", attempt.version);
            self.store()
                .set_attempt_state(attempt.id, AttemptState::Restarting)?;
            if let Err(e) = slots.reboot().await {
                // Stay installed: the next restart, whoever makes it, boots the new system.
                self.store()
                    .set_attempt_state(attempt.id, AttemptState::Installed)?;
                self.store().set_attempt_reboot_at(attempt.id, i64::MAX)?;
                return Err(e.into());
            }
            return Ok(());
        }
        let target = attempt.target_slot.as_deref().and_then(Slot::parse);
        let good = match target {
            Some(t) if slots.booted() == Some(t) => slots.is_good(t).await.unwrap_or(false),
            _ => false,
        };
        match judge(attempt, slots.booted(), &slots.boot_id(), good) {
            Verdict::Wait => {}
            Verdict::Confirming => {
                if attempt.state != AttemptState::Confirming {
                    self.store()
                        .set_attempt_state(attempt.id, AttemptState::Confirming)?;
                }
            }
            Verdict::Succeeded => {
                log::info!(
                    "the new system {} is running and marked good",
                    attempt.version
                );
                self.store()
                    .finish_attempt(attempt.id, AttemptState::Succeeded, None, None)?;
            }
            Verdict::RolledBack => self.rolled_back(attempt, target).await?,
        }
        Ok(())
    }

    async fn rolled_back(
        &self,
        attempt: &AttemptRow,
        target: Option<Slot>,
    ) -> Result<(), UpdateError> {
        let slots = &self.inner.slots;
        let since = attempt.installed_at.unwrap_or(attempt.started_at);
        let reports = target
            .map(|t| slots.failed_boots(t, since))
            .unwrap_or_default();
        let reason = reports.last().map(|b| reason_of(&b.report));
        let log = (!reports.is_empty()).then(|| {
            reports
                .iter()
                .map(|b| b.report.trim())
                .collect::<Vec<_>>()
                .join("\n\n")
        });
        let say = |t: &crate::i18n::Messages| {
            let args = [
                ("version", attempt.version.as_str()),
                ("from", attempt.from_version.as_str()),
                ("tries", &reports.len().to_string()),
            ];
            let head = t.fmt("error.update_rolled_back", &args);
            match &reason {
                Some(r) => format!(
                    "{head} {}",
                    t.fmt("update.rolled_back_reason", &[("reason", r)])
                ),
                None => format!("{head} {}", t.get("update.rolled_back_no_report")),
            }
        };
        let said = Said {
            key: "update_rolled_back".into(),
            en: say(crate::i18n::messages(crate::names::Language::En)),
            fr: say(crate::i18n::messages(crate::names::Language::Fr)),
        };
        log::error!("{}", said.en);
        if let Err(e) = slots.keep_booted().await {
            log::warn!("cannot make the running slot the first to boot again: {e}");
        }
        self.store().finish_attempt(
            attempt.id,
            AttemptState::RolledBack,
            Some(&said),
            log.as_deref(),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UpdateSource;

    fn attempt(state: AttemptState) -> AttemptRow {
        AttemptRow {
            id: 1,
            version: "0.0.3".into(),
            from_version: "0.0.2".into(),
            source: UpdateSource::Channel,
            bundle: "https://u.example/b".into(),
            size: 1,
            sha256: "00".into(),
            notes_fr: String::new(),
            notes_en: String::new(),
            actor: "camille".into(),
            state,
            job_id: None,
            target_slot: Some("A".into()),
            reboot_at: Some(0),
            installed_boot: Some("boot-1".into()),
            started_at: 0,
            installed_at: Some(0),
            finished_at: None,
            error: None,
            boot_log: None,
        }
    }

    #[test]
    fn an_attempt_is_judged_by_the_boot_it_finds() {
        use Verdict::*;
        let installed = attempt(AttemptState::Installed);
        let restarting = attempt(AttemptState::Restarting);
        assert_eq!(
            judge(&installed, Some(Slot::B), "boot-1", false),
            Wait,
            "same boot"
        );
        assert_eq!(
            judge(&restarting, Some(Slot::A), "boot-2", false),
            Confirming
        );
        assert_eq!(judge(&restarting, Some(Slot::A), "boot-2", true), Succeeded);
        assert_eq!(
            judge(&restarting, Some(Slot::B), "boot-5", false),
            RolledBack
        );
        assert_eq!(
            judge(&installed, Some(Slot::B), "boot-2", false),
            RolledBack,
            "restarted by hand, then fell back"
        );
        assert_eq!(
            judge(
                &attempt(AttemptState::Failed),
                Some(Slot::B),
                "boot-2",
                false
            ),
            Wait
        );
        assert_eq!(
            judge(&restarting, None, "boot-2", false),
            Wait,
            "not a Panier system"
        );
    }

    #[test]
    fn restarts_come_at_the_next_chosen_hour() {
        let now = jiff::Timestamp::now().as_second();
        assert_eq!(restart_time(now, None), now);
        let at = restart_time(now, Some(3));
        assert!(at > now && at <= now + 86_400 + 3_600, "{at} vs {now}");
        let zoned = jiff::Timestamp::from_second(at)
            .unwrap()
            .to_zoned(jiff::tz::TimeZone::system());
        assert_eq!((zoned.hour(), zoned.minute()), (3, 0));
    }

    #[test]
    fn the_reason_comes_from_the_report() {
        assert_eq!(
            reason_of("slot: A\nreason: panier.service failed\n---\nlog"),
            "panier.service failed"
        );
        assert_eq!(reason_of("something odd"), "something odd");
    }
}
