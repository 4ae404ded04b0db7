//! The box's own certificate authority and the server certificate it presents.
//!
//! Owns `<data>/tls/`: `ca.key` and `ca.crt` (the authority, created at first start, valid 20
//! years), `ca.json` (its common name), `server.key`, `server.crt` (the leaf and the CA, a
//! chain) and `server.json` (the names it covers and its expiry).
//!
//! Invariants:
//! - The authority is created once and never replaced silently: a `ca.key` that cannot be
//!   read stops the start with the path in the message (devices trust that one authority;
//!   a new one would break every installed trust).
//! - The authority is name-constrained to `.local` and `localhost` names and to private,
//!   unique-local, link-local and loopback addresses ([`PRIVATE_RANGES`]), so a trusted Panier
//!   authority cannot vouch for anyone's bank, by name or by address. An authority created
//!   before addresses were constrained keeps its constraints (devices trust that one; it is
//!   never replaced silently). Cost: a LAN numbered in public addresses gets no certificate
//!   for them (its names still work).
//! - One leaf covers every name and address of the box (`<box>.local`, every
//!   `<service>-<box>.local`, the LAN addresses, `localhost`). It is issued again when that set
//!   changes or 30 days before it expires; [`Tls::ensure_leaf`] decides and the proxy's
//!   refresh loop calls it. The running server picks a new leaf up at the next handshake.
//!
//! - The public names (the reach domain) are served a certificate from a public authority
//!   (`reach::acme` obtains it and hands it over with [`Tls::set_public`]), chosen by the
//!   name the client asks for (SNI); every other name gets the box's own leaf.
//!
//! Limits: ECDSA P-256 keys (every current browser and OS); one leaf for all names, so its
//! list of names shows which services the box offers (they are announced on the LAN anyway).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use time::{Duration, OffsetDateTime};

const CA_YEARS: i64 = 20;
/// Under the 825 days Apple accepts for user-trusted authorities, with margin.
const LEAF_DAYS: i64 = 397;
const RENEW_BEFORE_DAYS: i64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot {op} {path}: {source}")]
    File {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the file {path} is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot make a certificate ({what}): {source}")]
    Generate {
        what: &'static str,
        source: rcgen::Error,
    },
    #[error("rustls refused the {what}: {detail}")]
    Rustls { what: &'static str, detail: String },
}

/// The names and addresses a server certificate must cover.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeafNames {
    pub dns: BTreeSet<String>,
    pub ips: BTreeSet<IpAddr>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct LeafMeta {
    names: LeafNames,
    not_after: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CaMeta {
    common_name: String,
}

struct Authority {
    key: KeyPair,
    common_name: String,
    pem: String,
    der: Vec<u8>,
}

/// The leaf in use: the names it covers, its expiry (Unix seconds) and the key rustls serves.
type CurrentLeaf = Arc<RwLock<Option<(LeafNames, i64, Arc<CertifiedKey>)>>>;

/// The certificate for the public names, and the names it covers.
type PublicCert = Arc<RwLock<Option<(BTreeSet<String>, Arc<CertifiedKey>)>>>;

/// The box's TLS material: its authority and the current server certificate.
#[derive(Clone)]
pub struct Tls {
    dir: PathBuf,
    ca: Arc<Authority>,
    current: CurrentLeaf,
    public: PublicCert,
}

fn read(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TlsError::File {
            op: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

fn write(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    crate::fsutil::write_atomic(path, bytes).map_err(|source| TlsError::File {
        op: "write",
        path: path.to_owned(),
        source,
    })?;
    let mode = if secret { 0o600 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        TlsError::File {
            op: "protect",
            path: path.to_owned(),
            source,
        }
    })
}

/// The authority's parameters. Rebuilt the same way at every start so that leaves are issued
/// under the same subject and key identifier as the stored `ca.crt`.
fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Panier");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.name_constraints = Some(NameConstraints {
        permitted_subtrees: [
            GeneralSubtree::DnsName("local".into()),
            GeneralSubtree::DnsName("localhost".into()),
        ]
        .into_iter()
        .chain(PRIVATE_RANGES.iter().map(|(addr, prefix)| {
            let addr: IpAddr = addr.parse().expect("a constant address");
            GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_addr_prefix(addr, *prefix))
        }))
        .collect(),
        excluded_subtrees: vec![],
    });
    params
}

/// The addresses the authority may vouch for: private IPv4 (RFC 1918), link-local, loopback,
/// IPv6 unique local (fc00::/7), link-local and loopback. A LAN uses these; a public address
/// is someone else's.
pub const PRIVATE_RANGES: [(&str, u8); 8] = [
    ("10.0.0.0", 8),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("169.254.0.0", 16),
    ("127.0.0.0", 8),
    ("fc00::", 7),
    ("fe80::", 10),
    ("::1", 128),
];

/// Whether `ip` is in [`PRIVATE_RANGES`].
pub fn vouchable(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    PRIVATE_RANGES.iter().any(|(net, prefix)| {
        match (ip, net.parse::<IpAddr>().expect("a constant address")) {
            (IpAddr::V4(a), IpAddr::V4(n)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(a) & mask == u32::from(n) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(n)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(a) & mask == u128::from(n) & mask
            }
            _ => false,
        }
    })
}

impl Tls {
    /// Loads the authority from `<data_dir>/tls`, creating it at first start, and the server
    /// certificate if one was issued before.
    pub fn load_or_create(data_dir: &Path) -> Result<Tls, TlsError> {
        let dir = data_dir.join("tls");
        std::fs::create_dir_all(&dir).map_err(|source| TlsError::File {
            op: "create",
            path: dir.clone(),
            source,
        })?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok();
        let (key_path, crt_path, meta_path) =
            (dir.join("ca.key"), dir.join("ca.crt"), dir.join("ca.json"));
        let ca = match (read(&key_path)?, read(&crt_path)?, read(&meta_path)?) {
            (Some(key), Some(pem), Some(meta)) => {
                let key = KeyPair::from_pem(&key).map_err(|e| TlsError::Damaged {
                    path: key_path.clone(),
                    detail: e.to_string(),
                })?;
                let meta: CaMeta = serde_json::from_str(&meta).map_err(|e| TlsError::Damaged {
                    path: meta_path.clone(),
                    detail: e.to_string(),
                })?;
                let der = pem_to_der(&pem).ok_or_else(|| TlsError::Damaged {
                    path: crt_path.clone(),
                    detail: "not a PEM certificate".into(),
                })?;
                Authority {
                    key,
                    common_name: meta.common_name,
                    pem,
                    der,
                }
            }
            (None, _, _) => {
                let key = KeyPair::generate().map_err(|source| TlsError::Generate {
                    what: "the authority's key",
                    source,
                })?;
                let common_name = format!("Panier {}", &hex::encode(rand::random::<[u8; 3]>()));
                let mut params = ca_params(&common_name);
                let now = OffsetDateTime::now_utc();
                params.not_before = now - Duration::days(1);
                params.not_after = now + Duration::days(365 * CA_YEARS);
                let cert = params
                    .self_signed(&key)
                    .map_err(|source| TlsError::Generate {
                        what: "the authority",
                        source,
                    })?;
                write(&key_path, key.serialize_pem().as_bytes(), true)?;
                write(
                    &meta_path,
                    serde_json::to_string(&CaMeta {
                        common_name: common_name.clone(),
                    })
                    .expect("JSON")
                    .as_bytes(),
                    false,
                )?;
                write(&crt_path, cert.pem().as_bytes(), false)?;
                log::info!(
                    "created the box's certificate authority \"{common_name}\" in {}",
                    dir.display()
                );
                Authority {
                    key,
                    common_name,
                    pem: cert.pem(),
                    der: cert.der().to_vec(),
                }
            }
            (Some(_), _, _) => {
                return Err(TlsError::Damaged {
                    path: crt_path,
                    detail: "ca.key exists without ca.crt or ca.json; restore them from a backup"
                        .into(),
                });
            }
        };
        let tls = Tls {
            dir,
            ca: Arc::new(ca),
            current: Arc::new(RwLock::new(None)),
            public: Arc::new(RwLock::new(None)),
        };
        if let Err(e) = tls.load_leaf() {
            log::warn!(
                "the stored server certificate is not usable, a new one will be issued: {e}"
            );
        }
        Ok(tls)
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca.pem
    }

    pub fn ca_der(&self) -> &[u8] {
        &self.ca.der
    }

    pub fn ca_name(&self) -> &str {
        &self.ca.common_name
    }

    /// SHA-256 fingerprint of the authority, as devices show it (`AB:CD:…`).
    pub fn ca_fingerprint(&self) -> String {
        use sha2::Digest;
        sha2::Sha256::digest(&self.ca.der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    fn load_leaf(&self) -> Result<(), TlsError> {
        let (key_path, crt_path, meta_path) = (
            self.dir.join("server.key"),
            self.dir.join("server.crt"),
            self.dir.join("server.json"),
        );
        let (Some(key), Some(crt), Some(meta)) =
            (read(&key_path)?, read(&crt_path)?, read(&meta_path)?)
        else {
            return Ok(());
        };
        let meta: LeafMeta = serde_json::from_str(&meta).map_err(|e| TlsError::Damaged {
            path: meta_path,
            detail: e.to_string(),
        })?;
        let key = KeyPair::from_pem(&key).map_err(|e| TlsError::Damaged {
            path: key_path,
            detail: e.to_string(),
        })?;
        let leaf = pem_to_der(&crt).ok_or_else(|| TlsError::Damaged {
            path: crt_path,
            detail: "not a PEM certificate".into(),
        })?;
        let certified = self.certified(leaf, &key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some((meta.names, meta.not_after, certified));
        Ok(())
    }

    fn certified(&self, leaf: Vec<u8>, key: &KeyPair) -> Result<Arc<CertifiedKey>, TlsError> {
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing =
            rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| TlsError::Rustls {
                what: "server key",
                detail: e.to_string(),
            })?;
        Ok(Arc::new(CertifiedKey::new(
            vec![
                CertificateDer::from(leaf),
                CertificateDer::from(self.ca.der.clone()),
            ],
            signing,
        )))
    }

    /// When the server certificate in use expires (Unix seconds), once one is issued.
    pub fn leaf_expires_at(&self) -> Option<i64> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, not_after, _)| *not_after)
    }

    /// Issues a new server certificate if `names` differ from the current one's or it expires
    /// within 30 days. Returns whether one was issued.
    pub fn ensure_leaf(&self, names: &LeafNames) -> Result<bool, TlsError> {
        let now = OffsetDateTime::now_utc();
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if let Some((have, not_after, _)) = current.as_ref()
                && have == names
                && *not_after > (now + Duration::days(RENEW_BEFORE_DAYS)).unix_timestamp()
            {
                return Ok(false);
            }
        }
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names
                .dns
                .iter()
                .next()
                .cloned()
                .unwrap_or_else(|| "panier.local".into()),
        );
        params.distinguished_name = dn;
        params.subject_alt_names = names
            .dns
            .iter()
            .filter_map(|n| n.clone().try_into().ok().map(SanType::DnsName))
            .collect();
        // A public address would make the whole leaf invalid under the authority's constraints.
        params.subject_alt_names.extend(
            names
                .ips
                .iter()
                .filter(|ip| vouchable(**ip))
                .map(|ip| SanType::IpAddress(*ip)),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(LEAF_DAYS);
        let key = KeyPair::generate().map_err(|source| TlsError::Generate {
            what: "a server key",
            source,
        })?;
        let issuer = Issuer::new(ca_params(&self.ca.common_name), &self.ca.key);
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|source| TlsError::Generate {
                what: "the server certificate",
                source,
            })?;
        let certified = self.certified(cert.der().to_vec(), &key)?;
        let meta = LeafMeta {
            names: names.clone(),
            not_after: params.not_after.unix_timestamp(),
        };
        write(
            &self.dir.join("server.key"),
            key.serialize_pem().as_bytes(),
            true,
        )?;
        write(
            &self.dir.join("server.crt"),
            format!("{}{}", cert.pem(), self.ca.pem).as_bytes(),
            false,
        )?;
        write(
            &self.dir.join("server.json"),
            serde_json::to_string(&meta).expect("JSON").as_bytes(),
            false,
        )?;
        log::info!(
            "issued a server certificate for {} names and {} addresses",
            names.dns.len(),
            names.ips.len()
        );
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Some((meta.names, meta.not_after, certified));
        Ok(true)
    }

    /// Serves `public` (names and key) to clients asking for one of those names, or stops.
    pub fn set_public(&self, public: Option<(BTreeSet<String>, Arc<CertifiedKey>)>) {
        *self.public.write().unwrap_or_else(|p| p.into_inner()) = public;
    }

    /// The rustls configuration of the HTTPS entry; it always presents the current leaf.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Rustls {
                what: "protocol versions",
                detail: e.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(
                self.current.clone(),
                self.public.clone(),
            )));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[derive(Debug)]
struct Resolver(CurrentLeaf, PublicCert);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name()
            && let Some((names, key)) = self.1.read().unwrap_or_else(|p| p.into_inner()).as_ref()
            && names.contains(&name.to_ascii_lowercase())
        {
            return Some(key.clone());
        }
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, _, k)| k.clone())
    }
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem.as_bytes())
        .ok()
        .map(|c| c.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dns: &[&str]) -> LeafNames {
        LeafNames {
            dns: dns.iter().map(|s| s.to_string()).collect(),
            ips: ["127.0.0.1".parse().unwrap()].into(),
        }
    }

    #[test]
    fn authority_is_kept_and_leaf_follows_names() {
        let dir = tempfile::tempdir().unwrap();
        let tls = Tls::load_or_create(dir.path()).unwrap();
        let ca = tls.ca_pem().to_owned();
        assert!(tls.ensure_leaf(&names(&["biblio.local"])).unwrap());
        assert!(
            !tls.ensure_leaf(&names(&["biblio.local"])).unwrap(),
            "same names: kept"
        );
        let again = Tls::load_or_create(dir.path()).unwrap();
        assert_eq!(again.ca_pem(), ca, "the authority is created once");
        assert!(
            !again.ensure_leaf(&names(&["biblio.local"])).unwrap(),
            "the leaf is reloaded"
        );
        assert!(
            again
                .ensure_leaf(&names(&["biblio.local", "pad-biblio.local"]))
                .unwrap(),
            "a new name: reissued"
        );
        assert!(again.server_config().is_ok());
    }

    #[test]
    fn only_private_addresses_are_vouched_for() {
        for ip in [
            "192.168.1.10",
            "10.1.2.3",
            "172.31.0.1",
            "169.254.1.1",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
            "::1",
            "::ffff:192.168.1.2",
        ] {
            assert!(vouchable(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::2"] {
            assert!(!vouchable(ip.parse().unwrap()), "{ip}");
        }
    }
}
