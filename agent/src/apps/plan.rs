//! The reconciler's decisions as data. [`converge`] reads one service's wanted state (its
//! spec, whether it should run) and what the engine and the disk show ([`Observed`]) into a
//! list of [`Move`]s, as start-os reads (desired, started) into a transition; [`stops`],
//! [`teardown`] and [`leftovers`] do the same for stopping a service, removing it, and the
//! objects no service wants; [`resume`] says what to do with a phase a crash left behind.
//! No engine call here: `reconcile.rs` observes, asks for a plan, and applies it in order.
//!
//! Invariants: an object without this box's labels is never the subject of a move; a
//! container that bears a wanted name but is not ours refuses the whole plan
//! ([`Refusal::Foreign`]) before any move, so nothing is left half-done. Moves are
//! idempotent: applying a plan twice, or a plan made from a stale look, only repeats what is
//! already true (the engine treats removing something absent as done).

use super::spec::{AppSpec, LABEL_APP, LABEL_BOX, LABEL_SPEC};
use crate::catalog::AppId;
use crate::engine::{ContainerInfo, ContainerSpec, NetworkInfo};
use crate::store::Phase;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// Why a container is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The service's definition has no container of that name any more.
    NotInSpec,
    /// Its definition changed (the spec hash label differs): made again.
    SpecChanged,
    /// The service is being removed, or rolled back.
    Teardown,
    /// Ours, but no such service is recorded (removed while the agent was down, or an install
    /// that never got recorded).
    Leftover,
}

/// One step the executor takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// A host directory of the service's volumes, given `uid:gid` when the manifest says so.
    CreateDir {
        path: PathBuf,
        owner: Option<String>,
    },
    /// The service's network (the engine call does nothing when it exists).
    EnsureNetwork,
    Remove {
        name: String,
        why: Why,
    },
    Create(ContainerSpec),
    /// Found stopped while it should run: a kill for memory or a crash restart is recorded.
    NoteStopped(ContainerInfo),
    /// Start a container. `recreate` is set for one that existed before this pass: if it does
    /// not start as it is (its network was lost in an unclean power-off, or replaced), it
    /// holds no data (volumes are the service's folders) and is made again from the spec.
    Start {
        name: String,
        recreate: Option<ContainerSpec>,
    },
    Stop {
        name: String,
        grace_s: u32,
    },
    RemoveNetwork {
        name: String,
    },
}

/// Why no plan can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A container of a wanted name exists that this box did not create: left alone.
    Foreign { name: String },
}

/// What the executor saw before asking for a plan.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Containers carrying the service's label (any box's).
    pub listed: Vec<ContainerInfo>,
    /// The engine's answer for each wanted container name (`None`: no such container).
    pub inspected: BTreeMap<String, Option<ContainerInfo>>,
    /// The service's host directories that exist.
    pub dirs: BTreeSet<PathBuf>,
}

/// Whether an engine object is this agent's (`instance`) and, with `app`, that service's.
pub fn ours(instance: &str, labels: &BTreeMap<String, String>, app: Option<&AppId>) -> bool {
    labels.get(LABEL_BOX).is_some_and(|b| b == instance)
        && labels
            .get(LABEL_APP)
            .is_some_and(|a| app.is_none_or(|app| a == app.as_str()))
}

/// The moves that bring one service to its spec: directories, network, containers not in
/// the spec removed, changed ones made again, missing ones created, then started (in start
/// order) when it should run, or stopped (last started first) when it should not.
pub fn converge(
    instance: &str,
    app: &AppId,
    spec: &AppSpec,
    running: bool,
    seen: &Observed,
) -> Result<Vec<Move>, Refusal> {
    let found = |name: &str| seen.inspected.get(name).cloned().flatten();
    if let Some(c) = spec
        .containers
        .iter()
        .find(|c| found(&c.name).is_some_and(|i| !ours(instance, &i.labels, Some(app))))
    {
        return Err(Refusal::Foreign {
            name: c.name.clone(),
        });
    }
    let mut moves: Vec<Move> = spec
        .volume_dirs
        .iter()
        .filter(|(dir, _)| !seen.dirs.contains(dir))
        .map(|(path, owner)| Move::CreateDir {
            path: path.clone(),
            owner: owner.clone(),
        })
        .collect();
    moves.push(Move::EnsureNetwork);
    let wanted: BTreeSet<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    moves.extend(
        seen.listed
            .iter()
            .filter(|c| ours(instance, &c.labels, Some(app)) && !wanted.contains(c.name.as_str()))
            .map(|c| Move::Remove {
                name: c.name.clone(),
                why: Why::NotInSpec,
            }),
    );
    // What is still there, as it is, after the removals above.
    let mut kept = BTreeMap::new();
    for c in &spec.containers {
        let info = found(&c.name);
        if info
            .as_ref()
            .is_some_and(|i| i.labels.get(LABEL_SPEC) != c.labels.get(LABEL_SPEC))
        {
            moves.push(Move::Remove {
                name: c.name.clone(),
                why: Why::SpecChanged,
            });
        } else if let Some(i) = info {
            kept.insert(c.name.clone(), i);
        }
        let current = kept.get(&c.name);
        if current.is_none() {
            moves.push(Move::Create(c.clone()));
        }
        if running {
            match current {
                None => moves.push(Move::Start {
                    name: c.name.clone(),
                    recreate: None,
                }),
                Some(i) if !i.running => {
                    moves.push(Move::NoteStopped(i.clone()));
                    moves.push(Move::Start {
                        name: c.name.clone(),
                        recreate: Some(c.clone()),
                    });
                }
                Some(_) => {}
            }
        }
    }
    if !running {
        let order: Vec<(String, u32)> = spec
            .containers
            .iter()
            .map(|c| (c.name.clone(), c.stop_timeout_s))
            .collect();
        let now = kept.into_iter().map(|(n, i)| (n, Some(i))).collect();
        moves.extend(stops(&order, &now));
    }
    Ok(moves)
}

/// Stops for the running containers of `order` (names in start order, with their grace),
/// last started first.
pub fn stops(
    order: &[(String, u32)],
    inspected: &BTreeMap<String, Option<ContainerInfo>>,
) -> Vec<Move> {
    order
        .iter()
        .rev()
        .filter(|(name, _)| {
            inspected
                .get(name)
                .is_some_and(|i| i.as_ref().is_some_and(|i| i.running))
        })
        .map(|(name, grace_s)| Move::Stop {
            name: name.clone(),
            grace_s: *grace_s,
        })
        .collect()
}

/// Removes every container, then every network, of `app` that is ours (found by label, so
/// leftovers of any version go too).
pub fn teardown(
    instance: &str,
    app: &AppId,
    containers: &[ContainerInfo],
    networks: &[NetworkInfo],
) -> Vec<Move> {
    let removes = containers
        .iter()
        .filter(|c| ours(instance, &c.labels, Some(app)))
        .map(|c| Move::Remove {
            name: c.name.clone(),
            why: Why::Teardown,
        });
    let networks = networks
        .iter()
        .filter(|n| ours(instance, &n.labels, Some(app)))
        .map(|n| Move::RemoveNetwork {
            name: n.name.clone(),
        });
    removes.chain(networks).collect()
}

/// Our containers and networks whose service `keep` does not claim (not recorded, and no job
/// running for it).
pub fn leftovers(
    instance: &str,
    keep: impl Fn(&AppId) -> bool,
    containers: &[ContainerInfo],
    networks: &[NetworkInfo],
) -> Vec<Move> {
    let unclaimed = |labels: &BTreeMap<String, String>| {
        ours(instance, labels, None)
            && labels
                .get(LABEL_APP)
                .and_then(|a| AppId::parse(a).ok())
                .is_some_and(|app| !keep(&app))
    };
    let removes = containers
        .iter()
        .filter(|c| unclaimed(&c.labels))
        .map(|c| Move::Remove {
            name: c.name.clone(),
            why: Why::Leftover,
        });
    let networks = networks
        .iter()
        .filter(|n| unclaimed(&n.labels))
        .map(|n| Move::RemoveNetwork {
            name: n.name.clone(),
        });
    removes.chain(networks).collect()
}

/// What to do at start with a service whose phase a crash left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Nothing,
    /// Run the install again from its start (each step is idempotent); a failure rolls it back.
    CompleteInstall,
    /// Its stored definition cannot be read: undo what the install made.
    RollBackInstall,
    /// Go on with the update from where its records say (`lifecycle::run_update`).
    ContinueUpdate,
    /// The version it left is unknown: mark it installed as it is, the job failed.
    AbandonUpdate,
    CompleteRemoval,
}

/// The resumption for a phase, knowing whether the stored definition and, for an update,
/// the previous one can be read.
pub fn resume(phase: Phase, manifest_readable: bool, previous_readable: bool) -> Resume {
    match phase {
        Phase::Installed => Resume::Nothing,
        Phase::Installing if manifest_readable => Resume::CompleteInstall,
        Phase::Installing => Resume::RollBackInstall,
        Phase::Updating if manifest_readable && previous_readable => Resume::ContinueUpdate,
        Phase::Updating => Resume::AbandonUpdate,
        Phase::Removing => Resume::CompleteRemoval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::HealthState;

    const BOX: &str = "box1";

    fn app() -> AppId {
        AppId::parse("pad").unwrap()
    }

    fn labels(app: &str, box_: &str, spec: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_APP.to_owned(), app.to_owned()),
            (LABEL_BOX.to_owned(), box_.to_owned()),
            (LABEL_SPEC.to_owned(), spec.to_owned()),
        ])
    }

    fn container(name: &str, spec: &str) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: "img".into(),
            entrypoint: None,
            command: None,
            env: BTreeMap::new(),
            user: None,
            labels: labels("pad", BOX, spec),
            network: "panier-pad".into(),
            aliases: Vec::new(),
            binds: Vec::new(),
            memory_bytes: 0,
            ports: Vec::new(),
            published: Vec::new(),
            health: None,
            stop_timeout_s: 10,
        }
    }

    fn info(name: &str, labels: BTreeMap<String, String>, running: bool) -> ContainerInfo {
        ContainerInfo {
            name: name.into(),
            labels,
            running,
            status: if running { "running" } else { "exited" }.into(),
            exit_code: None,
            health: HealthState::None,
            oom_killed: false,
            addresses: BTreeMap::new(),
        }
    }

    /// Two containers, `db` started before `web`, and one volume folder.
    fn spec() -> AppSpec {
        AppSpec {
            network: "panier-pad".into(),
            network_labels: BTreeMap::new(),
            containers: vec![
                container("panier-pad-db", "d1"),
                container("panier-pad-web", "w1"),
            ],
            volume_dirs: vec![("/data/apps/pad/volumes/db".into(), Some("999:999".into()))],
        }
    }

    /// What the engine shows: each of `present` as (name, spec hash, running).
    fn seen(present: &[(&str, &str, bool)]) -> Observed {
        let mut o = Observed {
            dirs: BTreeSet::from(["/data/apps/pad/volumes/db".into()]),
            ..Observed::default()
        };
        for c in spec().containers {
            o.inspected.insert(c.name.clone(), None);
        }
        for (name, hash, running) in present {
            let i = info(name, labels("pad", BOX, hash), *running);
            o.listed.push(i.clone());
            o.inspected.insert((*name).into(), Some(i));
        }
        o
    }

    fn names(moves: &[Move]) -> Vec<String> {
        moves
            .iter()
            .map(|m| match m {
                Move::CreateDir { path, .. } => format!("mkdir {}", path.display()),
                Move::EnsureNetwork => "network".into(),
                Move::Remove { name, why } => format!("remove {name} {why:?}"),
                Move::Create(c) => format!("create {}", c.name),
                Move::NoteStopped(i) => format!("note {}", i.name),
                Move::Start { name, recreate } => {
                    format!(
                        "start {name}{}",
                        if recreate.is_some() { " or again" } else { "" }
                    )
                }
                Move::Stop { name, grace_s } => format!("stop {name} {grace_s}"),
                Move::RemoveNetwork { name } => format!("remove_network {name}"),
            })
            .collect()
    }

    #[test]
    fn a_fresh_service_gets_its_folder_network_and_containers_in_start_order() {
        let mut o = seen(&[]);
        o.dirs.clear();
        let moves = converge(BOX, &app(), &spec(), true, &o).unwrap();
        assert_eq!(
            names(&moves),
            [
                "mkdir /data/apps/pad/volumes/db",
                "network",
                "create panier-pad-db",
                "start panier-pad-db",
                "create panier-pad-web",
                "start panier-pad-web",
            ]
        );
        assert!(matches!(&moves[0], Move::CreateDir { owner: Some(o), .. } if o == "999:999"));
    }

    #[test]
    fn a_service_as_wanted_needs_only_its_network_checked() {
        let o = seen(&[
            ("panier-pad-db", "d1", true),
            ("panier-pad-web", "w1", true),
        ]);
        assert_eq!(
            names(&converge(BOX, &app(), &spec(), true, &o).unwrap()),
            ["network"]
        );
    }

    #[test]
    fn a_changed_definition_is_made_again_and_a_stopped_one_started_with_a_note() {
        let o = seen(&[
            ("panier-pad-db", "d0", true),
            ("panier-pad-web", "w1", false),
        ]);
        assert_eq!(
            names(&converge(BOX, &app(), &spec(), true, &o).unwrap()),
            [
                "network",
                "remove panier-pad-db SpecChanged",
                "create panier-pad-db",
                "start panier-pad-db",
                "note panier-pad-web",
                "start panier-pad-web or again",
            ]
        );
    }

    #[test]
    fn containers_not_in_the_spec_go_but_only_ours() {
        let mut o = seen(&[
            ("panier-pad-db", "d1", true),
            ("panier-pad-web", "w1", true),
        ]);
        o.listed
            .push(info("panier-pad-old", labels("pad", BOX, "x"), true));
        o.listed
            .push(info("panier-pad-other", labels("pad", "box2", "x"), true));
        assert_eq!(
            names(&converge(BOX, &app(), &spec(), true, &o).unwrap()),
            ["network", "remove panier-pad-old NotInSpec"]
        );
    }

    #[test]
    fn a_foreign_container_of_a_wanted_name_refuses_the_whole_plan() {
        let mut o = seen(&[]);
        o.dirs.clear();
        let foreign = info("panier-pad-web", labels("pad", "box2", "w1"), false);
        o.inspected.insert("panier-pad-web".into(), Some(foreign));
        assert_eq!(
            converge(BOX, &app(), &spec(), true, &o),
            Err(Refusal::Foreign {
                name: "panier-pad-web".into()
            })
        );
    }

    #[test]
    fn a_service_not_wanted_running_is_stopped_last_started_first() {
        let o = seen(&[
            ("panier-pad-db", "d1", true),
            ("panier-pad-web", "w1", true),
        ]);
        assert_eq!(
            names(&converge(BOX, &app(), &spec(), false, &o).unwrap()),
            ["network", "stop panier-pad-web 10", "stop panier-pad-db 10"]
        );
        // Missing containers are created, not started; a changed one is not stopped first.
        let o = seen(&[("panier-pad-db", "d0", true)]);
        assert_eq!(
            names(&converge(BOX, &app(), &spec(), false, &o).unwrap()),
            [
                "network",
                "remove panier-pad-db SpecChanged",
                "create panier-pad-db",
                "create panier-pad-web",
            ]
        );
    }

    #[test]
    fn teardown_and_leftovers_touch_only_this_boxs_objects() {
        let containers = [
            info("panier-pad-web", labels("pad", BOX, "w1"), true),
            info("panier-pad-x", labels("pad", "box2", "w1"), true),
            info("panier-gone-web", labels("gone", BOX, "g"), false),
            info("panier-busy-web", labels("busy", BOX, "b"), false),
        ];
        let networks = [
            NetworkInfo {
                name: "panier-pad".into(),
                labels: labels("pad", BOX, ""),
            },
            NetworkInfo {
                name: "panier-gone".into(),
                labels: labels("gone", BOX, ""),
            },
        ];
        assert_eq!(
            names(&teardown(BOX, &app(), &containers, &networks)),
            [
                "remove panier-pad-web Teardown",
                "remove_network panier-pad"
            ]
        );
        let keep = |a: &AppId| a.as_str() == "pad" || a.as_str() == "busy";
        assert_eq!(
            names(&leftovers(BOX, keep, &containers, &networks)),
            [
                "remove panier-gone-web Leftover",
                "remove_network panier-gone"
            ]
        );
    }

    #[test]
    fn each_phase_a_crash_leaves_has_its_resumption() {
        use Phase::*;
        let cases = [
            (Installed, true, true, Resume::Nothing),
            (Installing, true, false, Resume::CompleteInstall),
            (Installing, false, false, Resume::RollBackInstall),
            (Updating, true, true, Resume::ContinueUpdate),
            (Updating, true, false, Resume::AbandonUpdate),
            (Updating, false, true, Resume::AbandonUpdate),
            (Removing, false, false, Resume::CompleteRemoval),
        ];
        for (phase, m, prev, want) in cases {
            assert_eq!(resume(phase, m, prev), want, "{phase:?} {m} {prev}");
        }
    }
}
