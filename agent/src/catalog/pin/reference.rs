//! Image references as the engine reads them (`[registry/]repository:tag[@sha256:…]`), split
//! into what the registry HTTP API v2 asks: the registry's host, the repository path, the
//! tag and the digest.
//!
//! Docker's rules: the first path component is a registry when it holds a `.` or a `:` or
//! is `localhost`; otherwise the image is on Docker Hub (`docker.io`), whose API answers at
//! `registry-1.docker.io` and whose one-component repositories live under `library/`.

/// One image reference, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry as written (`docker.io` when none is).
    pub registry: String,
    /// The repository path on that registry (`library/nginx`).
    pub repository: String,
    pub tag: String,
    pub digest: Option<String>,
    /// The reference without its digest, as written (`nginx:1.30` stays `nginx:1.30`).
    pub tagged: String,
}

impl ImageRef {
    /// Splits `image`; `None` when it has no tag (the catalog's validation refuses those).
    pub fn parse(image: &str) -> Option<ImageRef> {
        let (tagged, digest) = match image.split_once('@') {
            Some((t, d)) => (t, Some(d.to_owned())),
            None => (image, None),
        };
        let slash = tagged.rfind('/').map(|i| i + 1).unwrap_or(0);
        let colon = tagged[slash..].rfind(':')? + slash;
        let (name, tag) = (&tagged[..colon], &tagged[colon + 1..]);
        if tag.is_empty() || name.is_empty() {
            return None;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ => ("docker.io".to_owned(), name.to_owned()),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        Some(ImageRef {
            registry,
            repository,
            tag: tag.to_owned(),
            digest,
            tagged: tagged.to_owned(),
        })
    }

    /// The host the registry's API answers at.
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" || self.registry == "index.docker.io" {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// A registry on this machine (loopback) speaks plain HTTP, as the engine expects of one
    /// (loopback registries are insecure registries by default); every other one HTTPS.
    pub fn plain_http(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(h, p)| {
                if p.bytes().all(|b| b.is_ascii_digit()) {
                    h
                } else {
                    self.registry.as_str()
                }
            });
        host == "localhost" || host == "[::1]" || host.starts_with("127.")
    }

    /// The image pinned to `digest`: `tagged@digest`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.tagged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_official_images_live_under_library() {
        let r = ImageRef::parse("docker.io/library/nginx:1.30.4-alpine").unwrap();
        assert_eq!(
            (r.api_host(), r.repository.as_str(), r.tag.as_str()),
            ("registry-1.docker.io", "library/nginx", "1.30.4-alpine")
        );
        let short = ImageRef::parse("nginx:1.30").unwrap();
        assert_eq!(short.repository, "library/nginx");
        assert_eq!(short.registry, "docker.io");
        let user = ImageRef::parse("deburau/galene:0.7.2").unwrap();
        assert_eq!(user.repository, "deburau/galene");
    }

    #[test]
    fn registries_with_ports_digests_and_loopback() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = ImageRef::parse(&format!("127.0.0.1:5000/panier-test/site:1@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "panier-test/site");
        assert_eq!(r.tag, "1");
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.tagged, "127.0.0.1:5000/panier-test/site:1");
        assert!(r.plain_http());
        assert_eq!(
            r.pinned("sha256:b"),
            "127.0.0.1:5000/panier-test/site:1@sha256:b"
        );
        let ghcr = ImageRef::parse("ghcr.io/mailman/web:0.5.2").unwrap();
        assert_eq!((ghcr.api_host(), ghcr.plain_http()), ("ghcr.io", false));
        assert!(ImageRef::parse("localhost:5000/x").is_none());
        assert!(ImageRef::parse("localhost/x:2").unwrap().plain_http());
    }
}
