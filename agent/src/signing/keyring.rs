//! Keyrings: several minisign keys trusted for one purpose, beside the one release key of
//! `signing` (which OS updates use alone). Image packs (`pack`) trust the release key, the
//! image's keys for packs and the keys an admin enrolled (a workshop's, a host's).
//!
//! Owns: parsing public keys and signatures, the keyring of one [`Purpose`] (the keys shipped
//! in the image under `<keys dir>/<purpose>/*.pub`, plus keys an admin enrolled, which the
//! caller passes in), verification, and — for a workshop's machine — key generation and
//! signing (the `minisign` crate; the box itself only verifies, with `minisign-verify`).
//! Files are compatible with the `minisign` tool both ways: `minisign -V -p KEY.pub -m
//! pack.json` checks what `panier pack create` signed, and `minisign -S` signs a pack that a
//! box accepts.
//!
//! Invariants: only prehashed signatures are accepted (minisign's default since 0.8; the
//! legacy mode hashes nothing and is refused); the trusted comment is covered by the global
//! signature, so it is returned as signed text. A key is trusted for one purpose only: a
//! workshop's pack key enrolled by an admin can never sign an OS update.
//! Limits: no revocation list; an admin removes an enrolled key, a key in the image goes with
//! an image update.

use serde::Serialize;
use std::fmt;
use std::path::Path;

/// What a key may sign. Each purpose has its own folder of keys in the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Image packs (`panier pack create`).
    Packs,
    /// OS update bundles.
    Updates,
}

impl Purpose {
    pub fn dir_name(self) -> &'static str {
        match self {
            Purpose::Packs => "packs",
            Purpose::Updates => "updates",
        }
    }
}

/// Where the image's keys for each purpose live: `/usr/share/panier/keys/<purpose>/*.pub`
/// (the release key, `super::RELEASE_KEY`, is added by callers that trust it).
pub const IMAGE_KEYS_DIR: &str = "/usr/share/panier/keys";

/// A key id as minisign prints it: the 8-byte key number, little-endian, 16 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    fn from_bytes(b: &[u8]) -> KeyId {
        KeyId(b.iter().rev().map(|x| format!("{x:02X}")).collect())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("the signature file is missing or unreadable: {0}")]
    Missing(String),
    #[error("the signature is not in minisign's format")]
    Malformed,
    #[error(
        "the signature uses minisign's legacy mode, which is not accepted (sign again with minisign 0.8 or later, or panier pack create)"
    )]
    Legacy,
    #[error("signed by the key {0}, which this box does not trust")]
    UnknownKey(KeyId),
    #[error("the signature by the key {0} does not match the data: it was changed after signing")]
    Invalid(KeyId),
    #[error(
        "'{0}' is not a minisign public key (the second line of a .pub file, or the whole file)"
    )]
    BadPublicKey(String),
    #[error("cannot sign: {0}")]
    Signing(String),
}

impl KeyringError {
    /// A stable key for the API and the message catalog (`error.<key>`).
    pub fn key(&self) -> &'static str {
        match self {
            KeyringError::Missing(_) => "keyring_signature_missing",
            KeyringError::Malformed => "keyring_signature_malformed",
            KeyringError::Legacy => "keyring_signature_legacy",
            KeyringError::UnknownKey(_) => "keyring_unknown_key",
            KeyringError::Invalid(_) => "keyring_signature_invalid",
            KeyringError::BadPublicKey(_) => "keyring_public_key_invalid",
            KeyringError::Signing(_) => "keyring_signing_failed",
        }
    }
}

/// A public key, parsed: its id and its base64 form (what is stored and shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PublicKey {
    pub id: KeyId,
    /// The key's one line of base64 (`RWQ…`), as in the second line of a `.pub` file.
    pub base64: String,
}

impl PublicKey {
    /// Parses a `.pub` file's content (`untrusted comment:` line then the key) or the key's
    /// base64 line alone.
    pub fn parse(text: &str) -> Result<PublicKey, KeyringError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
            .unwrap_or("");
        let bad = || KeyringError::BadPublicKey(line.chars().take(60).collect());
        minisign_verify::PublicKey::from_base64(line).map_err(|_| bad())?;
        let raw = base64_decode(line).ok_or_else(bad)?;
        if raw.len() != 42 || &raw[..2] != b"Ed" {
            return Err(bad());
        }
        Ok(PublicKey {
            id: KeyId::from_bytes(&raw[2..10]),
            base64: line.to_owned(),
        })
    }

    /// The `.pub` file's content.
    pub fn to_file(&self, comment: &str) -> String {
        format!("untrusted comment: {comment}\n{}\n", self.base64)
    }
}

/// Where a trusted key comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// Shipped in the system image (the project's keys).
    Image {
        #[schema(value_type = String)]
        file: std::path::PathBuf,
    },
    /// Enrolled on this box (by an admin, or by the workshop's install).
    Enrolled { by: String, at: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TrustedKey {
    pub key: PublicKey,
    pub name: String,
    pub origin: Origin,
}

/// The keys trusted for one purpose.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub keys: Vec<TrustedKey>,
}

/// What a good signature tells: who signed, and the trusted comment (signed text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub key: TrustedKey,
    pub trusted_comment: String,
}

impl Keyring {
    /// The image's keys for `purpose` (`<dir>/<purpose>/*.pub`; a missing folder is an
    /// empty one, a file that is not a key is logged and skipped) followed by `enrolled`.
    /// `release`: the release key's file, trusted too when it exists.
    pub fn load(
        dir: &Path,
        purpose: Purpose,
        release: Option<&Path>,
        enrolled: Vec<TrustedKey>,
    ) -> Keyring {
        let folder = dir.join(purpose.dir_name());
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .map(|r| r.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "pub"));
        files.sort();
        files.extend(release.filter(|r| r.is_file()).map(Path::to_owned));
        let mut keys = Vec::new();
        for file in files {
            match std::fs::read_to_string(&file)
                .map_err(|e| KeyringError::Missing(e.to_string()))
                .and_then(|t| PublicKey::parse(&t))
            {
                Ok(key) => keys.push(TrustedKey {
                    key,
                    name: file
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    origin: Origin::Image { file: file.clone() },
                }),
                Err(e) => log::warn!("ignoring the key file {}: {e}", file.display()),
            }
        }
        keys.extend(enrolled);
        Keyring { keys }
    }

    /// Checks `signature` (a `.minisig` file's text) over `data` against these keys.
    pub fn verify(&self, data: &[u8], signature: &str) -> Result<Verified, KeyringError> {
        let id = signature_key_id(signature)?;
        let sig =
            minisign_verify::Signature::decode(signature).map_err(|_| KeyringError::Malformed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.key.id == id)
            .ok_or_else(|| KeyringError::UnknownKey(id.clone()))?;
        let public = minisign_verify::PublicKey::from_base64(&key.key.base64)
            .map_err(|_| KeyringError::BadPublicKey(key.key.base64.clone()))?;
        match public.verify(data, &sig, false) {
            Ok(()) => Ok(Verified {
                key: key.clone(),
                trusted_comment: sig.trusted_comment().to_owned(),
            }),
            Err(minisign_verify::Error::UnexpectedAlgorithm)
            | Err(minisign_verify::Error::UnsupportedLegacyMode) => Err(KeyringError::Legacy),
            Err(_) => Err(KeyringError::Invalid(id)),
        }
    }
}

/// The key id a signature names (its second line), before any key is looked up.
pub fn signature_key_id(signature: &str) -> Result<KeyId, KeyringError> {
    let line = signature.lines().nth(1).ok_or(KeyringError::Malformed)?;
    let raw = base64_decode(line.trim()).ok_or(KeyringError::Malformed)?;
    if raw.len() != 74 {
        return Err(KeyringError::Malformed);
    }
    if &raw[..2] != b"ED" {
        return Err(KeyringError::Legacy);
    }
    Ok(KeyId::from_bytes(&raw[2..10]))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// A new key pair for a workshop: the secret key file's content (not encrypted: the
/// workshop keeps it like any signing key, readable by root only) and the public key.
pub fn generate(comment: &str) -> Result<(String, PublicKey), KeyringError> {
    let pair = minisign::KeyPair::generate_unencrypted_keypair()
        .map_err(|e| KeyringError::Signing(e.to_string()))?;
    let secret = pair
        .sk
        .to_box(Some(comment))
        .map_err(|e| KeyringError::Signing(e.to_string()))?
        .to_string();
    let public = PublicKey::parse(&pair.pk.to_base64())?;
    Ok((secret, public))
}

/// Signs `data` with the secret key file's content `secret` (from [`generate`] or
/// `minisign -G -W`; an encrypted key needs `password`). Returns the `.minisig` text.
pub fn sign(
    secret: &str,
    password: Option<String>,
    data: &[u8],
    trusted_comment: &str,
) -> Result<String, KeyringError> {
    let boxed = minisign::SecretKeyBox::from_string(secret)
        .map_err(|e| KeyringError::Signing(format!("the secret key cannot be read: {e}")))?;
    let sk = match password {
        Some(p) => boxed.into_secret_key(Some(p)),
        None => boxed.into_unencrypted_secret_key(),
    }
    .map_err(|e| KeyringError::Signing(format!("the secret key cannot be opened: {e}")))?;
    let sig = minisign::sign(None, &sk, data, Some(trusted_comment), None)
        .map_err(|e| KeyringError::Signing(e.to_string()))?;
    Ok(sig.into_string())
}

/// The public half of a secret key file's content.
pub fn public_of(secret: &str, password: Option<String>) -> Result<PublicKey, KeyringError> {
    let boxed = minisign::SecretKeyBox::from_string(secret)
        .map_err(|e| KeyringError::Signing(e.to_string()))?;
    let sk = match password {
        Some(p) => boxed.into_secret_key(Some(p)),
        None => boxed.into_unencrypted_secret_key(),
    }
    .map_err(|e| KeyringError::Signing(e.to_string()))?;
    let pk = minisign::PublicKey::from_secret_key(&sk)
        .map_err(|e| KeyringError::Signing(e.to_string()))?;
    PublicKey::parse(&pk.to_base64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(key: &PublicKey) -> Keyring {
        Keyring {
            keys: vec![TrustedKey {
                key: key.clone(),
                name: "atelier".into(),
                origin: Origin::Enrolled {
                    by: "test".into(),
                    at: 0,
                },
            }],
        }
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_not_after_a_change() {
        let (secret, public) = generate("atelier").unwrap();
        let sig = sign(&secret, None, b"index", "pack of 2026-12-02").unwrap();
        assert_eq!(signature_key_id(&sig).unwrap(), public.id);
        let ok = ring(&public).verify(b"index", &sig).unwrap();
        assert_eq!(ok.trusted_comment, "pack of 2026-12-02");
        assert_eq!(
            ring(&public).verify(b"indeX", &sig),
            Err(KeyringError::Invalid(public.id.clone()))
        );
        let (_, other) = generate("autre").unwrap();
        assert_eq!(
            ring(&other).verify(b"index", &sig),
            Err(KeyringError::UnknownKey(public.id.clone()))
        );
        // The trusted comment is signed too.
        let forged = sig.replace("pack of 2026-12-02", "pack of 2027-01-01");
        assert_eq!(
            ring(&public).verify(b"index", &forged),
            Err(KeyringError::Invalid(public.id.clone()))
        );
        assert_eq!(public_of(&secret, None).unwrap(), public);
    }

    #[test]
    fn public_keys_parse_from_a_pub_file_or_its_line_and_odd_text_is_refused() {
        let (_, public) = generate("x").unwrap();
        let file = public.to_file("minisign public key");
        assert_eq!(PublicKey::parse(&file).unwrap(), public);
        assert_eq!(PublicKey::parse(&public.base64).unwrap(), public);
        assert!(PublicKey::parse("RWQ not a key").is_err());
        assert!(PublicKey::parse("").is_err());
        assert_eq!(public.id.as_str().len(), 16);
        assert_eq!(
            signature_key_id("untrusted comment: x\nnot base64!\n"),
            Err(KeyringError::Malformed)
        );
    }
}
