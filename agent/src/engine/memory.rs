//! An engine held in memory, for unit tests of the reconciler's decisions and of the jobs
//! (install, update, remove, resume): it implements [`Engine`] as the real one does at its
//! boundary (containers need their network and image, starting sets "running", removing
//! something absent is fine, labels are filtered as `key` or `key=value`), records every
//! call that changes something, and can be told to fail a start, to be down, or to have a
//! container crash. Never a stand-in for the real engine in a test of the engine itself:
//! the system tests (`tests/tests/services.rs`, …) run the same jobs against dockerd.

use super::{
    ArchiveStream, ContainerInfo, ContainerSpec, Engine, EngineError, EngineEvent, EngineInfo,
    ExecOutput, HealthState, ImageInfo, NetworkInfo, ProgressFn, Usage,
};
use futures_util::stream::{self, BoxStream, StreamExt};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryEngine {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    containers: BTreeMap<String, ContainerInfo>,
    networks: BTreeMap<String, NetworkInfo>,
    images: BTreeSet<String>,
    /// Names whose next starts fail (the count left).
    failing_starts: BTreeMap<String, usize>,
    /// Images the "registry" does not have.
    unpullable: BTreeSet<String>,
    down: bool,
    calls: Vec<String>,
    next_address: u8,
}

fn labelled(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(filter),
    }
}

impl MemoryEngine {
    pub fn new() -> MemoryEngine {
        MemoryEngine::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Makes `image` present, as a pull or a load would.
    pub fn add_image(&self, image: &str) {
        self.with(|s| s.images.insert(image.to_owned()));
    }

    /// The registry has no such image: a pull fails as dockerd says it.
    pub fn unpullable(&self, image: &str) {
        self.with(|s| s.unpullable.insert(image.to_owned()));
    }

    /// The next `times` starts of `name` fail.
    pub fn fail_starts(&self, name: &str, times: usize) {
        self.with(|s| s.failing_starts.insert(name.to_owned(), times));
    }

    pub fn set_down(&self, down: bool) {
        self.with(|s| s.down = down);
    }

    /// Puts a container there as someone else would (any labels, stopped).
    pub fn put(&self, name: &str, labels: BTreeMap<String, String>) {
        self.with(|s| {
            s.containers.insert(
                name.to_owned(),
                ContainerInfo {
                    name: name.to_owned(),
                    labels,
                    running: false,
                    status: "created".into(),
                    exit_code: None,
                    health: HealthState::None,
                    oom_killed: false,
                    addresses: BTreeMap::new(),
                },
            )
        });
    }

    /// Puts a network there as someone else would.
    pub fn put_network(&self, name: &str, labels: BTreeMap<String, String>) {
        self.with(|s| {
            s.networks.insert(
                name.to_owned(),
                NetworkInfo {
                    name: name.to_owned(),
                    labels,
                },
            )
        });
    }

    /// Changes a label of a container, as an older version of the agent would have set it.
    pub fn relabel(&self, name: &str, key: &str, value: &str) {
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(name) {
                c.labels.insert(key.to_owned(), value.to_owned());
            }
        });
    }

    /// The container stops by itself with `code` (killed for memory when `oom`).
    pub fn crash(&self, name: &str, code: i64, oom: bool) {
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(name) {
                c.running = false;
                c.status = "exited".into();
                c.exit_code = Some(code);
                c.oom_killed = oom;
            }
        });
    }

    pub fn container(&self, name: &str) -> Option<ContainerInfo> {
        self.with(|s| s.containers.get(name).cloned())
    }

    pub fn container_names(&self) -> Vec<String> {
        self.with(|s| s.containers.keys().cloned().collect())
    }

    pub fn network_names(&self) -> Vec<String> {
        self.with(|s| s.networks.keys().cloned().collect())
    }

    /// The calls that changed something, as `verb name`, in order; cleared by the read.
    pub fn take_calls(&self) -> Vec<String> {
        self.with(|s| std::mem::take(&mut s.calls))
    }

    fn up(&self) -> Result<(), EngineError> {
        if self.with(|s| s.down) {
            Err(EngineError::Unreachable {
                url: "memory".into(),
                message: "down for the test".into(),
            })
        } else {
            Ok(())
        }
    }

    fn call(&self, what: String) -> Result<(), EngineError> {
        self.up()?;
        self.with(|s| s.calls.push(what));
        Ok(())
    }
}

#[async_trait::async_trait]
impl Engine for MemoryEngine {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        self.up()?;
        Ok(EngineInfo {
            name: "memory".into(),
            version: "0".into(),
            runs_health_checks: true,
        })
    }

    async fn image_present(&self, image: &str) -> Result<bool, EngineError> {
        self.up()?;
        Ok(self.with(|s| s.images.contains(image)))
    }

    async fn pull(&self, image: &str, _progress: ProgressFn<'_>) -> Result<(), EngineError> {
        self.call(format!("pull {image}"))?;
        self.with(|s| {
            if s.unpullable.contains(image) {
                Err(EngineError::Refused {
                    op: "pull",
                    object: image.to_owned(),
                    message: format!("manifest for {image} not found: manifest unknown"),
                })
            } else {
                s.images.insert(image.to_owned());
                Ok(())
            }
        })
    }

    async fn remove_image(&self, image: &str) -> Result<(), EngineError> {
        self.call(format!("remove_image {image}"))?;
        self.with(|s| s.images.remove(image));
        Ok(())
    }

    async fn image_info(&self, image: &str) -> Result<Option<ImageInfo>, EngineError> {
        self.up()?;
        Ok(self.with(|s| s.images.contains(image)).then(|| ImageInfo {
            id: format!("sha256:{image}"),
            repo_digests: Vec::new(),
            size_bytes: 0,
        }))
    }

    async fn save_image(
        &self,
        image: &str,
        _out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, EngineError> {
        Err(EngineError::Refused {
            op: "save",
            object: image.to_owned(),
            message: "the memory engine has no image files".into(),
        })
    }

    async fn load_image(&self, _archive: ArchiveStream) -> Result<Vec<String>, EngineError> {
        Err(EngineError::Refused {
            op: "load",
            object: "an archive".into(),
            message: "the memory engine has no image files".into(),
        })
    }

    async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<(), EngineError> {
        self.call(format!("tag {image} {repo}:{tag}"))?;
        self.with(|s| s.images.insert(format!("{repo}:{tag}")));
        Ok(())
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        self.up()?;
        if self.with(|s| s.networks.contains_key(name)) {
            return Ok(());
        }
        self.call(format!("create_network {name}"))?;
        self.put_network(name, labels.clone());
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.call(format!("remove_network {name}"))?;
        self.with(|s| s.networks.remove(name));
        Ok(())
    }

    async fn networks(&self, label: &str) -> Result<Vec<NetworkInfo>, EngineError> {
        self.up()?;
        Ok(self.with(|s| {
            s.networks
                .values()
                .filter(|n| labelled(&n.labels, label))
                .cloned()
                .collect()
        }))
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<(), EngineError> {
        self.call(format!("create {}", spec.name))?;
        self.with(|s| {
            let refuse = |message: &str| EngineError::Refused {
                op: "create",
                object: spec.name.clone(),
                message: message.to_owned(),
            };
            if s.containers.contains_key(&spec.name) {
                return Err(refuse("the name is in use"));
            }
            if !s.networks.contains_key(&spec.network) {
                return Err(EngineError::NotFound {
                    what: format!("the network {}", spec.network),
                });
            }
            if !s.images.contains(&spec.image) {
                return Err(EngineError::NotFound {
                    what: format!("the image {}", spec.image),
                });
            }
            s.next_address = s.next_address.wrapping_add(1);
            let ip = IpAddr::V4(Ipv4Addr::new(172, 30, 0, s.next_address));
            s.containers.insert(
                spec.name.clone(),
                ContainerInfo {
                    name: spec.name.clone(),
                    labels: spec.labels.clone(),
                    running: false,
                    status: "created".into(),
                    exit_code: None,
                    health: HealthState::None,
                    oom_killed: false,
                    addresses: BTreeMap::from([(spec.network.clone(), ip)]),
                },
            );
            Ok(())
        })
    }

    async fn start(&self, name: &str) -> Result<(), EngineError> {
        self.call(format!("start {name}"))?;
        self.with(|s| {
            if let Some(n) = s.failing_starts.get_mut(name)
                && *n > 0
            {
                *n -= 1;
                return Err(EngineError::Refused {
                    op: "start",
                    object: name.to_owned(),
                    message: "network not found (the test said so)".into(),
                });
            }
            let c = s
                .containers
                .get_mut(name)
                .ok_or_else(|| EngineError::NotFound {
                    what: format!("the container {name}"),
                })?;
            c.running = true;
            c.status = "running".into();
            c.exit_code = None;
            c.oom_killed = false;
            Ok(())
        })
    }

    async fn stop(&self, name: &str, _timeout_s: u32) -> Result<(), EngineError> {
        self.call(format!("stop {name}"))?;
        self.with(|s| {
            if let Some(c) = s.containers.get_mut(name) {
                c.running = false;
                c.status = "exited".into();
                c.exit_code = Some(0);
            }
        });
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), EngineError> {
        self.call(format!("remove {name}"))?;
        self.with(|s| s.containers.remove(name));
        Ok(())
    }

    async fn inspect(&self, name: &str) -> Result<Option<ContainerInfo>, EngineError> {
        self.up()?;
        Ok(self.container(name))
    }

    async fn containers(&self, label: &str) -> Result<Vec<ContainerInfo>, EngineError> {
        self.up()?;
        Ok(self.with(|s| {
            s.containers
                .values()
                .filter(|c| labelled(&c.labels, label))
                .cloned()
                .collect()
        }))
    }

    async fn logs(&self, _name: &str, _tail: usize) -> Result<Vec<String>, EngineError> {
        self.up()?;
        Ok(vec!["(no logs in memory)".into()])
    }

    async fn exec_as(
        &self,
        name: &str,
        argv: &[String],
        _user: Option<&str>,
        _env: &BTreeMap<String, String>,
    ) -> Result<ExecOutput, EngineError> {
        self.call(format!("exec {name} {}", argv.join(" ")))?;
        Ok(ExecOutput {
            exit_code: 0,
            output: String::new(),
        })
    }

    async fn usage(&self, _name: &str) -> Result<Usage, EngineError> {
        self.up()?;
        Ok(Usage::default())
    }

    fn events(&self, _label: &str) -> BoxStream<'static, Result<EngineEvent, EngineError>> {
        stream::pending().boxed()
    }
}
