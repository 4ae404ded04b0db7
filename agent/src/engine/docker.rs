//! [`Engine`] over the Docker Engine API with bollard, on a unix socket. Works with Docker
//! Engine and with podman's compatible service (bollard puts no API version in the path, so
//! podman answers its compat API).

use super::*;
use bollard::Docker;
use bollard::errors::Error as BError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{
    ContainerCpuStats, ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters as q;
use futures_util::StreamExt;
use std::collections::HashMap;

pub struct DockerEngine {
    client: std::sync::Mutex<Option<Docker>>,
    url: String,
    podman: tokio::sync::OnceCell<bool>,
}

impl DockerEngine {
    /// Connects lazily: nothing is sent until the first call, so the daemon starts even when
    /// the engine is down.
    pub fn new(url: &str) -> Result<DockerEngine, EngineError> {
        Ok(DockerEngine {
            client: std::sync::Mutex::new(None),
            url: url.to_owned(),
            podman: tokio::sync::OnceCell::new(),
        })
    }

    /// The client, made on first use (bollard checks that the socket exists when it is made).
    fn docker(&self) -> Result<Docker, EngineError> {
        let mut client = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = &*client {
            return Ok(d.clone());
        }
        let d = Docker::connect_with_unix(&self.url, 120, bollard::API_DEFAULT_VERSION).map_err(
            |e| EngineError::Unreachable {
                url: self.url.clone(),
                message: e.to_string(),
            },
        )?;
        *client = Some(d.clone());
        Ok(d)
    }

    /// Removes every network named `name` but the one with the most containers attached.
    async fn dedupe_network(&self, name: &str) -> Result<(), EngineError> {
        let opts = q::ListNetworksOptions {
            filters: Some(HashMap::from([("name".to_owned(), vec![name.to_owned()])])),
        };
        let listed = self
            .docker()?
            .list_networks(Some(opts))
            .await
            .map_err(self.err("list", "networks"))?;
        let mut same = Vec::new();
        for id in listed
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| n.id)
        {
            let attached = self
                .docker()?
                .inspect_network(&id, None::<q::InspectNetworkOptions>)
                .await
                .map_err(self.err("inspect the network", name))?
                .containers
                .map_or(0, |c| c.len());
            same.push((attached, id));
        }
        same.sort_by_key(|(attached, _)| std::cmp::Reverse(*attached));
        for (_, extra) in same.iter().skip(1) {
            log::warn!("removing a second network named {name} ({extra})");
            self.docker()?
                .remove_network(extra)
                .await
                .map_err(self.err("remove the network", name))?;
        }
        Ok(())
    }

    fn err(&self, op: &'static str, object: &str) -> impl Fn(BError) -> EngineError + '_ {
        let object = object.to_owned();
        move |e| match e {
            BError::DockerResponseServerError {
                status_code: 404,
                message,
            } => EngineError::NotFound {
                what: format!("{object} ({message})"),
            },
            BError::DockerResponseServerError { message, .. } => EngineError::Refused {
                op,
                object: object.clone(),
                message,
            },
            BError::DockerContainerWaitError { error, .. } => EngineError::Refused {
                op,
                object: object.clone(),
                message: error,
            },
            BError::JsonDataError { message, .. } => EngineError::Refused {
                op,
                object: object.clone(),
                message,
            },
            other => EngineError::Unreachable {
                url: self.url.clone(),
                message: other.to_string(),
            },
        }
    }

    async fn is_podman(&self) -> bool {
        *self
            .podman
            .get_or_init(|| async {
                let Ok(docker) = self.docker() else {
                    return false;
                };
                match docker.version().await {
                    Ok(v) => v
                        .components
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.name.to_lowercase().contains("podman")),
                    Err(_) => false,
                }
            })
            .await
    }
}

fn label_filter(label: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![label.to_owned()])])
}

/// `key` or `key=value` → `key`.
fn label_key(label: &str) -> &str {
    label.split('=').next().unwrap_or(label)
}

fn to_btree(m: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    m.unwrap_or_default().into_iter().collect()
}

#[async_trait::async_trait]
impl Engine for DockerEngine {
    async fn info(&self) -> Result<EngineInfo, EngineError> {
        let v = self
            .docker()?
            .version()
            .await
            .map_err(self.err("read the version of", "the engine"))?;
        let podman = v
            .components
            .unwrap_or_default()
            .iter()
            .any(|c| c.name.to_lowercase().contains("podman"));
        let _ = self.podman.set(podman);
        Ok(EngineInfo {
            name: if podman {
                "podman".into()
            } else {
                "docker".into()
            },
            version: v.version.unwrap_or_default(),
            runs_health_checks: !podman,
        })
    }

    async fn image_present(&self, image: &str) -> Result<bool, EngineError> {
        match self.docker()?.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(BError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(self.err("inspect", image)(e)),
        }
    }

    async fn pull(&self, image: &str, progress: ProgressFn<'_>) -> Result<(), EngineError> {
        let opts = q::CreateImageOptions {
            from_image: Some(image.to_owned()),
            ..Default::default()
        };
        let mut stream = self.docker()?.create_image(Some(opts), None, None);
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(self.err("pull", image))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Refused {
                    op: "pull",
                    object: image.to_owned(),
                    message: e,
                });
            }
            if let (Some(id), Some(d)) = (info.id, info.progress_detail) {
                let entry = layers.entry(id).or_default();
                if let Some(t) = d.total.filter(|t| *t > 0) {
                    entry.1 = t as u64;
                }
                if let Some(c) = d.current {
                    entry.0 = c as u64;
                }
                let (done, total) = layers
                    .values()
                    .fold((0, 0), |(a, b), (c, t)| (a + c.min(t), b + t));
                progress(PullProgress { done, total });
            }
        }
        Ok(())
    }

    async fn remove_image(&self, image: &str) -> Result<(), EngineError> {
        match self
            .docker()?
            .remove_image(image, None::<q::RemoveImageOptions>, None)
            .await
        {
            Ok(_)
            | Err(BError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self.err("remove the image", image)(e)),
        }
    }

    async fn image_info(&self, image: &str) -> Result<Option<ImageInfo>, EngineError> {
        match self.docker()?.inspect_image(image).await {
            Ok(i) => Ok(Some(ImageInfo {
                id: i.id.unwrap_or_default(),
                repo_digests: i.repo_digests.unwrap_or_default(),
                size_bytes: i.size.unwrap_or(0).max(0) as u64,
            })),
            Err(BError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.err("inspect", image)(e)),
        }
    }

    async fn save_image(
        &self,
        image: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, EngineError> {
        use tokio::io::AsyncWriteExt;
        let mut stream = self.docker()?.export_image(image);
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.err("save", image))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| EngineError::Refused {
                    op: "save",
                    object: image.to_owned(),
                    message: format!("writing the archive: {e}"),
                })?;
            written += chunk.len() as u64;
        }
        out.flush().await.map_err(|e| EngineError::Refused {
            op: "save",
            object: image.to_owned(),
            message: format!("writing the archive: {e}"),
        })?;
        Ok(written)
    }

    async fn load_image(&self, archive: ArchiveStream) -> Result<Vec<String>, EngineError> {
        let opts = q::ImportImageOptions {
            quiet: true,
            ..Default::default()
        };
        let mut stream = self.docker()?.import_image_stream(opts, archive, None);
        let mut loaded = Vec::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(self.err("load", "an image archive"))?;
            if let Some(message) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Refused {
                    op: "load",
                    object: "an image archive".into(),
                    message,
                });
            }
            for line in info.stream.unwrap_or_default().lines() {
                if let Some(what) = line
                    .strip_prefix("Loaded image ID: ")
                    .or_else(|| line.strip_prefix("Loaded image: "))
                {
                    loaded.push(what.trim().to_owned());
                }
            }
        }
        Ok(loaded)
    }

    async fn tag_image(&self, image: &str, repo: &str, tag: &str) -> Result<(), EngineError> {
        let opts = q::TagImageOptions {
            repo: Some(repo.to_owned()),
            tag: Some(tag.to_owned()),
        };
        self.docker()?
            .tag_image(image, Some(opts))
            .await
            .map_err(self.err("tag", image))
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), EngineError> {
        match self
            .docker()?
            .inspect_network(name, None::<q::InspectNetworkOptions>)
            .await
        {
            Ok(_) => return Ok(()),
            Err(BError::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            // Two networks of that name (made by an older agent racing with itself): keep the
            // one its containers use, remove the others.
            Err(BError::DockerResponseServerError { message, .. })
                if message.contains("ambiguous") =>
            {
                return self.dedupe_network(name).await;
            }
            Err(e) => return Err(self.err("inspect the network", name)(e)),
        }
        let req = NetworkCreateRequest {
            name: name.to_owned(),
            driver: Some("bridge".into()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        match self.docker()?.create_network(req).await {
            Ok(_) => Ok(()),
            // Created meanwhile by someone else: fine, it is there.
            Err(BError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(self.err("create the network", name)(e)),
        }
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        match self.docker()?.remove_network(name).await {
            Ok(())
            | Err(BError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(self.err("remove the network", name)(e)),
        }
    }

    async fn networks(&self, label: &str) -> Result<Vec<NetworkInfo>, EngineError> {
        let opts = q::ListNetworksOptions {
            filters: Some(label_filter(label)),
        };
        let list = self
            .docker()?
            .list_networks(Some(opts))
            .await
            .map_err(self.err("list", "networks"))?;
        Ok(list
            .into_iter()
            .map(|n| NetworkInfo {
                name: n.name.unwrap_or_default(),
                labels: to_btree(n.labels),
            })
            .filter(|n| n.labels.contains_key(label_key(label)))
            .collect())
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<(), EngineError> {
        let secs = |s: u64| (s as i64) * 1_000_000_000;
        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &spec.published {
            let key = format!("{}/{}", p.container_port, proto_str(p.proto));
            port_bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .as_mut()
                .unwrap()
                .push(PortBinding {
                    host_ip: None,
                    host_port: Some(p.host_port.to_string()),
                });
        }
        let mut exposed: Vec<String> = spec.ports.iter().map(|p| format!("{p}/tcp")).collect();
        exposed.extend(
            spec.published
                .iter()
                .map(|p| format!("{}/{}", p.container_port, proto_str(p.proto))),
        );
        exposed.sort();
        exposed.dedup();
        let podman = self.is_podman().await;
        let extra_hosts = if podman {
            Some(self.peer_hosts(&spec.network).await?)
        } else {
            None
        };
        let host = HostConfig {
            extra_hosts,
            memory: Some(spec.memory_bytes as i64),
            memory_swap: Some(spec.memory_bytes as i64),
            binds: Some(
                spec.binds
                    .iter()
                    .map(|b| {
                        format!(
                            "{}:{}{}",
                            b.host.display(),
                            b.container,
                            if b.read_only { ":ro" } else { "" }
                        )
                    })
                    .collect(),
            ),
            network_mode: Some(spec.network.clone()),
            port_bindings: Some(port_bindings),
            privileged: Some(false),
            security_opt: Some(vec!["no-new-privileges".into()]),
            // Docker: the rotating `local` driver, so container logs cannot fill the disk
            // whatever the daemon's default; podman keeps its own default (no `local`).
            log_config: if podman {
                None
            } else {
                Some(bollard::models::HostConfigLogConfig {
                    typ: Some("local".into()),
                    config: Some(HashMap::from([
                        ("max-size".to_owned(), "10m".to_owned()),
                        ("max-file".to_owned(), "3".to_owned()),
                    ])),
                })
            },
            ..Default::default()
        };
        let endpoint = EndpointSettings {
            aliases: Some(spec.aliases.clone()),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.command.clone(),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            user: spec.user.clone(),
            labels: Some(spec.labels.clone().into_iter().collect()),
            exposed_ports: Some(exposed),
            stop_timeout: Some(i64::from(spec.stop_timeout_s)),
            healthcheck: spec.health.as_ref().map(|h| HealthConfig {
                test: Some(
                    std::iter::once("CMD".to_owned())
                        .chain(h.command.iter().cloned())
                        .collect(),
                ),
                interval: Some(secs(h.interval_s)),
                timeout: Some(secs(h.timeout_s)),
                retries: Some(h.retries as i64),
                start_period: Some(secs(h.start_period_s)),
                ..Default::default()
            }),
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(spec.network.clone(), endpoint)])),
            }),
            ..Default::default()
        };
        let opts = q::CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        self.docker()?
            .create_container(Some(opts), body)
            .await
            .map_err(self.err("create the container", &spec.name))?;
        Ok(())
    }

    async fn start(&self, name: &str) -> Result<(), EngineError> {
        match self
            .docker()?
            .start_container(name, None::<q::StartContainerOptions>)
            .await
        {
            // 304: already running.
            Ok(())
            | Err(BError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(self.err("start", name)(e)),
        }
    }

    async fn stop(&self, name: &str, timeout_s: u32) -> Result<(), EngineError> {
        let opts = q::StopContainerOptions {
            t: Some(timeout_s as i32),
            signal: None,
        };
        match self.docker()?.stop_container(name, Some(opts)).await {
            Ok(())
            | Err(BError::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(self.err("stop", name)(e)),
        }
    }

    async fn remove(&self, name: &str) -> Result<(), EngineError> {
        let opts = q::RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        match self.docker()?.remove_container(name, Some(opts)).await {
            Ok(())
            | Err(BError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // Already being removed.
            Err(BError::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("in progress") => Ok(()),
            Err(e) => Err(self.err("remove", name)(e)),
        }
    }

    async fn inspect(&self, name: &str) -> Result<Option<ContainerInfo>, EngineError> {
        // Plain JSON, as for `containers`: podman's `stopped` state is not in bollard's enum.
        let c = match self
            .get_json(&format!("/containers/{}/json", percent_encode(name)))
            .await
        {
            Ok(c) => c,
            Err(EngineError::Refused { message, .. })
                if message.contains("no such container")
                    || message.contains("No such container") =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let state = &c["State"];
        let health = match state["Health"]["Status"].as_str().unwrap_or_default() {
            "healthy" => HealthState::Healthy,
            "unhealthy" => HealthState::Unhealthy,
            "starting" => HealthState::Starting,
            _ => HealthState::None,
        };
        let addresses = c["NetworkSettings"]["Networks"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(net, ep)| {
                        ep["IPAddress"]
                            .as_str()
                            .and_then(|a| a.parse().ok())
                            .map(|ip| (net.clone(), ip))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(ContainerInfo {
            name: c["Name"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            labels: c["Config"]["Labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default(),
            running: state["Running"].as_bool().unwrap_or(false),
            status: state["Status"].as_str().unwrap_or_default().to_owned(),
            exit_code: state["ExitCode"].as_i64(),
            health,
            oom_killed: state["OOMKilled"].as_bool().unwrap_or(false),
            addresses,
        }))
    }

    async fn containers(&self, label: &str) -> Result<Vec<ContainerInfo>, EngineError> {
        // Read as plain JSON: podman 4.3 reports states (`stopped`) that bollard's typed
        // summary cannot decode.
        let filters = serde_json::to_string(&label_filter(label)).expect("JSON");
        let path = format!(
            "/containers/json?all=true&filters={}",
            percent_encode(&filters)
        );
        let list = self.get_json(&path).await?;
        Ok(list
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let state = c["State"].as_str().unwrap_or_default().to_owned();
                let labels = c["Labels"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                ContainerInfo {
                    name: c["Names"]
                        .as_array()
                        .and_then(|n| n.first())
                        .and_then(|n| n.as_str())
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_owned(),
                    labels,
                    running: state == "running",
                    status: state,
                    exit_code: None,
                    health: HealthState::None,
                    oom_killed: false,
                    addresses: BTreeMap::new(),
                }
            })
            .filter(|c| c.labels.contains_key(label_key(label)))
            .collect())
    }

    async fn logs(&self, name: &str, tail: usize) -> Result<Vec<String>, EngineError> {
        let opts = q::LogsOptions {
            stdout: true,
            stderr: true,
            tail: tail.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker()?.logs(name, Some(opts));
        let mut text = String::new();
        while let Some(item) = stream.next().await {
            text.push_str(
                &item
                    .map_err(self.err("read the logs of", name))?
                    .to_string(),
            );
        }
        Ok(text.lines().map(str::to_owned).collect())
    }

    async fn exec_as(
        &self,
        name: &str,
        argv: &[String],
        user: Option<&str>,
        env: &BTreeMap<String, String>,
    ) -> Result<ExecOutput, EngineError> {
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let opts = CreateExecOptions {
            cmd: Some(argv.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            user: user.map(str::to_owned),
            env: (!env.is_empty()).then_some(env),
            ..Default::default()
        };
        let exec = self
            .docker()?
            .create_exec(name, opts)
            .await
            .map_err(self.err("run a command in", name))?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut out, ..
        } = self
            .docker()?
            .start_exec(&exec.id, None)
            .await
            .map_err(self.err("run a command in", name))?
        {
            while let Some(item) = out.next().await {
                output.push_str(
                    &item
                        .map_err(self.err("run a command in", name))?
                        .to_string(),
                );
            }
        }
        let inspect = self
            .docker()?
            .inspect_exec(&exec.id)
            .await
            .map_err(self.err("run a command in", name))?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            output,
        })
    }

    async fn usage(&self, name: &str) -> Result<Usage, EngineError> {
        // Not one-shot: the engine then samples twice, a second apart, and fills
        // `precpu_stats`, which the processor share needs. podman 4.3 ignores `one_shot`.
        let opts = q::StatsOptions {
            stream: false,
            one_shot: false,
        };
        let mut stream = self.docker()?.stats(name, Some(opts));
        match tokio::time::timeout(std::time::Duration::from_secs(4), stream.next()).await {
            Ok(Some(Ok(s))) => Ok(Usage {
                memory_bytes: s.memory_stats.and_then(|m| m.usage),
                cpu_percent: cpu_percent(s.cpu_stats.as_ref(), s.precpu_stats.as_ref()),
            }),
            _ => Ok(Usage::default()),
        }
    }

    fn events(&self, label: &str) -> BoxStream<'static, Result<EngineEvent, EngineError>> {
        // The label is matched here, not by the engine: podman 4.3's compatible API only
        // honours `key=value` label filters, and a bare key (what we ask for) silently
        // matches nothing, so the reconciler never heard about containers killed or removed
        // by hand on podman.
        let filters = HashMap::from([("type".to_owned(), vec!["container".to_owned()])]);
        let label = label.to_owned();
        let url = self.url.clone();
        let docker = match self.docker() {
            Ok(d) => d,
            Err(e) => return futures_util::stream::once(async move { Err(e) }).boxed(),
        };
        docker
            .events(Some(q::EventsOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .filter_map(move |e| {
                let item = match e {
                    Ok(m) => event_of(
                        &label,
                        m.actor.and_then(|a| a.attributes).unwrap_or_default(),
                        m.action.unwrap_or_default(),
                    )
                    .map(Ok),
                    Err(e) => Some(Err(EngineError::Unreachable {
                        url: url.clone(),
                        message: e.to_string(),
                    })),
                };
                std::future::ready(item)
            })
            .boxed()
    }
}

/// The event for a container whose labels (in the event's attributes, on both engines) carry
/// `label` (`key` or `key=value`), in Docker's words: podman says `remove` for `destroy`.
fn event_of(label: &str, attrs: HashMap<String, String>, action: String) -> Option<EngineEvent> {
    let matches = match label.split_once('=') {
        Some((k, v)) => attrs.get(k).is_some_and(|a| a == v),
        None => attrs.contains_key(label),
    };
    if !matches {
        return None;
    }
    let action = if action == "remove" {
        "destroy".to_owned()
    } else {
        action
    };
    Some(EngineEvent {
        container: attrs.get("name").cloned().unwrap_or_default(),
        action,
        labels: attrs.into_iter().collect(),
    })
}

fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl DockerEngine {
    /// `alias:ip` for every container already on `network`. Podman 4.3 on CNI without the
    /// dnsname plugin gives no name resolution on a network, so containers started later
    /// (the manifest's start order) find earlier ones through /etc/hosts instead.
    async fn peer_hosts(&self, network: &str) -> Result<Vec<String>, EngineError> {
        let filters =
            serde_json::to_string(&HashMap::from([("network", vec![network])])).expect("JSON");
        let list = self
            .get_json(&format!(
                "/containers/json?filters={}",
                percent_encode(&filters)
            ))
            .await?;
        let mut hosts = Vec::new();
        for c in list.as_array().into_iter().flatten() {
            let Some(id) = c["Id"].as_str() else { continue };
            let detail = self.get_json(&format!("/containers/{id}/json")).await?;
            let ep = &detail["NetworkSettings"]["Networks"][network];
            if let Some(ip) = ep["IPAddress"].as_str().filter(|ip| !ip.is_empty()) {
                for alias in ep["Aliases"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str())
                {
                    hosts.push(format!("{alias}:{ip}"));
                }
            }
        }
        Ok(hosts)
    }

    /// GET `path` on the engine's socket and decode the JSON answer, without bollard's types.
    async fn get_json(&self, path: &str) -> Result<serde_json::Value, EngineError> {
        use http_body_util::{BodyExt, Empty};
        let unreachable = |m: String| EngineError::Unreachable {
            url: self.url.clone(),
            message: m,
        };
        let socket = self.url.trim_start_matches("unix://");
        let stream = tokio::net::UnixStream::connect(socket)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(conn);
        let req = hyper::Request::get(path)
            .header("host", "engine")
            .body(Empty::<hyper::body::Bytes>::new())
            .expect("valid request");
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        if status == hyper::StatusCode::NOT_FOUND {
            return Err(EngineError::Refused {
                op: "find",
                object: path.to_owned(),
                message: format!("no such container: {}", String::from_utf8_lossy(&body)),
            });
        }
        if !status.is_success() {
            return Err(EngineError::Refused {
                op: "answer",
                object: path.to_owned(),
                message: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        serde_json::from_slice(&body).map_err(|e| EngineError::Refused {
            op: "decode",
            object: path.to_owned(),
            message: e.to_string(),
        })
    }
}

fn proto_str(p: Proto) -> &'static str {
    match p {
        Proto::Tcp => "tcp",
        Proto::Udp => "udp",
    }
}

/// The container's share of the whole box's processor time between two samples, as
/// `docker stats` computes it but not multiplied by the number of cores (0–100 here).
fn cpu_percent(now: Option<&ContainerCpuStats>, before: Option<&ContainerCpuStats>) -> Option<f64> {
    let (now, before) = (now?, before?);
    let used = now
        .cpu_usage
        .as_ref()?
        .total_usage?
        .checked_sub(before.cpu_usage.as_ref()?.total_usage?)?;
    let system = now
        .system_cpu_usage?
        .checked_sub(before.system_cpu_usage?)?;
    (system > 0).then(|| (used as f64 / system as f64 * 100.0).min(100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_matched_on_labels_here_and_told_in_dockers_words() {
        let attrs = |l: &[(&str, &str)]| {
            l.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let ours = attrs(&[
            ("name", "panier-pad-web"),
            ("org.panier.app", "pad"),
            ("image", "x"),
        ]);
        let e = event_of("org.panier.app", ours.clone(), "remove".into()).unwrap();
        assert_eq!(
            (e.container.as_str(), e.action.as_str()),
            ("panier-pad-web", "destroy")
        );
        assert_eq!(
            event_of("org.panier.app", ours.clone(), "die".into())
                .unwrap()
                .action,
            "die"
        );
        assert!(event_of("org.panier.app=pad", ours.clone(), "die".into()).is_some());
        assert!(event_of("org.panier.app=wiki", ours, "die".into()).is_none());
        assert!(event_of("org.panier.app", attrs(&[("name", "other")]), "die".into()).is_none());
    }
}
