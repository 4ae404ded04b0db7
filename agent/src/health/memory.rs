//! Memory pressure: little memory left on the box, and containers killed for using more
//! than their limit (the engine's `oom` events and `OOMKilled`, recorded by `apps`). A kill
//! in the last hour is critical: the service is probably down or losing work.

use super::{Finding, Inputs, State, percent};

pub fn memory(i: &Inputs<'_>) -> Finding {
    let hour_ago = i.now - 3600;
    let killed: Vec<(&str, usize, bool)> = i
        .incidents
        .iter()
        .filter(|(_, inc)| !inc.oom_kills.is_empty())
        .map(|(app, inc)| {
            let recent = inc.oom_kills.iter().any(|k| k.at >= hour_ago);
            (app.as_str(), inc.oom_kills.len(), recent)
        })
        .collect();
    if !killed.is_empty() {
        let recent = killed.iter().any(|k| k.2);
        let services = killed.iter().map(|k| k.0).collect::<Vec<_>>().join(", ");
        let count: usize = killed.iter().map(|k| k.1).sum();
        return Finding::new(
            "memory",
            if recent {
                State::Critical
            } else {
                State::Warning
            },
            "memory_oom",
        )
        .arg("services", services)
        .arg("count", count);
    }
    let (Some(total), Some(avail)) = (
        i.readings.memory_total_bytes,
        i.readings.memory_available_bytes,
    ) else {
        return Finding::new("memory", State::Unknown, "memory_unknown");
    };
    let p = percent(avail, total);
    if p < 5 {
        Finding::new("memory", State::Warning, "memory_low").arg("percent", p)
    } else {
        Finding::new("memory", State::Ok, "memory_ok").arg("percent", p)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::apps::{AppIncidents, OomKill};
    use crate::catalog::AppId;
    use std::collections::BTreeMap;

    #[test]
    fn kills_for_memory_come_first() {
        let r = readings(50, 50);
        assert_eq!(memory(&inputs(&r)).key, "memory_ok");
        let low = readings(50, 2);
        assert_eq!(memory(&inputs(&low)).state, State::Warning);
        let mut incidents = BTreeMap::new();
        let mut i = inputs(&r);
        let kill = |at| AppIncidents {
            oom_kills: vec![OomKill {
                container: "panier-pad-web".into(),
                at,
            }],
            restarts: vec![],
        };
        incidents.insert(AppId::parse("pad").unwrap(), kill(i.now - 7200));
        i.incidents = &incidents;
        let f = memory(&i);
        assert_eq!((f.state, f.key), (State::Warning, "memory_oom"));
        assert_eq!(f.args[0], ("services".into(), "pad".into()));
        let mut recent = BTreeMap::new();
        recent.insert(AppId::parse("pad").unwrap(), kill(i.now - 60));
        i.incidents = &recent;
        assert_eq!(memory(&i).state, State::Critical);
    }
}
