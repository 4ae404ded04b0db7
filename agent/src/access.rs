//! The Access domain: how services are reached (their names, fixed ports and mDNS renames
//! from the proxy's table), the authority's fingerprint, and the public portal's texts and
//! logo. The Access page (`web::access`), `/api/v1/access` and the portal read it.
//!
//! Invariants: portal texts are trimmed and bounded ([`MAX_TITLE`], [`MAX_INTRO`]); a logo is
//! at most [`MAX_LOGO`] and must sniff as PNG, JPEG, SVG or WebP; every change is audited in
//! the same store transaction.

use crate::admins::Actor;
use crate::names::Language;
use crate::proxy::Proxy;
use crate::store::{MdnsRename, NewAudit, PortalTexts, StoreError};
use crate::tls::Tls;
use serde::Serialize;

pub const MAX_LOGO: usize = 512 << 10;
pub const MAX_TITLE: usize = 120;
pub const MAX_INTRO: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("a portal text is too long (title: {MAX_TITLE} characters, introduction: {MAX_INTRO})")]
    TextTooLong,
    #[error("the logo must be a PNG, JPEG, SVG or WebP image of at most 512 KiB")]
    InvalidLogo,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How one service is reached.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ServiceAccess {
    pub name: String,
    pub title: crate::proxy::Text,
    /// `http://<host>/` and `https://<host>/` work once the name resolves.
    pub host: String,
    /// The fixed port, for clients without mDNS (`http://<box address>:<port>/`).
    pub port: Option<u16>,
    /// Why the service does not work on its fixed port, when it does not (that port then
    /// says so instead of forwarding).
    pub fixed_port_refusal: Option<crate::proxy::Text>,
    /// Why the service keeps the address it was installed with (its address is part of its
    /// data), when it does: renaming the box or an mDNS rename does not move it.
    pub address_kept: Option<crate::proxy::Text>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccessReport {
    pub box_host: String,
    pub services: Vec<ServiceAccess>,
    /// Names another device took, and what the box announces instead.
    pub renames: Vec<MdnsRename>,
    /// The LAN interface names are announced on (none: mDNS is off).
    pub mdns_interface: Option<String>,
    /// SHA-256 of the box's certificate authority (none: HTTPS is off).
    pub ca_fingerprint: Option<String>,
}

/// The Access domain's handle.
#[derive(Clone)]
pub struct Access {
    proxy: Proxy,
    tls: Option<Tls>,
    mdns_interface: Option<String>,
}

fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.len() > 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if std::str::from_utf8(&bytes[..bytes.len().min(1024)]).is_ok_and(|s| s.contains("<svg"))
    {
        Some("image/svg+xml")
    } else {
        None
    }
}

impl Access {
    pub fn new(proxy: Proxy, tls: Option<Tls>, mdns_interface: Option<String>) -> Access {
        Access {
            proxy,
            tls,
            mdns_interface,
        }
    }

    pub fn report(&self) -> Result<AccessReport, StoreError> {
        let table = self.proxy.table();
        Ok(AccessReport {
            box_host: table.box_host.clone(),
            services: table
                .routes
                .iter()
                .map(|p| ServiceAccess {
                    name: p.route.name.clone(),
                    title: p.route.title.clone(),
                    host: p.host.clone(),
                    port: p.port,
                    fixed_port_refusal: p.route.fixed_port_refusal.clone(),
                    address_kept: p.route.address_kept.clone(),
                })
                .collect(),
            renames: self.proxy.store().mdns_renames()?,
            mdns_interface: self.mdns_interface.clone(),
            ca_fingerprint: self.tls.as_ref().map(|t| t.ca_fingerprint()),
        })
    }

    /// The names of the web entries the proxy routes now.
    pub fn route_names(&self) -> Vec<String> {
        self.proxy
            .table()
            .routes
            .iter()
            .map(|p| p.route.name.clone())
            .collect()
    }

    pub fn texts(&self, language: Language) -> Result<PortalTexts, StoreError> {
        Ok(self
            .proxy
            .store()
            .portal_texts(language.code())?
            .unwrap_or_default())
    }

    fn audit(actor: &Actor, action: &'static str, target: &str) -> NewAudit {
        NewAudit {
            actor: actor.audit_name(),
            action,
            target: target.to_owned(),
            result: "ok",
            detail: String::new(),
        }
    }

    pub fn set_texts(
        &self,
        actor: &Actor,
        language: Language,
        texts: PortalTexts,
    ) -> Result<(), AccessError> {
        let texts = PortalTexts {
            title: texts.title.trim().to_owned(),
            intro: texts.intro.trim().to_owned(),
        };
        if texts.title.chars().count() > MAX_TITLE || texts.intro.chars().count() > MAX_INTRO {
            return Err(AccessError::TextTooLong);
        }
        self.proxy.store().set_portal_texts(
            language.code(),
            &texts,
            &Self::audit(actor, "portal_texts", language.code()),
        )?;
        Ok(())
    }

    pub fn set_logo(&self, actor: &Actor, bytes: Option<&[u8]>) -> Result<(), AccessError> {
        let logo = match bytes {
            Some(b) if b.len() <= MAX_LOGO => {
                Some((sniff_image(b).ok_or(AccessError::InvalidLogo)?, b))
            }
            Some(_) => return Err(AccessError::InvalidLogo),
            None => None,
        };
        let action = if logo.is_some() {
            "portal_logo_set"
        } else {
            "portal_logo_remove"
        };
        self.proxy
            .store()
            .set_portal_logo(logo, &Self::audit(actor, action, "portal"))?;
        Ok(())
    }

    /// Forgets the renames so the original names are tried again (the other device left).
    pub fn clear_renames(&self, actor: &Actor) -> Result<(), AccessError> {
        self.proxy.store().clear_mdns_renames()?;
        self.proxy
            .store()
            .record(&Self::audit(actor, "mdns_renames_clear", "mdns"))?;
        self.proxy.wake();
        Ok(())
    }
}
