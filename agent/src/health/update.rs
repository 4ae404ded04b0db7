//! The OS update state (`update::Updates::status`): an update rolled back or failed, no
//! valid channel index for a while (the box may be held back, or offline), or a release
//! waiting to be installed.

use super::{Finding, Inputs, State};
use crate::store::AttemptState;
use crate::update::Offer;

pub fn update(i: &Inputs<'_>) -> Finding {
    let Some(u) = i.update else {
        return Finding::new("update", State::Unknown, "update_unknown");
    };
    let Some(running) = &u.running else {
        return Finding::new("update", State::Unknown, "update_not_system");
    };
    if let Some(a) = &u.attempt {
        let recent = a.attempt.finished_at.is_some_and(|t| i.now - t < 7 * 86400);
        match a.attempt.state {
            AttemptState::RolledBack if recent => {
                return Finding::new("update", State::Warning, "update_rolled_back")
                    .arg("version", &a.attempt.version)
                    .arg("running", running);
            }
            AttemptState::Failed if recent => {
                return Finding::new("update", State::Warning, "update_failed")
                    .arg("version", &a.attempt.version)
                    .arg(
                        "reason",
                        a.attempt
                            .error
                            .as_ref()
                            .map(|e| e.en.clone())
                            .unwrap_or_default(),
                    );
            }
            AttemptState::Installed => {
                return Finding::new("update", State::Warning, "update_restart_pending")
                    .arg("version", &a.attempt.version);
            }
            _ => {}
        }
    }
    if u.stale {
        return Finding::new("update", State::Warning, "update_stale").arg("running", running);
    }
    match &u.offer {
        Some(Offer::Available { release, .. }) => {
            Finding::new("update", State::Warning, "update_available")
                .arg("version", release.version.to_string())
                .arg("running", running)
        }
        _ => Finding::new("update", State::Ok, "update_ok").arg("running", running),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::update::UpdateStatus;

    fn status(running: Option<&str>, stale: bool) -> UpdateStatus {
        UpdateStatus {
            stale,
            ..UpdateStatus::for_tests(running)
        }
    }

    #[test]
    fn states() {
        let r = readings(50, 50);
        let mut i = inputs(&r);
        assert_eq!(update(&i).key, "update_unknown");
        let dev = status(None, false);
        i.update = Some(&dev);
        assert_eq!(update(&i).key, "update_not_system");
        let fine = status(Some("1.2.0"), false);
        i.update = Some(&fine);
        assert_eq!(update(&i).key, "update_ok");
        let stale = status(Some("1.2.0"), true);
        i.update = Some(&stale);
        assert_eq!(update(&i).key, "update_stale");
    }
}
