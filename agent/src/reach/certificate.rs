//! The public certificate on disk: `<data>/tls/public/chain.pem` (the leaf then the
//! authority's intermediates, as the authority sent them) and `key.pem` (0600), written
//! atomically, key first. What it covers and when it expires are read from the certificate
//! itself, never from a separate record that could drift.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use rustls::sign::CertifiedKey;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("cannot {op} {path}: {source}")]
    File {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the certificate {path} is not usable: {detail}")]
    Damaged { path: PathBuf, detail: String },
}

/// What the admin sees of the certificate.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    pub names: Vec<String>,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    /// When the box renews it (two thirds of its lifetime, or earlier if the authority says so).
    pub renew_at: i64,
}

/// A certificate as stored.
#[derive(Clone)]
pub struct Stored {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_pem: String,
    pub names: BTreeSet<String>,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
}

fn damaged(path: &Path, detail: impl ToString) -> CertificateError {
    CertificateError::Damaged {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

impl Stored {
    /// Reads the leaf's names and validity from a PEM chain and its key.
    pub fn parse(path: &Path, chain_pem: &str, key_pem: &str) -> Result<Stored, CertificateError> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| damaged(path, e))?;
        let leaf = chain
            .first()
            .ok_or_else(|| damaged(path, "no certificate"))?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| damaged(path, e))?;
        let mut names = BTreeSet::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                    names.insert(d.to_ascii_lowercase());
                }
            }
        }
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| damaged(path, e))?;
        Ok(Stored {
            names,
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            chain,
            key_pem: key_pem.to_owned(),
        })
    }

    /// The stored certificate, if there is one.
    pub fn load(dir: &Path) -> Result<Option<Stored>, CertificateError> {
        let (chain_path, key_path) = (dir.join("chain.pem"), dir.join("key.pem"));
        let read = |p: &Path| match std::fs::read_to_string(p) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CertificateError::File {
                op: "read",
                path: p.to_owned(),
                source,
            }),
        };
        match (read(&chain_path)?, read(&key_path)?) {
            (Some(chain), Some(key)) => Ok(Some(Stored::parse(&chain_path, &chain, &key)?)),
            _ => Ok(None),
        }
    }

    /// Checks then writes `chain_pem` and `key_pem` into `dir`, the key first.
    pub fn save(dir: &Path, chain_pem: &str, key_pem: &str) -> Result<Stored, CertificateError> {
        let stored = Stored::parse(&dir.join("chain.pem"), chain_pem, key_pem)?;
        let file_err = |op, path: &Path| {
            let path = path.to_owned();
            move |source| CertificateError::File { op, path, source }
        };
        std::fs::create_dir_all(dir).map_err(file_err("create", dir))?;
        let key_path = dir.join("key.pem");
        crate::fsutil::write_atomic(&key_path, key_pem.as_bytes())
            .map_err(file_err("write", &key_path))?;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))
            .map_err(file_err("protect", &key_path))?;
        let chain_path = dir.join("chain.pem");
        crate::fsutil::write_atomic(&chain_path, chain_pem.as_bytes())
            .map_err(file_err("write", &chain_path))?;
        Ok(stored)
    }

    /// Two thirds into its lifetime.
    pub fn renew_at(&self) -> i64 {
        self.not_before + (self.not_after - self.not_before) * 2 / 3
    }

    pub fn view(&self) -> CertificateView {
        CertificateView {
            names: self.names.iter().cloned().collect(),
            issuer: self.issuer.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            renew_at: self.renew_at(),
        }
    }

    /// The key and chain as rustls serves them.
    pub fn certified(&self) -> Result<Arc<CertifiedKey>, CertificateError> {
        let path = Path::new("key.pem");
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| damaged(path, e))?;
        let signing =
            rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| damaged(path, e))?;
        Ok(Arc::new(CertifiedKey::new(self.chain.clone(), signing)))
    }

    /// The identifier ARI knows the certificate by, when it has an authority key identifier.
    pub fn ari_id(&self) -> Option<instant_acme::CertificateIdentifier<'static>> {
        let leaf = self.chain.first()?;
        instant_acme::CertificateIdentifier::try_from(leaf)
            .ok()
            .map(|id| id.into_owned())
    }
}
