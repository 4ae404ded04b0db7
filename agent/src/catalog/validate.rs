//! Checks beyond the schema: names, references between parts of a manifest, templates,
//! images, ports, and clashes across the whole catalog. Each problem names its field.

use super::CatalogError;
use super::manifest::{BackupMode, Manifest, SettingType};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

pub(super) struct Problems<'a> {
    file: &'a Path,
    list: Vec<CatalogError>,
}

impl Problems<'_> {
    pub(super) fn add(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.list.push(CatalogError {
            file: self.file.to_owned(),
            field: field.into(),
            problem: problem.into(),
        });
    }
}

/// A lowercase identifier for settings, secrets, volumes and containers.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The placeholders `{{…}}` in a value.
pub fn placeholders(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end].trim());
                rest = &after[end + 2..];
            }
            None => {
                out.push("");
                break;
            }
        }
    }
    out
}

/// Image references: `registry/path:tag` or `…:tag@sha256:<64 hex>`; never `latest` nor
/// untagged, so what runs is what the catalog version says.
pub(super) fn check_image(image: &str) -> Result<(), String> {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(format!(
                "the digest '{d}' is not sha256:<64 lowercase hex digits>"
            ));
        }
    }
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_ascii_uppercase())
    {
        return Err(format!(
            "'{image}' is not an image reference (lowercase, no spaces)"
        ));
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        None => Err(format!(
            "'{image}' has no tag: pin a version such as {name}:1.2"
        )),
        Some((_, "latest")) => Err(format!("'{image}' uses the tag 'latest': pin a version")),
        Some((_, "")) => Err(format!("'{image}' has an empty tag")),
        Some(_) => Ok(()),
    }
}

pub fn manifest(file: &Path, m: &Manifest) -> Vec<CatalogError> {
    let mut p = Problems {
        file,
        list: Vec::new(),
    };
    if m.version.trim().is_empty() || m.version.contains(char::is_whitespace) {
        p.add("version", "must be a version such as 2.2.7-1");
    }
    for (field, text) in [("name", &m.name), ("description", &m.description)] {
        if text.fr.trim().is_empty() {
            p.add(format!("{field}.fr"), "is empty");
        }
        if text.en.trim().is_empty() {
            p.add(format!("{field}.en"), "is empty");
        }
    }
    if !m.upstream.starts_with("https://") {
        p.add("upstream", "must be an https:// address");
    }
    if m.license.trim().is_empty() {
        p.add("license", "is empty");
    }
    if m.requirements.memory_mb == 0 {
        p.add("requirements.memory_mb", "must be more than 0");
    }

    let mut settings = HashSet::new();
    for (i, s) in m.settings.iter().enumerate() {
        let f = |x: &str| format!("settings[{i}].{x}");
        if !is_name(&s.name) {
            p.add(
                f("name"),
                format!(
                    "'{}' is not a name (lowercase letters, digits, '_' or '-')",
                    s.name
                ),
            );
        }
        if !settings.insert(s.name.as_str()) {
            p.add(
                f("name"),
                format!("the setting '{}' is declared twice", s.name),
            );
        }
        match (s.kind, &s.choices) {
            (SettingType::Choice, None) => {
                p.add(f("choices"), "a choice setting needs its list of choices")
            }
            (SettingType::Choice, Some(c)) if c.is_empty() => {
                p.add(f("choices"), "the list of choices is empty")
            }
            (SettingType::Choice, _) => {}
            (_, Some(_)) => p.add(f("choices"), "only a choice setting has choices"),
            (_, None) => {}
        }
        if s.kind != SettingType::Number && (s.min.is_some() || s.max.is_some()) {
            p.add(f("min"), "only a number setting has bounds");
        }
        if let (Some(lo), Some(hi)) = (s.min, s.max)
            && lo > hi
        {
            p.add(
                f("max"),
                format!("the maximum {hi} is below the minimum {lo}"),
            );
        }
        if let Some(d) = &s.default {
            let ok = match (s.kind, d) {
                (SettingType::String | SettingType::Password, toml::Value::String(_)) => true,
                (SettingType::Boolean, toml::Value::Boolean(_)) => true,
                (SettingType::Choice, toml::Value::String(v)) => {
                    s.choices.as_ref().is_some_and(|c| c.contains(v))
                }
                (SettingType::Number, toml::Value::Integer(n)) => {
                    s.min.is_none_or(|lo| *n >= lo) && s.max.is_none_or(|hi| *n <= hi)
                }
                _ => false,
            };
            if !ok {
                p.add(
                    f("default"),
                    format!(
                        "{d} does not fit a {:?} setting with these choices or bounds",
                        s.kind
                    )
                    .to_lowercase(),
                );
            }
        }
        if s.kind == SettingType::Password && s.default.is_some() {
            p.add(
                f("default"),
                "a password setting cannot have a default (use a generated secret)",
            );
        }
    }

    let mut secrets = HashSet::new();
    for (i, s) in m.secrets.iter().enumerate() {
        if !is_name(&s.name) {
            p.add(
                format!("secrets[{i}].name"),
                format!("'{}' is not a name", s.name),
            );
        }
        if !secrets.insert(s.name.as_str()) {
            p.add(
                format!("secrets[{i}].name"),
                format!("the secret '{}' is declared twice", s.name),
            );
        }
        if !(16..=128).contains(&s.length) {
            p.add(
                format!("secrets[{i}].length"),
                format!("{} is outside 16..=128", s.length),
            );
        }
    }

    let mut volumes = HashSet::new();
    for (i, v) in m.volumes.iter().enumerate() {
        if !is_name(&v.name) {
            p.add(
                format!("volumes[{i}].name"),
                format!("'{}' is not a name", v.name),
            );
        }
        if !volumes.insert(v.name.as_str()) {
            p.add(
                format!("volumes[{i}].name"),
                format!("the volume '{}' is declared twice", v.name),
            );
        }
        if let Some(o) = &v.owner
            && !o
                .split_once(':')
                .is_some_and(|(u, g)| u.parse::<u32>().is_ok() && g.parse::<u32>().is_ok())
        {
            p.add(
                format!("volumes[{i}].owner"),
                format!("'{o}' is not uid:gid in digits"),
            );
        }
    }

    if m.containers.is_empty() {
        p.add("containers", "a service needs at least one container");
    }
    let names: HashSet<&str> = m.containers.iter().map(|c| c.name.as_str()).collect();
    let mut seen = HashSet::new();
    let mut used_volumes = HashSet::new();
    for (i, c) in m.containers.iter().enumerate() {
        let f = |x: &str| format!("containers[{i}].{x}");
        if !is_name(&c.name) || c.name.contains('_') {
            p.add(
                f("name"),
                format!(
                    "'{}' is not a container name (lowercase letters, digits, '-')",
                    c.name
                ),
            );
        }
        if !seen.insert(c.name.as_str()) {
            p.add(
                f("name"),
                format!("the container '{}' is declared twice", c.name),
            );
        }
        if let Err(e) = check_image(&c.image) {
            p.add(f("image"), e);
        }
        if c.stop_grace_s > 600 {
            p.add(
                f("stop_grace_s"),
                "more than 600 seconds would hold up every stop and update",
            );
        }
        if c.memory_mb < 16 {
            p.add(
                f("memory_mb"),
                "a memory limit below 16 MiB cannot run a service",
            );
        }
        if let Some(u) = &c.user
            && (u == "0" || u.starts_with("0:") || u == "root")
        {
            p.add(f("user"), "leave `user` out rather than naming root");
        }
        for (j, mnt) in c.mounts.iter().enumerate() {
            if !volumes.contains(mnt.volume.as_str()) {
                p.add(
                    format!("containers[{i}].mounts[{j}].volume"),
                    format!("the volume '{}' is not declared in [[volumes]]", mnt.volume),
                );
            }
            used_volumes.insert(mnt.volume.as_str());
            if !mnt.path.starts_with('/') || mnt.path.contains("..") {
                p.add(
                    format!("containers[{i}].mounts[{j}].path"),
                    format!(
                        "'{}' is not an absolute path inside the container",
                        mnt.path
                    ),
                );
            }
        }
        for a in &c.after {
            if !names.contains(a.as_str()) {
                p.add(
                    f("after"),
                    format!("the container '{a}' does not exist in this service"),
                );
            } else if a == &c.name {
                p.add(f("after"), "a container cannot wait for itself");
            }
        }
        check_environment(
            m,
            &format!("containers[{i}].environment"),
            &c.environment,
            &mut p,
        );
        if let Some(h) = &c.health
            && h.command.is_empty()
        {
            p.add(f("health.command"), "is empty");
        }
    }
    if let Err(cycle) = start_order(m) {
        p.add(
            "containers",
            format!("the `after` lists form a cycle through '{cycle}'"),
        );
    }
    for v in &volumes {
        if !used_volumes.contains(v) {
            p.add(
                "volumes",
                format!("the volume '{v}' is mounted by no container"),
            );
        }
    }

    if let Some(w) = &m.web {
        match m.containers.iter().find(|c| c.name == w.container) {
            None => p.add(
                "web.container",
                format!(
                    "the container '{}' does not exist in this service",
                    w.container
                ),
            ),
            Some(c) if !c.ports.contains(&w.port) => p.add(
                "web.port",
                format!(
                    "the container '{}' does not list port {} in its ports",
                    c.name, w.port
                ),
            ),
            Some(_) => {}
        }
        if w.max_body_mb == 0 {
            p.add("web.max_body_mb", "must be more than 0");
        }
    }
    let mut host_ports = HashSet::new();
    for (i, pb) in m.publish.iter().enumerate() {
        if !names.contains(pb.container.as_str()) {
            p.add(
                format!("publish[{i}].container"),
                format!(
                    "the container '{}' does not exist in this service",
                    pb.container
                ),
            );
        }
        if pb.host_port < 1 || [22, 80, 443, 5353].contains(&pb.host_port) {
            p.add(
                format!("publish[{i}].host_port"),
                format!("port {} is reserved for the box itself", pb.host_port),
            );
        }
        if !host_ports.insert((pb.host_port, pb.proto)) {
            p.add(
                format!("publish[{i}].host_port"),
                format!("port {} is published twice", pb.host_port),
            );
        }
    }
    if m.web.is_none() && m.publish.is_empty() {
        p.add(
            "web",
            "a service needs a web entry point or published ports, or nobody can reach it",
        );
    }

    match &m.backup {
        None if !m.volumes.is_empty() => {
            p.add("backup", "a service with volumes needs a [backup] section")
        }
        None => {}
        Some(b) => {
            for v in &b.volumes {
                if !volumes.contains(v.as_str()) {
                    p.add(
                        "backup.volumes",
                        format!("the volume '{v}' is not declared in [[volumes]]"),
                    );
                }
            }
            for (list, cmds) in [("pre", &b.pre), ("post", &b.post), ("restore", &b.restore)] {
                for (j, cmd) in cmds.iter().enumerate() {
                    if !names.contains(cmd.container.as_str()) {
                        p.add(
                            format!("backup.{list}[{j}].container"),
                            format!(
                                "the container '{}' does not exist in this service",
                                cmd.container
                            ),
                        );
                    }
                    if cmd.command.is_empty() {
                        p.add(format!("backup.{list}[{j}].command"), "is empty");
                    }
                }
            }
            if b.mode == BackupMode::Cold
                && !(b.pre.is_empty() && b.post.is_empty() && b.restore.is_empty())
            {
                p.add("backup.pre", "a cold backup stops the service: pre, post and restore commands only make sense with mode = \"hot\"");
            }
        }
    }
    super::provenance::check(m, &mut p);
    super::provenance::check_hosts(m, &mut p);
    super::steps::check(m, &mut p);
    super::probe::check(m, &mut p);
    p.list
}

/// Environment variables: valid names, and placeholders that refer to something declared.
pub(super) fn check_environment(
    m: &Manifest,
    field: &str,
    env: &BTreeMap<String, String>,
    p: &mut Problems<'_>,
) {
    for (key, value) in env {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            p.add(
                format!("{field}.{key}"),
                "is not an environment variable name",
            );
        }
        for ph in placeholders(value) {
            let ok = match ph.split_once('.') {
                Some(("setting", n)) => m.settings.iter().any(|s| s.name == n),
                Some(("secret", n)) => m.secrets.iter().any(|s| s.name == n),
                Some(("app", "id" | "domain" | "url")) => true,
                _ => false,
            };
            if !ok {
                p.add(format!("{field}.{key}"), format!("the placeholder {{{{{ph}}}}} refers to nothing declared (setting.X, secret.X, app.id, app.domain, app.url)"));
            }
        }
    }
}

/// Containers in start order (each after those it lists in `after`), or the name of one
/// container in a cycle.
pub fn start_order(m: &Manifest) -> Result<Vec<&super::manifest::Container>, String> {
    let mut order: Vec<&super::manifest::Container> = Vec::new();
    let mut placed = HashSet::new();
    while order.len() < m.containers.len() {
        let next = m.containers.iter().find(|c| {
            !placed.contains(c.name.as_str())
                && c.after.iter().all(|a| {
                    placed.contains(a.as_str()) || !m.containers.iter().any(|x| &x.name == a)
                })
        });
        match next {
            Some(c) => {
                placed.insert(c.name.as_str());
                order.push(c);
            }
            None => {
                return Err(m
                    .containers
                    .iter()
                    .find(|c| !placed.contains(c.name.as_str()))
                    .map(|c| c.name.clone())
                    .unwrap_or_default());
            }
        }
    }
    Ok(order)
}

/// Checks across services: the same host port published by two services.
pub fn across<'a>(dir: &Path, manifests: impl Iterator<Item = &'a Manifest>) -> Vec<CatalogError> {
    let mut owners: BTreeMap<(u16, super::Proto), String> = BTreeMap::new();
    let mut errors = Vec::new();
    for m in manifests {
        for (i, pb) in m.publish.iter().enumerate() {
            if let Some(other) = owners.insert((pb.host_port, pb.proto), m.id.to_string())
                && other != m.id.as_str()
            {
                errors.push(CatalogError {
                    file: dir.join(m.id.as_str()).join("manifest.toml"),
                    field: format!("publish[{i}].host_port"),
                    problem: format!("port {} is also published by '{other}'", pb.host_port),
                });
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        assert!(check_image("docker.io/library/mariadb:11.4").is_ok());
        assert!(check_image(&format!("ghcr.io/x/y:1@sha256:{}", "a".repeat(64))).is_ok());
        assert!(check_image("localhost:5000/x").is_err());
        assert!(check_image("x:latest").is_err());
    }

    #[test]
    fn placeholders_found() {
        assert_eq!(
            placeholders("a {{ setting.x }} b {{secret.y}}"),
            ["setting.x", "secret.y"]
        );
        assert_eq!(placeholders("{{oops"), [""]);
    }
}

#[cfg(test)]
mod corpus {
    /// Every manifest of `agent/testdata/invalid/` is rejected with the field and problem
    /// listed for it in `EXPECTED.tsv`.
    #[test]
    fn invalid_manifests_are_rejected_with_the_expected_message() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/invalid");
        let expected = std::fs::read_to_string(dir.join("EXPECTED.tsv")).unwrap();
        let mut n = 0;
        for line in expected
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut cols = line.split('\t');
            let (file, field, problem) = (
                cols.next().unwrap(),
                cols.next().unwrap(),
                cols.next().unwrap(),
            );
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            let errors = super::super::parse_manifest(&path, &text)
                .err()
                .unwrap_or_else(|| panic!("{file} was accepted"));
            assert!(
                errors.iter().any(|e| e.field == field
                    && e.problem.contains(problem)
                    && e.to_string().contains(file)),
                "{file}: expected {field}: …{problem}…, got {errors:#?}"
            );
            n += 1;
        }
        assert!(n >= 20, "only {n} invalid manifests");
    }
}
