//! Manifest + settings + secrets → container specs: a pure function, tested against golden
//! files in `agent/testdata/specs/`. Also the checking of settings typed by an admin and the
//! generation of secrets.
//!
//! Names and labels decided here are what the reconciler recognises objects by:
//! network `panier-<app>`, containers `panier-<app>-<container>`, each labelled
//! `org.panier.app`, `org.panier.container`, `org.panier.version`, `org.panier.box` (this
//! agent's instance) and `org.panier.spec` (a hash of the spec: when it changes, the
//! container is recreated).

use crate::catalog::manifest::{Alphabet, Manifest, SettingType};
use crate::catalog::{AppId, start_order};
use crate::engine::{Bind, ContainerSpec, HealthSpec, PortSpec};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const LABEL_APP: &str = "org.panier.app";
pub const LABEL_CONTAINER: &str = "org.panier.container";
pub const LABEL_VERSION: &str = "org.panier.version";
pub const LABEL_SPEC: &str = "org.panier.spec";
/// The box (agent instance) that owns the object: an agent only ever touches its own.
pub const LABEL_BOX: &str = "org.panier.box";

pub fn network_name(app: &AppId) -> String {
    format!("panier-{app}")
}

pub fn container_name(app: &AppId, container: &str) -> String {
    format!("panier-{app}-{container}")
}

/// `<data_dir>/apps/<app>`: everything of a service on the host lives below it.
pub fn app_dir(data_dir: &Path, app: &AppId) -> PathBuf {
    data_dir.join("apps").join(app.as_str())
}

pub fn volume_dir(data_dir: &Path, app: &AppId, volume: &str) -> PathBuf {
    app_dir(data_dir, app).join("volumes").join(volume)
}

/// What the specs depend on besides the manifest.
pub struct SpecInputs<'a> {
    pub data_dir: &'a Path,
    /// `<app>-<box>.local`
    pub domain: &'a str,
    pub settings: &'a BTreeMap<String, String>,
    pub secrets: &'a BTreeMap<String, String>,
    /// False on engines that cannot run health checks (podman without systemd).
    pub health_checks: bool,
    /// This agent's instance id (label `org.panier.box`).
    pub instance: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppSpec {
    pub network: String,
    pub network_labels: BTreeMap<String, String>,
    /// In start order.
    pub containers: Vec<ContainerSpec>,
    /// Host directories to create, with their owner (`uid:gid`) if any.
    pub volume_dirs: Vec<(PathBuf, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("the placeholder {{{{{0}}}}} has no value")]
    MissingValue(String),
    #[error("the containers' start order has a cycle through '{0}'")]
    Cycle(String),
}

/// `value` with its placeholders replaced.
pub fn fill(value: &str, inputs: &SpecInputs<'_>, app: &AppId) -> Result<String, SpecError> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| SpecError::MissingValue(after.to_owned()))?;
        let key = after[..end].trim();
        let v = match key.split_once('.') {
            Some(("setting", n)) => inputs.settings.get(n).cloned(),
            Some(("secret", n)) => inputs.secrets.get(n).cloned(),
            Some(("app", "id")) => Some(app.to_string()),
            Some(("app", "domain")) => Some(inputs.domain.to_owned()),
            Some(("app", "url")) => Some(format!("https://{}", inputs.domain)),
            _ => None,
        };
        out.push_str(&v.ok_or_else(|| SpecError::MissingValue(key.to_owned()))?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The specs of every container of `m`, in start order.
pub fn app_spec(m: &Manifest, inputs: &SpecInputs<'_>) -> Result<AppSpec, SpecError> {
    let app = &m.id;
    let network = network_name(app);
    let order = start_order(m).map_err(SpecError::Cycle)?;
    let mut containers = Vec::new();
    for c in order {
        let mut env = BTreeMap::new();
        for (k, v) in &c.environment {
            env.insert(k.clone(), fill(v, inputs, app)?);
        }
        let mut labels = BTreeMap::from([
            (LABEL_APP.to_owned(), app.to_string()),
            (LABEL_CONTAINER.to_owned(), c.name.clone()),
            (LABEL_VERSION.to_owned(), m.version.clone()),
            (LABEL_BOX.to_owned(), inputs.instance.to_owned()),
        ]);
        let mut spec = ContainerSpec {
            name: container_name(app, &c.name),
            image: c.image.clone(),
            entrypoint: c.entrypoint.clone(),
            command: c.command.clone(),
            env,
            user: c.user.clone(),
            labels: labels.clone(),
            network: network.clone(),
            aliases: vec![c.name.clone()],
            binds: c
                .mounts
                .iter()
                .map(|mnt| Bind {
                    host: volume_dir(inputs.data_dir, app, &mnt.volume),
                    container: mnt.path.clone(),
                    read_only: mnt.read_only,
                })
                .collect(),
            memory_bytes: c.memory_mb * 1024 * 1024,
            ports: c.ports.clone(),
            published: m
                .publish
                .iter()
                .filter(|p| p.container == c.name)
                .map(|p| PortSpec {
                    proto: p.proto,
                    host_port: p.host_port,
                    container_port: p.port,
                })
                .collect(),
            health: c
                .health
                .as_ref()
                .filter(|_| inputs.health_checks)
                .map(|h| HealthSpec {
                    command: h.command.clone(),
                    interval_s: h.interval_s,
                    timeout_s: h.timeout_s,
                    retries: h.retries,
                    start_period_s: h.start_period_s,
                }),
            stop_timeout_s: c.stop_grace_s,
        };
        labels.insert(LABEL_SPEC.to_owned(), spec_hash(&spec));
        spec.labels = labels;
        containers.push(spec);
    }
    Ok(AppSpec {
        network_labels: BTreeMap::from([
            (LABEL_APP.to_owned(), app.to_string()),
            (LABEL_BOX.to_owned(), inputs.instance.to_owned()),
        ]),
        network,
        containers,
        volume_dirs: m
            .volumes
            .iter()
            .map(|v| (volume_dir(inputs.data_dir, app, &v.name), v.owner.clone()))
            .collect(),
    })
}

/// A short hash of everything in a spec (before the hash label is added).
fn spec_hash(spec: &ContainerSpec) -> String {
    let json = serde_json::to_vec(spec).expect("specs serialize");
    hex::encode(&sha2::Sha256::digest(&json)[..8])
}

/// A setting typed by an admin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting '{name}': {problem}")]
pub struct SettingError {
    pub name: String,
    /// The problem in English (the API's message).
    pub problem: String,
    /// A stable key for the problem (`required`, `too_long`…) and its values, so that the
    /// admin UI can say it in the admin's language next to the field.
    pub key: &'static str,
    pub args: Vec<(&'static str, String)>,
}

/// Checks the settings an admin gave against the manifest's typed settings, fills in
/// defaults, and returns every setting's value as text (booleans `true`/`false`).
pub fn resolve_settings(
    m: &Manifest,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, SettingError> {
    let err = |name: &str,
               key: &'static str,
               args: Vec<(&'static str, String)>,
               problem: String| SettingError {
        name: name.to_owned(),
        problem,
        key,
        args,
    };
    for k in given.keys() {
        if !m.settings.iter().any(|s| &s.name == k) {
            let known: Vec<&str> = m.settings.iter().map(|s| s.name.as_str()).collect();
            return Err(err(
                k,
                "unknown",
                vec![],
                format!(
                    "this service has no such setting (it has: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    let mut out = BTreeMap::new();
    for s in &m.settings {
        let value = match (
            given
                .get(&s.name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty()),
            &s.default,
        ) {
            (Some(v), _) => v.to_owned(),
            (None, Some(toml::Value::String(d))) => d.clone(),
            (None, Some(toml::Value::Boolean(b))) => b.to_string(),
            (None, Some(toml::Value::Integer(n))) => n.to_string(),
            (None, _) if s.kind == SettingType::Boolean => "false".into(),
            (None, _) if s.required => {
                return Err(err(&s.name, "required", vec![], "is required".into()));
            }
            (None, _) => String::new(),
        };
        if value.chars().any(char::is_control) {
            return Err(err(
                &s.name,
                "control",
                vec![],
                "contains control characters".into(),
            ));
        }
        match s.kind {
            SettingType::String | SettingType::Password => {
                let max = s.max_length.unwrap_or(200);
                if value.chars().count() > max {
                    return Err(err(
                        &s.name,
                        "too_long",
                        vec![("max", max.to_string())],
                        format!("is longer than {max} characters"),
                    ));
                }
                if s.kind == SettingType::Password
                    && !value.is_empty()
                    && value.chars().count() < 10
                {
                    return Err(err(
                        &s.name,
                        "password_short",
                        vec![],
                        "a password needs at least 10 characters".into(),
                    ));
                }
            }
            SettingType::Boolean => {
                let b = match value.as_str() {
                    "true" | "on" | "yes" | "1" => "true",
                    "false" | "off" | "no" | "0" => "false",
                    _ => {
                        return Err(err(
                            &s.name,
                            "not_boolean",
                            vec![("value", value.clone())],
                            format!("'{value}' is not yes or no (true/false)"),
                        ));
                    }
                };
                out.insert(s.name.clone(), b.to_owned());
                continue;
            }
            SettingType::Choice => {
                let choices = s.choices.clone().unwrap_or_default();
                if !choices.contains(&value) {
                    return Err(err(
                        &s.name,
                        "not_a_choice",
                        vec![("value", value.clone()), ("choices", choices.join(", "))],
                        format!("'{value}' is not one of: {}", choices.join(", ")),
                    ));
                }
            }
            SettingType::Number => {
                let n: i64 = value.parse().map_err(|_| {
                    err(
                        &s.name,
                        "not_a_number",
                        vec![("value", value.clone())],
                        format!("'{value}' is not a whole number"),
                    )
                })?;
                if s.min.is_some_and(|lo| n < lo) || s.max.is_some_and(|hi| n > hi) {
                    let (lo, hi) = (
                        s.min.map(|v| v.to_string()).unwrap_or_default(),
                        s.max.map(|v| v.to_string()).unwrap_or_default(),
                    );
                    let problem = format!("{n} is outside {lo}..{hi}");
                    return Err(err(
                        &s.name,
                        "out_of_range",
                        vec![("value", n.to_string()), ("min", lo), ("max", hi)],
                        problem,
                    ));
                }
            }
        }
        out.insert(s.name.clone(), value);
    }
    Ok(out)
}

/// Generates the secrets the manifest declares that `kept` does not already hold.
pub fn new_secrets(m: &Manifest, kept: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    use rand::Rng;
    let mut rng = rand::rng();
    m.secrets
        .iter()
        .filter(|s| !kept.contains_key(&s.name))
        .map(|s| {
            let alphabet: &[u8] = match s.alphabet {
                Alphabet::Alphanumeric => {
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                }
                Alphabet::Hex => b"0123456789abcdef",
            };
            let v: String = (0..s.length)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
                .collect();
            (s.name.clone(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::parse_manifest;

    /// Each `agent/testdata/specs/<name>.toml` (a manifest plus `[test]` settings/secrets
    /// tables) renders exactly `<name>.json`. Set PANIER_BLESS=1 to rewrite the goldens.
    #[test]
    fn golden_specs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/specs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let (manifest_text, test_text) = text
                .split_once("#--- test inputs\n")
                .expect("a `#--- test inputs` line");
            let m = parse_manifest(&path, manifest_text).unwrap_or_else(|e| panic!("{e:?}"));
            let inputs: toml::Table = toml::from_str(test_text).unwrap();
            let map = |k: &str| -> BTreeMap<String, String> {
                inputs
                    .get(k)
                    .and_then(|t| t.as_table())
                    .map(|t| {
                        t.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let settings = resolve_settings(&m, &map("settings")).unwrap();
            let secrets = map("secrets");
            let spec = app_spec(
                &m,
                &SpecInputs {
                    data_dir: Path::new("/var/lib/panier"),
                    domain: "pad-biblio.local",
                    settings: &settings,
                    secrets: &secrets,
                    health_checks: true,
                    instance: "b0x",
                },
            )
            .unwrap();
            let json = serde_json::to_string_pretty(&spec).unwrap() + "\n";
            let golden = path.with_extension("json");
            if std::env::var_os("PANIER_BLESS").is_some() {
                std::fs::write(&golden, &json).unwrap();
            }
            assert_eq!(
                json,
                std::fs::read_to_string(&golden).unwrap_or_default(),
                "{} differs from its golden file (PANIER_BLESS=1 to accept)",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 2);
    }

    #[test]
    fn settings_are_typed() {
        let m = parse_manifest(
            Path::new("t.toml"),
            include_str!("../../testdata/specs/two-containers.toml")
                .split("#---")
                .next()
                .unwrap(),
        )
        .unwrap();
        let given = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        let ok = resolve_settings(&m, &given(&[("title", "Ma bibliothèque")])).unwrap();
        assert_eq!(ok["public"], "false");
        assert_eq!(ok["workers"], "2");
        assert!(
            resolve_settings(&m, &given(&[]))
                .unwrap_err()
                .to_string()
                .contains("'title': is required")
        );
        assert!(
            resolve_settings(&m, &given(&[("title", "x"), ("nope", "1")]))
                .unwrap_err()
                .to_string()
                .contains("no such setting")
        );
        assert!(
            resolve_settings(&m, &given(&[("title", "x"), ("workers", "99")]))
                .unwrap_err()
                .to_string()
                .contains("outside")
        );
        assert!(
            resolve_settings(&m, &given(&[("title", "x"), ("theme", "pink")]))
                .unwrap_err()
                .to_string()
                .contains("not one of")
        );
        assert!(
            resolve_settings(&m, &given(&[("title", "x"), ("public", "maybe")]))
                .unwrap_err()
                .to_string()
                .contains("yes or no")
        );
        let s = new_secrets(&m, &BTreeMap::new());
        assert_eq!(s["db_password"].len(), 24);
        let kept = BTreeMap::from([("db_password".to_owned(), "kept".to_owned())]);
        assert!(
            new_secrets(&m, &kept).is_empty(),
            "kept secrets are not regenerated"
        );
    }
}
