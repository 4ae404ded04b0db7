//! Backups: the most serious backup alert (`backup::alerts_from`: stale, failed or missing
//! target are critical; an unconfirmed emergency kit is a warning), or none configured. The
//! Backups page lists every alert.

use super::{Finding, Inputs, State};

pub fn backups(i: &Inputs<'_>) -> Finding {
    let Some(a) = i
        .backup_alerts
        .iter()
        .find(|a| a.key != "backup_kit_unconfirmed")
        .or_else(|| i.backup_alerts.first())
    else {
        if i.backup_targets == 0 {
            return Finding::new("backups", State::Warning, "backup_none");
        }
        return Finding::new("backups", State::Ok, "backup_ok");
    };
    let state = if a.key == "backup_kit_unconfirmed" {
        State::Warning
    } else {
        State::Critical
    };
    let mut f = Finding::new("backups", state, a.key).arg("target", &a.target);
    if let Some(h) = a.hours {
        f = f.arg("hours", h);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::backup::Alert;

    #[test]
    fn the_worst_alert() {
        let r = readings(50, 50);
        let mut i = inputs(&r);
        assert_eq!(backups(&i).key, "backup_ok");
        i.backup_targets = 0;
        assert_eq!(backups(&i).key, "backup_none");
        let alerts = [
            Alert {
                key: "backup_kit_unconfirmed",
                target: "usb".into(),
                hours: None,
            },
            Alert {
                key: "backup_stale",
                target: "usb".into(),
                hours: Some(50),
            },
        ];
        i.backup_alerts = &alerts;
        let f = backups(&i);
        assert_eq!((f.state, f.key), (State::Critical, "backup_stale"));
        i.backup_alerts = &alerts[..1];
        assert_eq!(backups(&i).state, State::Warning);
    }
}
