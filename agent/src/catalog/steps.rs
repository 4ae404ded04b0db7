//! What a service needs besides running its containers, as declared in its manifest:
//! - `[[setup]]`: its own first-run setup, done with the admin account from the install form
//!   (commands run once in a container that is up, before the install counts as done), and
//!   `first_run`, which says how the service's installer or default account is closed;
//! - `[address]`: which of its settings follow its address (`{{app.domain}}`, `{{app.url}}`)
//!   and how it takes a new one, or why it cannot;
//! - `[update]`: the path an update takes (versions stepped through one at a time, the oldest
//!   version an update can start from).
//!
//! Checked here: references to containers, templates in step environments, that a service
//! with an address in its environment says how it follows it, that `first_run = "setup"`
//! has steps, and that update stops are ordered, below the manifest's version, step one
//! major version at a time when that is required, and use images of the same repository.
//!
//! Version order ([`compare_versions`]) compares the upstream part (before the packaging
//! revision) number by number, then the revision.

use super::manifest::{Manifest, Text};
use super::validate::{Problems, check_environment, check_image};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A command run inside one of the service's running containers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub container: String,
    pub command: Vec<String>,
    /// `uid:gid` or a user name of the image; the container's own user when absent.
    pub user: Option<String>,
    /// Added to the container's environment for this command only, templated like a
    /// container's (so a password reaches the step without staying in the container).
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Restart the container after this step, and wait until it is ready again (a setting
    /// the service only reads at start).
    #[serde(default)]
    pub restart_after: bool,
}

/// How the service's own installer, wizard or default account is closed.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FirstRun {
    /// `[[setup]]` steps do it with the admin account from the install form.
    Setup,
    /// The image's own entrypoint does it from the environment before serving.
    Entrypoint,
    /// The service has no installer, wizard or default account.
    Nothing,
}

/// How the service follows a change of its address.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Follow {
    /// The image reads its address from the environment at every start: recreating its
    /// containers is enough.
    Environment,
    /// Recreating its containers, then running `apply` in them.
    Commands,
    /// Its address is part of its data (accounts, identifiers): it keeps the one it was
    /// installed with.
    Fixed,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub follow: Follow,
    /// With `follow = "commands"`: run in order once the containers run with the new address.
    #[serde(default)]
    pub apply: Vec<Step>,
    /// With `follow = "fixed"`: why, for the admin.
    pub reason: Option<Text>,
    /// Whether the service works when reached at `http://<box address>:<fixed port>`.
    #[serde(default = "yes")]
    pub fixed_port: bool,
    /// When it does not: why, shown on that port and on the Access page.
    pub fixed_port_reason: Option<Text>,
}

fn yes() -> bool {
    true
}

/// A version an update goes through, with the images it runs there.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Stop {
    pub version: String,
    /// Container name → image at that version; containers not named keep their image.
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    /// The upstream refuses to skip a major version: each stop is one major above the
    /// previous, the last one just below this manifest's.
    #[serde(default)]
    pub one_major_at_a_time: bool,
    /// Versions an update from an older one goes through, in order.
    #[serde(default)]
    pub through: Vec<Stop>,
    /// The oldest installed version an update can start from, and why for older ones.
    pub oldest: Option<String>,
    pub oldest_reason: Option<Text>,
}

/// Orders two catalog versions (`34.0.3-1`, `2026-07-14b-1`): upstream part number by number,
/// then the packaging revision.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (&str, u64) {
        match v.rsplit_once('-') {
            Some((up, rev)) if rev.bytes().all(|b| b.is_ascii_digit()) && !rev.is_empty() => {
                (up, rev.parse().unwrap_or(0))
            }
            _ => (v, 0),
        }
    }
    fn parts(up: &str) -> Vec<(u64, String)> {
        up.split(['.', '-'])
            .map(|p| {
                let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_owned())
            })
            .collect()
    }
    let ((ua, ra), (ub, rb)) = (split(a), split(b));
    parts(ua).cmp(&parts(ub)).then(ra.cmp(&rb))
}

/// The major version: the first number of the upstream part.
pub fn major(v: &str) -> u64 {
    v.chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

/// Why an update from `installed` to `m` cannot be done, if it cannot.
pub fn refusal(m: &Manifest, installed: &str) -> Option<Text> {
    let u = m.update.as_ref()?;
    let too_old = u
        .oldest
        .as_ref()
        .is_some_and(|o| compare_versions(installed, o) == Ordering::Less);
    let gap = u.one_major_at_a_time && {
        let next = u
            .through
            .iter()
            .map(|s| major(&s.version))
            .find(|&mj| mj > major(installed))
            .unwrap_or(major(&m.version));
        next > major(installed) + 1
    };
    (too_old || gap).then(|| {
        u.oldest_reason.clone().unwrap_or_else(|| Text {
            fr: format!(
                "la version installée {installed} est trop ancienne pour passer directement à {}",
                m.version
            ),
            en: format!(
                "the installed version {installed} is too old to move to {} directly",
                m.version
            ),
        })
    })
}

/// The stops an update from `installed` to `m` goes through, in order.
pub fn stops_from<'a>(m: &'a Manifest, installed: &str) -> Vec<&'a Stop> {
    m.update
        .iter()
        .flat_map(|u| &u.through)
        .filter(|s| compare_versions(&s.version, installed) == Ordering::Greater)
        .collect()
}

/// `m` as it runs at `stop`: its containers' images replaced, its version the stop's.
pub fn at_stop(m: &Manifest, stop: &Stop) -> Manifest {
    let mut out = m.clone();
    out.version = stop.version.clone();
    for c in &mut out.containers {
        if let Some(image) = stop.images.get(&c.name) {
            c.image = image.clone();
        }
    }
    out
}

/// Every step of the manifest, with its field path.
pub fn all_steps(m: &Manifest) -> Vec<(String, &Step)> {
    let mut out: Vec<(String, &Step)> = m
        .setup
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("setup[{i}]"), s))
        .collect();
    if let Some(a) = &m.address {
        out.extend(
            a.apply
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("address.apply[{i}]"), s)),
        );
    }
    out
}

fn uses_address(values: impl Iterator<Item = String>) -> bool {
    values
        .flat_map(|v| {
            super::validate::placeholders(&v)
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .any(|p| p == "app.domain" || p == "app.url")
}

/// Every check of this module, adding to `p`.
pub(super) fn check(m: &Manifest, p: &mut Problems<'_>) {
    let names: Vec<&str> = m.containers.iter().map(|c| c.name.as_str()).collect();
    for (field, step) in all_steps(m) {
        if !names.contains(&step.container.as_str()) {
            p.add(
                format!("{field}.container"),
                format!(
                    "the container '{}' does not exist in this service",
                    step.container
                ),
            );
        }
        if step.command.is_empty() {
            p.add(format!("{field}.command"), "is empty");
        }
        check_environment(m, &format!("{field}.environment"), &step.environment, p);
    }
    match m.first_run {
        None => p.add(
            "first_run",
            "say how the service's installer or default account is closed: \"setup\", \"entrypoint\" or \"nothing\"",
        ),
        Some(FirstRun::Setup) if m.setup.is_empty() => p.add(
            "first_run",
            "\"setup\" needs [[setup]] steps that do the service's first-run setup",
        ),
        Some(FirstRun::Entrypoint | FirstRun::Nothing) if !m.setup.is_empty() => p.add(
            "first_run",
            "a service with [[setup]] steps closes its first run with them: first_run = \"setup\"",
        ),
        _ => {}
    }
    let env_values = m
        .containers
        .iter()
        .flat_map(|c| c.environment.values().cloned())
        .chain(m.setup.iter().flat_map(|s| s.environment.values().cloned()));
    match &m.address {
        None if uses_address(env_values) => p.add(
            "address",
            "the environment uses {{app.domain}} or {{app.url}}: say how the service follows a new address ([address] follow = \"environment\", \"commands\" or \"fixed\")",
        ),
        None => {}
        Some(a) => {
            match a.follow {
                Follow::Commands if a.apply.is_empty() => p.add(
                    "address.apply",
                    "follow = \"commands\" needs the commands to run",
                ),
                Follow::Environment | Follow::Fixed if !a.apply.is_empty() => p.add(
                    "address.apply",
                    "only follow = \"commands\" runs commands",
                ),
                _ => {}
            }
            if a.follow == Follow::Fixed && a.reason.is_none() {
                p.add(
                    "address.reason",
                    "say why the address cannot change (fr and en)",
                );
            }
            if !a.fixed_port && a.fixed_port_reason.is_none() {
                p.add(
                    "address.fixed_port_reason",
                    "say why the service does not work on its fixed port (fr and en)",
                );
            }
        }
    }
    if let Some(u) = &m.update {
        check_update(m, u, p);
    }
}

fn check_update(m: &Manifest, u: &Update, p: &mut Problems<'_>) {
    let mut previous: Option<&str> = None;
    for (i, s) in u.through.iter().enumerate() {
        let f = |x: &str| format!("update.through[{i}].{x}");
        if compare_versions(&s.version, &m.version) != Ordering::Less {
            p.add(
                f("version"),
                format!(
                    "{} is not below the manifest's version {}",
                    s.version, m.version
                ),
            );
        }
        if let Some(prev) = previous {
            if compare_versions(prev, &s.version) != Ordering::Less {
                p.add(
                    f("version"),
                    format!("{} does not come after {prev}", s.version),
                );
            }
            if u.one_major_at_a_time && major(&s.version) != major(prev) + 1 {
                p.add(
                    f("version"),
                    format!("{} is not one major version above {prev}", s.version),
                );
            }
        }
        previous = Some(&s.version);
        if s.images.is_empty() {
            p.add(f("images"), "name the images this version runs");
        }
        for (name, image) in &s.images {
            match m.containers.iter().find(|c| &c.name == name) {
                None => p.add(
                    f("images"),
                    format!("the container '{name}' does not exist in this service"),
                ),
                Some(c)
                    if super::provenance::repository_of(image)
                        != super::provenance::repository_of(&c.image) =>
                {
                    p.add(
                        f("images"),
                        format!("'{image}' is not an image of {}", c.image),
                    )
                }
                Some(_) => {}
            }
            if let Err(e) = check_image(image) {
                p.add(f("images"), e);
            }
        }
    }
    if u.one_major_at_a_time
        && let Some(last) = previous
        && major(last) + 1 != major(&m.version)
    {
        p.add(
            "update.through",
            format!(
                "the last stop {last} is not one major version below {}",
                m.version
            ),
        );
    }
    if u.oldest.is_some() != u.oldest_reason.is_some() {
        p.add(
            "update.oldest_reason",
            "give the oldest version and the reason together",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_number_by_number() {
        assert_eq!(compare_versions("30.0.5-1", "31.0.14-1"), Ordering::Less);
        assert_eq!(compare_versions("9.0.1-1", "10.0.0-1"), Ordering::Less);
        assert_eq!(compare_versions("34.0.3-2", "34.0.3-1"), Ordering::Greater);
        assert_eq!(
            compare_versions("2026-07-14b-1", "2025-05-14b-1"),
            Ordering::Greater
        );
        assert_eq!(compare_versions("1.2.53-1", "1.2.53-1"), Ordering::Equal);
        assert_eq!(major("34.0.3-1"), 34);
    }
}
