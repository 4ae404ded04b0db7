//! Free space on the data partition, with its trend, and the guard that acts before it fills.
//!
//! Below [`WARN_PERCENT`] free the check warns and the guard prunes the images no service
//! uses (`Apps::prune_images`); below [`CRITICAL_PERCENT`] it is critical, and `apps`
//! refuses installs and updates whatever a service declares (its own guard also keeps 1 GiB
//! beyond each service's needs). A partition losing space fast enough to fill within
//! [`FILL_WARN_DAYS`] days warns before either threshold is reached.

use super::{Finding, Inputs, State, percent};

pub const WARN_PERCENT: u64 = 10;
pub const CRITICAL_PERCENT: u64 = 5;
pub const FILL_WARN_DAYS: f64 = 7.0;

pub fn space(i: &Inputs<'_>) -> Finding {
    let (Some(total), Some(free)) = (i.readings.disk_total_bytes, i.readings.disk_free_bytes)
    else {
        return Finding::new("disk_space", State::Unknown, "disk_unknown");
    };
    let p = percent(free, total);
    let state = match p {
        p if p < CRITICAL_PERCENT => State::Critical,
        p if p < WARN_PERCENT => State::Warning,
        _ => State::Ok,
    };
    let gib = format!("{:.1}", free as f64 / (1u64 << 30) as f64);
    if state != State::Ok {
        return Finding::new("disk_space", state, "disk_low")
            .arg("percent", p)
            .arg("free", gib);
    }
    if let Some(days) = days_to_full(free, i.disk_trend)
        && days < FILL_WARN_DAYS
    {
        return Finding::new("disk_space", State::Warning, "disk_filling")
            .arg("percent", p)
            .arg("days", format!("{days:.0}"));
    }
    Finding::new("disk_space", State::Ok, "disk_ok")
        .arg("percent", p)
        .arg("free", gib)
}

/// Days until `free` reaches zero at `trend` bytes a day (`None` when it is not shrinking).
fn days_to_full(free: u64, trend: Option<f64>) -> Option<f64> {
    let t = trend?;
    (t < 0.0).then(|| free as f64 / -t)
}

/// Whether the guard should prune unused images now.
pub fn should_prune(total: u64, free: u64) -> bool {
    percent(free, total) < WARN_PERCENT
}

/// Whether installs and updates must be refused, whatever the service needs.
pub fn too_full(total: u64, free: u64) -> bool {
    percent(free, total) < CRITICAL_PERCENT
}

/// The trend from samples `(unix seconds, free bytes)`, oldest first: bytes per day between
/// the first and the last, once they are an hour apart.
pub fn trend(samples: &[(i64, u64)]) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    let secs = last.0 - first.0;
    (secs >= 3600).then(|| (last.1 as f64 - first.1 as f64) * 86400.0 / secs as f64)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    #[test]
    fn thresholds_and_trend() {
        let f = |free, trend| {
            let r = readings(free, 50);
            let mut i = inputs(&r);
            i.disk_trend = trend;
            let f = space(&i);
            (f.state, f.key)
        };
        assert_eq!(f(50, None), (State::Ok, "disk_ok"));
        assert_eq!(f(7, None), (State::Warning, "disk_low"));
        assert_eq!(f(3, None), (State::Critical, "disk_low"));
        assert_eq!(f(50, Some(-10.0)), (State::Warning, "disk_filling"));
        assert_eq!(f(50, Some(-1.0)), (State::Ok, "disk_ok"));
        assert_eq!(f(50, Some(5.0)), (State::Ok, "disk_ok"));
        assert!(should_prune(100, 9) && !should_prune(100, 10));
        assert!(too_full(100, 4) && !too_full(100, 5));
        assert_eq!(trend(&[(0, 1000), (1800, 900)]), None);
        assert_eq!(trend(&[(0, 1000), (43200, 900)]), Some(-200.0));
    }
}
