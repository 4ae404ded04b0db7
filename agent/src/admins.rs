//! Administrators: first-boot setup, accounts, login sessions and the audit of what they do.
//!
//! Both the JSON API and the HTML pages call these functions, so the rules (setup once,
//! throttling, CSRF tokens, never removing the last admin, auditing) live in one place.
//! Every action that changes something is written to the audit log with its result.

use crate::auth::{self, Purpose, Throttle};
use crate::names::{BoxName, Language, Password, SetupCode, Username};
use crate::store::{AdminRow, NewAudit, SessionRow, Store, StoreError};
use std::net::IpAddr;

/// Who is acting: an admin with a session, or root (or a `panier` group member) on the local
/// socket.
#[derive(Debug, Clone)]
pub enum Actor {
    Admin(SessionRow),
    Local { uid: u32 },
}

impl Actor {
    /// The name written in the audit log.
    pub fn audit_name(&self) -> String {
        match self {
            Actor::Admin(s) => s.username.clone(),
            Actor::Local { uid: 0 } => "root (cli)".to_owned(),
            Actor::Local { uid } => format!("uid {uid} (cli)"),
        }
    }

    /// An audit entry for a successful `action` on `target` by this actor.
    pub fn audit_ok(&self, action: &'static str, target: &str) -> crate::store::NewAudit {
        crate::store::NewAudit {
            actor: self.audit_name(),
            action,
            target: target.to_owned(),
            result: "ok",
            detail: String::new(),
        }
    }

    pub fn session(&self) -> Option<&SessionRow> {
        match self {
            Actor::Admin(s) => Some(s),
            Actor::Local { .. } => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("setup is already done")]
    SetupDone,
    #[error("setup is not done yet")]
    SetupNotDone,
    #[error("the setup code is wrong")]
    WrongSetupCode,
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("too many failed attempts from this address; try again in {0} seconds")]
    Throttled(u64),
    #[error("an admin named {0} already exists")]
    UsernameTaken(String),
    #[error("there is no admin named {0}")]
    NoSuchAdmin(String),
    #[error("{0} is the last admin and cannot be removed")]
    LastAdmin(String),
    #[error("the current password is wrong")]
    WrongCurrentPassword,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the setup wizard submits.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time code shown on the box's screen and in the journal.
    pub code: String,
    pub box_name: BoxName,
    #[serde(default)]
    pub language: Language,
    pub username: Username,
    pub password: Password,
}

/// A new login session: the cookie's token and the CSRF token for forms and API calls.
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub username: String,
}

#[derive(Clone)]
pub struct Admins {
    store: Store,
    throttle: Throttle,
}

fn audit(
    actor: String,
    action: &'static str,
    target: &str,
    result: Result<(), &dyn std::fmt::Display>,
) -> NewAudit {
    let (result, detail) = match result {
        Ok(()) => ("ok", String::new()),
        Err(e) => ("refused", e.to_string()),
    };
    NewAudit {
        actor,
        action,
        target: target.to_owned(),
        result,
        detail,
    }
}

impl Admins {
    pub fn new(store: Store, throttle: Throttle) -> Admins {
        Admins { store, throttle }
    }

    /// Makes sure a setup code exists while setup is not done; returns it for the journal and
    /// the console. A provisioned code (from the configuration) is used when there is none yet.
    pub fn ensure_setup_code(
        &self,
        provisioned: Option<&SetupCode>,
    ) -> Result<Option<SetupCode>, StoreError> {
        if self.store.box_settings()?.setup_done {
            return Ok(None);
        }
        let fresh = provisioned.cloned().unwrap_or_else(SetupCode::generate);
        let stored = self.store.setting_or_insert("setup_code", fresh.as_str())?;
        Ok(SetupCode::parse(&stored).ok())
    }

    pub fn setup_code(&self) -> Result<Option<SetupCode>, StoreError> {
        Ok(self
            .store
            .setting("setup_code")?
            .and_then(|c| SetupCode::parse(&c).ok()))
    }

    pub fn setup_done(&self) -> Result<bool, StoreError> {
        Ok(self.store.box_settings()?.setup_done)
    }

    /// Checks the setup code before an action of the wizard other than setup itself (a
    /// whole-box restore, an install onto the internal disk): same throttle as setup; a wrong
    /// code is audited under `action`. The action itself is its domain's.
    pub fn check_setup_code(
        &self,
        code: &str,
        client: IpAddr,
        action: &'static str,
    ) -> Result<(), AdminError> {
        if self.setup_done()? {
            return Err(AdminError::SetupDone);
        }
        if let Err(wait) = self.throttle.check(Purpose::SetupCode, client) {
            return Err(AdminError::Throttled(wait.as_secs().max(1)));
        }
        let expected = self.setup_code()?;
        let typed = SetupCode::parse(code).ok();
        if matches!((&expected, &typed), (Some(e), Some(t)) if e.matches(t)) {
            self.throttle.success(Purpose::SetupCode, client);
            Ok(())
        } else {
            self.throttle.failure(Purpose::SetupCode, client);
            self.store.record(&audit(
                format!("anonymous@{client}"),
                action,
                "",
                Err(&"wrong setup code"),
            ))?;
            Err(AdminError::WrongSetupCode)
        }
    }

    /// Completes the setup wizard. Wrong codes are throttled per address; once done, setup
    /// answers [`AdminError::SetupDone`] for good.
    pub fn setup(&self, req: SetupRequest, client: IpAddr) -> Result<(), AdminError> {
        if self.setup_done()? {
            return Err(AdminError::SetupDone);
        }
        if let Err(wait) = self.throttle.check(Purpose::SetupCode, client) {
            return Err(AdminError::Throttled(wait.as_secs().max(1)));
        }
        let expected = self.setup_code()?;
        let typed = SetupCode::parse(&req.code).ok();
        let ok = matches!((&expected, &typed), (Some(e), Some(t)) if e.matches(t));
        let actor = format!("anonymous@{client}");
        if !ok {
            self.throttle.failure(Purpose::SetupCode, client);
            self.store.record(&audit(
                actor,
                "setup",
                req.box_name.as_str(),
                Err(&"wrong setup code"),
            ))?;
            return Err(AdminError::WrongSetupCode);
        }
        self.throttle.success(Purpose::SetupCode, client);
        let hash = auth::hash_password(&req.password);
        let entry = audit(actor, "setup", req.box_name.as_str(), Ok(()));
        match self.store.complete_setup(
            &req.box_name,
            req.language,
            req.username.as_str(),
            &hash,
            &entry,
        )? {
            Some(_) => {
                log::info!(user = req.username.as_str(); "setup done: box named {}, first admin {}", req.box_name, req.username);
                Ok(())
            }
            None => Err(AdminError::SetupDone),
        }
    }

    /// Deletes idle sessions; the daemon calls it every few minutes.
    pub fn expire_sessions(&self) -> Result<usize, StoreError> {
        self.store.expire_sessions(auth::IDLE_SECS)
    }

    /// Checks a username and password and opens a session.
    pub fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<NewSession, AdminError> {
        if !self.setup_done()? {
            return Err(AdminError::SetupNotDone);
        }
        if let Err(wait) = self.throttle.check(Purpose::Login, client) {
            return Err(AdminError::Throttled(wait.as_secs().max(1)));
        }
        let admin = self.store.admin_by_name(username)?;
        let hash = admin
            .as_ref()
            .map_or(auth::dummy_hash(), |a| a.password_hash.as_str());
        let ok = auth::verify_password(password, hash) && admin.is_some();
        let name_for_log: String = username
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let actor = format!("{name_for_log}@{client}");
        let Some(admin) = admin.filter(|_| ok) else {
            self.throttle.failure(Purpose::Login, client);
            self.store.record(&audit(
                actor,
                "login",
                "",
                Err(&"wrong username or password"),
            ))?;
            log::warn!(user = name_for_log.as_str(); "failed login from {client}");
            return Err(AdminError::WrongCredentials);
        };
        self.throttle.success(Purpose::Login, client);
        let (token, csrf) = (auth::random_token(), auth::random_token());
        self.store.insert_session(
            &auth::token_hash(&token),
            admin.id,
            &csrf,
            &client.to_string(),
        )?;
        self.store.record(&audit(actor, "login", "", Ok(())))?;
        Ok(NewSession {
            token,
            csrf,
            username: admin.username,
        })
    }

    /// The live session for a cookie token, refreshed at most once a minute.
    pub fn session(&self, token: &str) -> Result<Option<SessionRow>, StoreError> {
        let hash = auth::token_hash(token);
        let session = self.store.live_session(&hash, auth::IDLE_SECS)?;
        if let Some(s) = &session
            && crate::store::now() - s.last_seen >= 60
        {
            self.store.touch_session(&hash)?;
        }
        Ok(session)
    }

    pub fn logout(&self, actor: &Actor, everywhere: bool) -> Result<(), AdminError> {
        let Some(session) = actor.session() else {
            return Ok(());
        };
        if everywhere {
            self.store.delete_sessions_of(session.admin_id)?;
        } else {
            self.store.delete_session(&session.token_hash)?;
        }
        let action = if everywhere {
            "logout_everywhere"
        } else {
            "logout"
        };
        self.store
            .record(&audit(actor.audit_name(), action, "", Ok(())))?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<AdminRow>, StoreError> {
        self.store.admins()
    }

    pub fn add(
        &self,
        actor: &Actor,
        username: &Username,
        password: &Password,
    ) -> Result<(), AdminError> {
        let added = self
            .store
            .insert_admin(username.as_str(), &auth::hash_password(password))?;
        let result = if added {
            Ok(())
        } else {
            Err(AdminError::UsernameTaken(username.to_string()))
        };
        self.store.record(&audit(
            actor.audit_name(),
            "admin_add",
            username.as_str(),
            result.as_ref().map(|_| ()).map_err(|e| e as _),
        ))?;
        result
    }

    pub fn remove(&self, actor: &Actor, username: &str) -> Result<(), AdminError> {
        let result = match self.store.remove_admin(username)? {
            None => Err(AdminError::NoSuchAdmin(username.to_owned())),
            Some(false) => Err(AdminError::LastAdmin(username.to_owned())),
            Some(true) => Ok(()),
        };
        self.store.record(&audit(
            actor.audit_name(),
            "admin_remove",
            username,
            result.as_ref().map(|_| ()).map_err(|e| e as _),
        ))?;
        result
    }

    /// Changes a password. An admin changing their own password must give the current one;
    /// root on the local socket may reset anyone's. Other sessions of that admin end.
    pub fn change_password(
        &self,
        actor: &Actor,
        username: &str,
        current: Option<&str>,
        new: &Password,
    ) -> Result<(), AdminError> {
        let admin = self
            .store
            .admin_by_name(username)?
            .ok_or_else(|| AdminError::NoSuchAdmin(username.to_owned()))?;
        let own = actor.session().is_some_and(|s| s.admin_id == admin.id);
        let result =
            if own && !current.is_some_and(|c| auth::verify_password(c, &admin.password_hash)) {
                Err(AdminError::WrongCurrentPassword)
            } else {
                let keep = actor.session().map(|s| s.token_hash.as_str());
                self.store
                    .set_password(username, &auth::hash_password(new), keep)?;
                Ok(())
            };
        self.store.record(&audit(
            actor.audit_name(),
            "admin_passwd",
            username,
            result.as_ref().map(|_| ()).map_err(|e| e as _),
        ))?;
        result
    }

    pub fn set_language(&self, actor: &Actor, language: Language) -> Result<(), AdminError> {
        if let Some(s) = actor.session() {
            self.store
                .set_admin_language(s.admin_id, Some(language.code()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup_request(code: &str) -> SetupRequest {
        serde_json::from_value(serde_json::json!({
            "code": code, "box_name": "biblio", "language": "fr", "username": "camille", "password": "un mot de passe"
        }))
        .unwrap()
    }

    #[test]
    fn setup_once_then_login_and_manage() {
        let admins = Admins::new(Store::memory(), Throttle::default());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let code = admins.ensure_setup_code(None).unwrap().unwrap();
        assert!(matches!(
            admins.setup(setup_request("AAAAA-AAAAA"), ip),
            Err(AdminError::WrongSetupCode)
        ));
        admins.setup(setup_request(&code.display()), ip).unwrap();
        assert!(matches!(
            admins.setup(setup_request(&code.display()), ip),
            Err(AdminError::SetupDone)
        ));
        assert!(
            admins.setup_code().unwrap().is_none(),
            "the code is discarded"
        );

        let s = admins.login("camille", "un mot de passe", ip).unwrap();
        let actor = Actor::Admin(admins.session(&s.token).unwrap().unwrap());
        admins
            .add(
                &actor,
                &Username::parse("dominique").unwrap(),
                &Password::parse("autre mot de passe").unwrap(),
            )
            .unwrap();
        assert!(matches!(
            admins.remove(&actor, "nobody"),
            Err(AdminError::NoSuchAdmin(_))
        ));
        admins.remove(&actor, "dominique").unwrap();
        assert!(matches!(
            admins.remove(&actor, "camille"),
            Err(AdminError::LastAdmin(_))
        ));
        let log = Store::audit_after(&admins.store, 0, 100).unwrap();
        let actions: Vec<_> = log
            .iter()
            .map(|e| (e.action.as_str(), e.result.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                ("setup", "refused"),
                ("setup", "ok"),
                ("login", "ok"),
                ("admin_add", "ok"),
                ("admin_remove", "refused"),
                ("admin_remove", "ok"),
                ("admin_remove", "refused")
            ]
        );
    }
}
