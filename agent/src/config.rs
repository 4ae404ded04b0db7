//! The daemon's configuration: command-line options over `/etc/panier/panier.toml` over
//! defaults. The file is optional; a file that exists but cannot be read or parsed stops the
//! start with a message naming the file and the problem (a typo must not silently fall back
//! to defaults).

use crate::names::{BoxName, SetupCode};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_CONFIG: &str = "/etc/panier/panier.toml";
pub const DEFAULT_SOCKET: &str = "/run/panier/panier.sock";
pub const DEFAULT_CATALOG: &str = "/usr/share/panier/services";

/// Options of `panier agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// Configuration file.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Where the state lives (database, service data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address of the admin web UI: the HTTPS entry (admin UI and services by name) when an
    /// HTTP entry is configured, plain HTTP for the admin UI alone otherwise (development).
    #[arg(long)]
    pub listen: Option<String>,
    /// Address of the plain-HTTP entry: public portal, CA certificate download, services by
    /// name, redirects of /admin to HTTPS. Giving it turns HTTPS on for `--listen`.
    #[arg(long)]
    pub http_listen: Option<String>,
    /// First fixed port handed to services (each keeps its port for good).
    #[arg(long)]
    pub service_port_base: Option<u16>,
    /// The LAN interface on which names are announced (mDNS); default: the default route's.
    #[arg(long)]
    pub lan_interface: Option<String>,
    /// Do not announce names with mDNS.
    #[arg(long)]
    pub no_mdns: bool,
    /// Local API socket used by the command-line tool.
    #[arg(long, env = "PANIER_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Container engine API socket, as `unix:///path/to/docker.sock`.
    #[arg(long)]
    pub engine: Option<String>,
    /// The service catalog directory (one folder per service).
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Apply the box's firewall (table inet panier). `off` keeps and explains the policy
    /// without touching nftables: for development machines and tests that are not the box.
    #[arg(long, value_parser = ["on", "off"])]
    pub firewall: Option<String>,
}

/// The file's keys. Unknown keys are an error, so a misspelt key is caught.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    listen: Option<String>,
    socket: Option<PathBuf>,
    engine: Option<String>,
    catalog: Option<PathBuf>,
    /// Whether the agent applies the firewall (default true).
    firewall: Option<bool>,
    /// Seconds a firewall change made over the network waits for its confirmation before it
    /// is undone (default 60; 5 to 3600). Tests shorten it.
    firewall_confirm_within_s: Option<u64>,
    http_listen: Option<String>,
    service_port_base: Option<u16>,
    lan_interface: Option<String>,
    mdns: Option<bool>,
    /// Routes to web servers outside the app system (a printer's page, a test server).
    #[serde(default)]
    extra_routes: Vec<crate::proxy::ExtraRoute>,
    /// A PEM file of roots to trust for the ACME directory (a private authority; tests).
    acme_root: Option<PathBuf>,
    /// Headless provisioning: the box name to offer in the setup wizard.
    box_name: Option<String>,
    /// Headless provisioning: the setup code to use instead of a random one.
    setup_code: Option<String>,
    /// Headless provisioning: SSH keys were provisioned, so SSH is opened to the LAN once, at
    /// the first start that sees this (an admin may close it afterwards).
    ssh: Option<bool>,
    /// The container engine's configuration file the agent writes (the registry mirror): on
    /// the box `/data/etc/docker/daemon.json`, which `/etc/docker/daemon.json` links to.
    engine_config: Option<PathBuf>,
    /// The image's own engine configuration it starts from (default
    /// `/usr/share/panier/docker-daemon.json`).
    engine_config_base: Option<PathBuf>,
    /// OS updates (`update`).
    update: Option<UpdateFile>,
}

/// `[update]`: the channel and what to trust for it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateFile {
    /// The channel's index address (`https://…/index.json`); the Update page may change it.
    channel: Option<String>,
    /// One more certificate authority to trust for the channel (a mirror with its own).
    ca: Option<PathBuf>,
    /// The release key's public half (default: the image's).
    key: Option<PathBuf>,
    /// Where the running system says its version (default: the image's).
    version_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: std::net::SocketAddr,
    /// The plain-HTTP entry. When set, `listen` is served over HTTPS.
    pub http_listen: Option<std::net::SocketAddr>,
    pub service_port_base: u16,
    pub lan_interface: Option<String>,
    pub mdns: bool,
    pub extra_routes: Vec<crate::proxy::ExtraRoute>,
    /// Roots to trust for the ACME directory besides the system's (`acme_root`).
    pub acme_root: Option<PathBuf>,
    pub socket: PathBuf,
    pub engine: String,
    pub catalog_dir: PathBuf,
    /// Whether the agent applies its nftables table.
    pub firewall: bool,
    /// How long a firewall change made over the network waits for its confirmation.
    pub firewall_confirm_within: std::time::Duration,
    pub provisioned_name: Option<BoxName>,
    pub provisioned_code: Option<SetupCode>,
    pub provisioned_ssh: bool,
    /// Where install mode keeps wipe certificates, sheets and the inventory.
    pub hw_dir: PathBuf,
    /// The engine's configuration file to write and the base it is made from (`None`: the
    /// registry mirror is kept but not applied, as on a development machine).
    pub engine_config: Option<crate::engine::settings::EngineConfigFile>,
    /// OS updates: the channel, the release key, where bundles go.
    pub update: crate::update::UpdateOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {field} ({origin}): {message}")]
    Value {
        field: &'static str,
        origin: String,
        message: String,
    },
}

impl Config {
    /// Defaults with a given data directory and no file (tests, tools).
    pub fn with_data_dir(data_dir: &Path) -> Config {
        Config {
            data_dir: data_dir.to_owned(),
            listen: "127.0.0.1:0".parse().expect("valid address"),
            http_listen: None,
            service_port_base: 8001,
            lan_interface: None,
            mdns: false,
            extra_routes: Vec::new(),
            acme_root: None,
            socket: data_dir.join("panier.sock"),
            engine: "unix:///run/docker.sock".into(),
            catalog_dir: DEFAULT_CATALOG.into(),
            firewall: false,
            firewall_confirm_within: crate::firewall::REVERT_AFTER,
            provisioned_name: None,
            provisioned_code: None,
            provisioned_ssh: false,
            hw_dir: data_dir.join("hw"),
            engine_config: None,
            update: crate::update::UpdateOptions::new(data_dir),
        }
    }

    pub fn load(args: &AgentArgs) -> Result<Config, ConfigError> {
        let file = read_file(&args.config)?;
        let origin = args.config.display().to_string();
        // With no address given anywhere, the box's production entries: HTTPS on 443 and HTTP
        // on 80. An explicit `listen` alone keeps the plain-HTTP admin UI of development.
        let production = args.listen.is_none()
            && file.listen.is_none()
            && args.http_listen.is_none()
            && file.http_listen.is_none();
        let listen_text = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "0.0.0.0:443".into());
        let listen = parse_addr("listen", &listen_text, &origin)?;
        let http_text = args
            .http_listen
            .clone()
            .or(file.http_listen)
            .or_else(|| production.then(|| "0.0.0.0:80".to_owned()));
        let http_listen = http_text
            .map(|t| parse_addr("http_listen", &t, &origin))
            .transpose()?;
        let engine = args
            .engine
            .clone()
            .or(file.engine)
            .unwrap_or_else(|| "unix:///run/docker.sock".into());
        if !engine.starts_with("unix://") {
            return Err(ConfigError::Value {
                field: "engine",
                origin,
                message: format!("'{engine}' is not a unix:// socket URL"),
            });
        }
        let provisioned_name = file
            .box_name
            .map(|n| BoxName::parse(&n))
            .transpose()
            .map_err(|e| ConfigError::Value {
                field: "box_name",
                origin: origin.clone(),
                message: e.message,
            })?;
        let provisioned_code = file
            .setup_code
            .map(|c| SetupCode::parse(&c))
            .transpose()
            .map_err(|e| ConfigError::Value {
                field: "setup_code",
                origin: origin.clone(),
                message: e.message,
            })?;
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| "/var/lib/panier".into());
        let update = update_options(&data_dir, file.update.unwrap_or_default(), &origin)?;
        let firewall_confirm_within = match file.firewall_confirm_within_s {
            None => crate::firewall::REVERT_AFTER,
            Some(s @ 5..=3600) => std::time::Duration::from_secs(s),
            Some(s) => {
                return Err(ConfigError::Value {
                    field: "firewall_confirm_within_s",
                    origin: origin.clone(),
                    message: format!("{s} is not between 5 and 3600 seconds"),
                });
            }
        };
        Ok(Config {
            data_dir,
            listen,
            http_listen,
            service_port_base: args
                .service_port_base
                .or(file.service_port_base)
                .unwrap_or(8001),
            lan_interface: args.lan_interface.clone().or(file.lan_interface),
            mdns: !args.no_mdns && file.mdns.unwrap_or(true),
            extra_routes: file.extra_routes,
            acme_root: file.acme_root,
            socket: args
                .socket
                .clone()
                .or(file.socket)
                .unwrap_or_else(|| DEFAULT_SOCKET.into()),
            engine,
            catalog_dir: args
                .catalog
                .clone()
                .or(file.catalog)
                .unwrap_or_else(|| DEFAULT_CATALOG.into()),
            firewall: args
                .firewall
                .as_deref()
                .map(|f| f == "on")
                .or(file.firewall)
                .unwrap_or(true),
            firewall_confirm_within,
            provisioned_name,
            provisioned_code,
            provisioned_ssh: file.ssh.unwrap_or(false),
            hw_dir: crate::install::HW_DIR.into(),
            engine_config: file.engine_config.map(|path| {
                crate::engine::settings::EngineConfigFile {
                    path,
                    base: file
                        .engine_config_base
                        .unwrap_or_else(|| crate::engine::settings::DEFAULT_BASE.into()),
                }
            }),
            update,
        })
    }
}

fn update_options(
    data_dir: &Path,
    file: UpdateFile,
    origin: &str,
) -> Result<crate::update::UpdateOptions, ConfigError> {
    let mut options = crate::update::UpdateOptions::new(data_dir);
    if let Some(channel) = file.channel {
        crate::update::fetch::https(&channel).map_err(|e| ConfigError::Value {
            field: "update.channel",
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        options.channel = Some(channel);
    }
    options.ca = file.ca;
    if let Some(key) = file.key {
        options.key = key;
    }
    if let Some(v) = file.version_file {
        options.version_file = v;
    }
    Ok(options)
}

fn parse_addr(
    field: &'static str,
    text: &str,
    origin: &str,
) -> Result<std::net::SocketAddr, ConfigError> {
    text.parse().map_err(|_| ConfigError::Value {
        field,
        origin: origin.to_owned(),
        message: format!("'{text}' is not an address:port such as 0.0.0.0:443"),
    })
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileConfig::default()),
        Err(source) => Err(ConfigError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(config: &Path) -> AgentArgs {
        AgentArgs {
            config: config.to_owned(),
            data_dir: None,
            listen: Some("127.0.0.1:8443".into()),
            http_listen: None,
            service_port_base: None,
            lan_interface: None,
            no_mdns: false,
            socket: None,
            engine: None,
            catalog: None,
            firewall: None,
        }
    }

    #[test]
    fn file_and_flags_merge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("panier.toml");
        std::fs::write(
            &path,
            "data_dir = \"/srv/panier\"\nlisten = \"0.0.0.0:9\"\nsetup_code = \"abcde-fghjk\"\n",
        )
        .unwrap();
        let c = Config::load(&args(&path)).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/srv/panier"));
        assert_eq!(c.listen.port(), 8443, "the flag wins over the file");
        assert_eq!(c.provisioned_code.unwrap().as_str(), "ABCDEFGHJK");
    }

    #[test]
    fn production_entries_without_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("panier.toml");
        let mut a = args(&path);
        a.listen = None;
        let c = Config::load(&a).unwrap();
        assert_eq!(
            (c.listen.port(), c.http_listen.map(|h| h.port())),
            (443, Some(80))
        );
        let c = Config::load(&args(&path)).unwrap();
        assert_eq!(
            c.http_listen, None,
            "an explicit listen alone stays plain HTTP"
        );
        std::fs::write(
            &path,
            "[[extra_routes]]\nname = \"imprimante\"\nupstream = \"192.168.1.20:80\"\n",
        )
        .unwrap();
        let c = Config::load(&args(&path)).unwrap();
        assert_eq!(c.extra_routes[0].name, "imprimante");
        std::fs::write(
            &path,
            "[update]\nchannel = \"http://mirror.example/index.json\"\n",
        )
        .unwrap();
        let err = Config::load(&args(&path)).unwrap_err().to_string();
        assert!(
            err.contains("update.channel") && err.contains("HTTPS"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("panier.toml");
        std::fs::write(&path, "datadir = \"/x\"\n").unwrap();
        let err = Config::load(&args(&path)).unwrap_err().to_string();
        assert!(
            err.contains("panier.toml") && err.contains("datadir"),
            "{err}"
        );
    }

    #[test]
    fn the_readme_example_is_a_valid_file() {
        let readme = include_str!("../../README.md");
        let example = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("README has a toml example");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("panier.toml");
        std::fs::write(&path, example).unwrap();
        let mut a = args(&path);
        a.listen = None;
        let c = Config::load(&a).unwrap();
        assert_eq!(
            (c.listen.port(), c.http_listen.map(|h| h.port()), c.firewall),
            (443, Some(80), true)
        );
    }
}
