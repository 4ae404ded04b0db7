//! Services in trouble: a container that keeps stopping and being started again by the
//! reconciler ([`LOOP_RESTARTS`] times within [`LOOP_WINDOW_SECS`]: critical, the service is
//! effectively down), one that did so earlier today (warning), or one failing its health check.

use super::{Finding, Inputs, State};

pub const LOOP_RESTARTS: usize = 3;
pub const LOOP_WINDOW_SECS: i64 = 15 * 60;

pub fn restarts(i: &Inputs<'_>) -> Finding {
    let looping: Vec<&str> = i
        .incidents
        .iter()
        .filter(|(_, inc)| inc.restarts_since(i.now - LOOP_WINDOW_SECS) >= LOOP_RESTARTS)
        .map(|(app, _)| app.as_str())
        .collect();
    if !looping.is_empty() {
        return Finding::new("services", State::Critical, "service_restart_loop")
            .arg("services", looping.join(", "));
    }
    if !i.unhealthy.is_empty() {
        let names: Vec<&str> = i.unhealthy.iter().map(|a| a.as_str()).collect();
        return Finding::new("services", State::Warning, "service_unhealthy")
            .arg("services", names.join(", "));
    }
    let crashed: Vec<(&str, usize)> = i
        .incidents
        .iter()
        .filter(|(_, inc)| !inc.restarts.is_empty())
        .map(|(app, inc)| (app.as_str(), inc.restarts.len()))
        .collect();
    if !crashed.is_empty() {
        let names: Vec<&str> = crashed.iter().map(|c| c.0).collect();
        return Finding::new("services", State::Warning, "service_crashed")
            .arg("services", names.join(", "))
            .arg("count", crashed.iter().map(|c| c.1).sum::<usize>());
    }
    Finding::new("services", State::Ok, "services_ok")
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::apps::AppIncidents;
    use crate::catalog::AppId;
    use std::collections::BTreeMap;

    #[test]
    fn a_loop_is_critical_a_crash_a_warning() {
        let r = readings(50, 50);
        let mut i = inputs(&r);
        assert_eq!(restarts(&i).key, "services_ok");
        let now = i.now;
        let with = |times: Vec<i64>| {
            BTreeMap::from([(
                AppId::parse("pad").unwrap(),
                AppIncidents {
                    oom_kills: vec![],
                    restarts: times,
                },
            )])
        };
        let crash = with(vec![now - 5000]);
        i.incidents = &crash;
        assert_eq!(restarts(&i).key, "service_crashed");
        let looping = with(vec![now - 5000, now - 300, now - 200, now - 100]);
        i.incidents = &looping;
        let f = restarts(&i);
        assert_eq!((f.state, f.key), (State::Critical, "service_restart_loop"));
        let unhealthy = [AppId::parse("wiki").unwrap()];
        i.incidents = &EMPTY;
        i.unhealthy = &unhealthy;
        assert_eq!(restarts(&i).key, "service_unhealthy");
    }
}
