//! The Firewall page: what is open to whom and why, per-service exposure, the LAN zone, SSH,
//! the change waiting for confirmation, the live table and the latest blocked attempts.
//!
//! A change posted here answers with `Connection: close` and a redirect, so the browser comes
//! back over a new connection: the page that then shows the confirm button proves the new
//! rules let the admin in.

use super::PageActor;
use super::{Layout, PageError, check_csrf, render};
use crate::firewall::blocked::BlockedAttempt;
use crate::firewall::overview::{FirewallOverview, overview};
use crate::firewall::{AppName, Change, Exposure, Firewall, FirewallError, Subnet, blocking};
use crate::http::ApiError;
use crate::http::extract::Peer;
use crate::http::language::admin_language;
use crate::http::time::{format_clock, format_time};
use crate::i18n::{Messages, messages};
use crate::status::Status;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;

pub struct ServiceView {
    pub app: String,
    pub ports: String,
    pub exposure: &'static str,
}

pub struct BlockedView {
    pub at: String,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "firewall.html")]
struct FirewallPage {
    t: &'static Messages,
    layout: Layout,
    o: FirewallOverview,
    services: Vec<ServiceView>,
    lan_override: String,
    detected: String,
    pending: String,
    live: Option<String>,
    blocked: Vec<BlockedView>,
    notice: String,
}

#[derive(serde::Deserialize)]
pub struct Notice {
    #[serde(default)]
    done: String,
}

pub async fn page(
    PageActor(actor): PageActor,
    State(fw): State<Firewall>,
    State(status): State<Status>,
    Query(q): Query<Notice>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let t = messages(lang);
    let fw2 = fw.clone();
    let (o, live) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        Ok((overview(&fw2, lang)?, fw2.live().ok().flatten()))
    })
    .await
    .map_err(|e| PageError::new(ApiError::BadRequest(e.to_string()), lang))?
    .map_err(|e| PageError::new(e, lang))?;
    let blocked: Vec<BlockedAttempt> =
        tokio::task::spawn_blocking(|| crate::firewall::blocked::latest(20))
            .await
            .unwrap_or_default();
    let join = |l: &[Subnet]| {
        l.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let services = o
        .state
        .services
        .iter()
        .map(|s| ServiceView {
            app: s.app.clone(),
            ports: s
                .ports
                .iter()
                .map(|(p, n)| format!("{n}/{}", p.as_str()))
                .chain(
                    s.proxy_port
                        .map(|n| t.fmt("firewall.proxy_port", &[("port", &n.to_string())])),
                )
                .collect::<Vec<_>>()
                .join(", "),
            exposure: s.exposure.as_str(),
        })
        .collect();
    let layout = Layout::new(
        t,
        "firewall.title",
        "/admin/firewall",
        status.box_name().as_deref(),
    )
    .for_admin(t, &actor);
    let page = FirewallPage {
        t,
        lan_override: o
            .policy
            .lan_override
            .as_deref()
            .map(join)
            .unwrap_or_default(),
        detected: join(&o.detected_lan),
        pending: o
            .revert_at
            .map(|at| t.fmt("firewall.pending", &[("time", &format_clock(at))]))
            .unwrap_or_default(),
        live,
        blocked: blocked
            .iter()
            .map(|b| BlockedView {
                at: format_time(b.at),
                from: b.source.clone(),
                to: format!(
                    "{}{} {}",
                    b.destination,
                    b.port.map(|p| format!(":{p}")).unwrap_or_default(),
                    b.protocol
                ),
            })
            .collect(),
        notice: if q.done == "reload" {
            t.get("firewall.reloaded").to_owned()
        } else {
            String::new()
        },
        services,
        layout,
        o,
    };
    Ok(render(&page))
}

pub async fn submit(
    PageActor(actor): PageActor,
    Peer(peer): Peer,
    State(fw): State<Firewall>,
    State(status): State<Status>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let lang = admin_language(&actor, status.box_language());
    let session = actor
        .session()
        .ok_or_else(|| PageError::new(ApiError::Forbidden, lang))?;
    let field = |k: &str| {
        form.get(k)
            .map(String::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    check_csrf(&field("csrf"), &session.csrf).map_err(|e| PageError::new(e, lang))?;
    let err = |e: FirewallError| PageError::new(e, lang);
    let change = match field("action").as_str() {
        "exposure" => Some(Change::Exposure {
            app: AppName::parse(&field("app")).map_err(|e| err(e.into()))?,
            exposure: Exposure::parse(&field("exposure")).map_err(|e| err(e.into()))?,
        }),
        "lan" => {
            let text = field("subnets");
            let list = if text.is_empty() {
                None
            } else {
                Some(
                    text.split([',', ' '])
                        .filter(|s| !s.is_empty())
                        .map(Subnet::parse)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| err(e.into()))?,
                )
            };
            Some(Change::Lan(list))
        }
        "ssh" => Some(Change::Ssh(field("ssh") == "on")),
        "confirm" => {
            let a = actor.clone();
            blocking(move || fw.confirm(&a, peer)).await.map_err(err)?;
            return Ok(Redirect::to("/admin/firewall").into_response());
        }
        "reload" => {
            let a = actor.clone();
            blocking(move || fw.reload_as(&a)).await.map_err(err)?;
            return Ok(Redirect::to("/admin/firewall?done=reload").into_response());
        }
        _ => None,
    };
    let Some(change) = change else {
        return Err(PageError::new(
            ApiError::BadRequest("unknown action".into()),
            lang,
        ));
    };
    let a = actor.clone();
    blocking(move || fw.change(&a, peer, change))
        .await
        .map_err(err)?;
    let mut r = Redirect::to("/admin/firewall").into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(r)
}
