//! The project's release signatures: minisign (ed25519) signatures made with the release key,
//! checked against its public half, which the image carries (`/usr/share/panier/release.pub`,
//! the read-only root: nothing the box downloads or is handed on a stick can replace it).
//!
//! Owns: loading the public key, and checking a signature over bytes in memory (a channel
//! index, a pack's manifest) or over a file read as a stream (a bundle, an image pack), so a
//! file of hundreds of megabytes is never held in memory. Signatures are minisign's own text
//! format (`minisign -S`, Debian's `minisign` in the tests), prehashed (BLAKE2b-512, the
//! default of minisign 0.10 and later); legacy (non-prehashed) signatures are accepted only
//! for data in memory, as minisign-verify allows.
//!
//! Shared by OS updates (`update`) and the offline packs on USB sticks: one key, one check.
//! The trusted comment is authenticated with the signature and returned, for callers that
//! put facts in it.
//!
//! Limits: one release key; replacing it needs an OS update signed with the old one (which
//! then carries the new public key).

use crate::i18n::Messages;
use minisign_verify::{PublicKey, Signature};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Where the image keeps the release key's public half.
pub const RELEASE_KEY: &str = "/usr/share/panier/release.pub";

#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot read the release key {path}: {source}")]
    KeyUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the release key {path} is not a minisign public key")]
    KeyInvalid { path: PathBuf },
    #[error("the signature of {what} is not a minisign signature")]
    Malformed { what: String },
    #[error("{what} is signed with another key than the project's release key")]
    WrongKey { what: String },
    #[error("the signature of {what} does not match its content: it was changed after signing")]
    Mismatch { what: String },
    #[error("cannot read {path} to check its signature: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SignatureError {
    /// A stable key per variant (`error.<key>` in the message catalogs).
    pub fn key(&self) -> &'static str {
        match self {
            SignatureError::KeyUnreadable { .. } => "signature_key_unreadable",
            SignatureError::KeyInvalid { .. } => "signature_key_invalid",
            SignatureError::Malformed { .. } => "signature_malformed",
            SignatureError::WrongKey { .. } => "signature_wrong_key",
            SignatureError::Mismatch { .. } => "signature_mismatch",
            SignatureError::Read { .. } => "signature_read",
        }
    }

    /// The error in the language of `t`.
    pub fn said(&self, t: &Messages) -> String {
        let (what, path);
        let args: &[(&str, &str)] = match self {
            SignatureError::KeyUnreadable { path: p, .. }
            | SignatureError::KeyInvalid { path: p }
            | SignatureError::Read { path: p, .. } => {
                path = p.display().to_string();
                &[("path", &path)]
            }
            SignatureError::Malformed { what: w }
            | SignatureError::WrongKey { what: w }
            | SignatureError::Mismatch { what: w } => {
                what = w.clone();
                &[("what", &what)]
            }
        };
        t.fmt(&format!("error.{}", self.key()), args)
    }
}

/// The release key's public half.
#[derive(Clone, Debug)]
pub struct ReleaseKey {
    key: PublicKey,
}

impl ReleaseKey {
    /// Reads a minisign public key file (`minisign -G` writes one: a comment line, then the key).
    pub fn load(path: &Path) -> Result<ReleaseKey, SignatureError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SignatureError::KeyUnreadable {
                path: path.to_owned(),
                source,
            })?;
        Self::parse(&text).ok_or_else(|| SignatureError::KeyInvalid {
            path: path.to_owned(),
        })
    }

    /// A key from the text of a public key file, or from its base64 line alone.
    pub fn parse(text: &str) -> Option<ReleaseKey> {
        PublicKey::decode(text.trim())
            .or_else(|_| PublicKey::from_base64(text.trim()))
            .ok()
            .map(|key| ReleaseKey { key })
    }

    /// Checks `signature` (the text of a `.minisig` file) over `data`; `what` names the data
    /// in messages. Returns the signature's trusted comment.
    pub fn verify(
        &self,
        what: &str,
        data: &[u8],
        signature: &str,
    ) -> Result<String, SignatureError> {
        let sig = decode(what, signature)?;
        self.key
            .verify(data, &sig, true)
            .map_err(|e| refusal(what, e))?;
        Ok(sig.trusted_comment().to_owned())
    }

    /// Checks `signature` over the file at `path`, read as a stream (prehashed signatures
    /// only). Returns the signature's trusted comment.
    pub fn verify_file(
        &self,
        what: &str,
        path: &Path,
        signature: &str,
    ) -> Result<String, SignatureError> {
        let sig = decode(what, signature)?;
        let mut verifier = self.key.verify_stream(&sig).map_err(|e| refusal(what, e))?;
        let read_error = |source| SignatureError::Read {
            path: path.to_owned(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(read_error)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).map_err(read_error)?;
            if n == 0 {
                break;
            }
            verifier.update(&buf[..n]);
        }
        verifier.finalize().map_err(|e| refusal(what, e))?;
        Ok(sig.trusted_comment().to_owned())
    }
}

fn decode(what: &str, signature: &str) -> Result<Signature, SignatureError> {
    Signature::decode(signature.trim()).map_err(|_| SignatureError::Malformed {
        what: what.to_owned(),
    })
}

fn refusal(what: &str, e: minisign_verify::Error) -> SignatureError {
    let what = what.to_owned();
    match e {
        minisign_verify::Error::UnexpectedKeyId => SignatureError::WrongKey { what },
        minisign_verify::Error::InvalidEncoding
        | minisign_verify::Error::UnexpectedAlgorithm
        | minisign_verify::Error::UnsupportedAlgorithm
        | minisign_verify::Error::UnsupportedLegacyMode => SignatureError::Malformed { what },
        minisign_verify::Error::InvalidSignature | minisign_verify::Error::IoError(_) => {
            SignatureError::Mismatch { what }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Signatures made by Debian's `minisign` 0.11 (`minisign -G -W`, `minisign -S -m`):
    //! testdata/signing/ holds two throwaway keys' public halves and signatures of `data.txt`.
    use super::*;
    use crate::i18n::messages;
    use crate::names::Language;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata/signing")
            .join(name)
    }

    fn read(name: &str) -> String {
        std::fs::read_to_string(testdata(name)).unwrap()
    }

    #[test]
    fn a_signature_by_the_release_key_verifies_in_memory_and_as_a_stream() {
        let key = ReleaseKey::load(&testdata("release.pub")).unwrap();
        let data = std::fs::read(testdata("data.txt")).unwrap();
        let sig = read("data.txt.minisig");
        let comment = key.verify("data.txt", &data, &sig).unwrap();
        assert!(comment.contains("data.txt"), "{comment}");
        key.verify_file("data.txt", &testdata("data.txt"), &sig)
            .unwrap();
    }

    #[test]
    fn changed_data_another_key_and_garbage_are_refused_by_kind() {
        let key = ReleaseKey::load(&testdata("release.pub")).unwrap();
        let mut data = std::fs::read(testdata("data.txt")).unwrap();
        data[0] ^= 1;
        let sig = read("data.txt.minisig");
        assert!(matches!(
            key.verify("data.txt", &data, &sig),
            Err(SignatureError::Mismatch { .. })
        ));
        let other = read("data.txt.other.minisig");
        let original = std::fs::read(testdata("data.txt")).unwrap();
        let e = key.verify("data.txt", &original, &other).unwrap_err();
        assert!(matches!(e, SignatureError::WrongKey { .. }), "{e}");
        assert!(matches!(
            key.verify("data.txt", &original, "not a signature"),
            Err(SignatureError::Malformed { .. })
        ));
        assert!(matches!(
            ReleaseKey::load(&testdata("data.txt")),
            Err(SignatureError::KeyInvalid { .. })
        ));
        let fr = e.said(messages(Language::Fr));
        assert!(fr.contains("data.txt") && fr.contains("clé"), "{fr}");
    }

    #[test]
    fn a_changed_trusted_comment_is_refused() {
        let key = ReleaseKey::load(&testdata("release.pub")).unwrap();
        let data = std::fs::read(testdata("data.txt")).unwrap();
        let sig = read("data.txt.minisig").replace("trusted comment: ", "trusted comment: x");
        assert!(matches!(
            key.verify("data.txt", &data, &sig),
            Err(SignatureError::Mismatch { .. })
        ));
    }
}
