//! API errors: one enum, turned into HTTP responses in one exhaustive `match`.
//!
//! Every error answer is JSON `{"error": "<stable key>", "message": "<for people>"}` (plus
//! `retry_after_secs` when throttled). Internal failures are logged with their context and
//! shown only as `internal`.

use crate::access::AccessError;
use crate::admins::AdminError;
use crate::apps::AppError;
use crate::backup::BackupError;
use crate::firewall::FirewallError;
use crate::install::InstallError;
use crate::jobs::JobError;
use crate::store::StoreError;
use crate::update::UpdateError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("log in first")]
    Unauthorized,
    #[error("this action needs root on the box")]
    Forbidden,
    #[error("the CSRF token is missing or wrong; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("there is nothing at this address")]
    NotFound,
    #[error("the request body is larger than 1 MiB")]
    TooLarge,
    #[error("the agent is in diagnostic mode: its database could not be used")]
    Diagnostic,
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Firewall(#[from] FirewallError),
    #[error(transparent)]
    Install(#[from] InstallError),
    #[error(transparent)]
    Pack(#[from] crate::pack::PackError),
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error(transparent)]
    Reach(#[from] crate::reach::ReachError),
    #[error(transparent)]
    Relay(#[from] crate::reach::relay::RelayError),
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine key, such as `setup_done` or `unauthorized`.
    pub error: &'static str,
    /// What went wrong, for people.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// Status and stable key: the one place that decides them.
    pub fn status_and_key(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf_invalid"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            ApiError::Diagnostic => (StatusCode::SERVICE_UNAVAILABLE, "diagnostic_mode"),
            ApiError::Admin(e) => match e {
                AdminError::SetupDone => (StatusCode::CONFLICT, "setup_done"),
                AdminError::SetupNotDone => (StatusCode::CONFLICT, "setup_not_done"),
                AdminError::WrongSetupCode => (StatusCode::FORBIDDEN, "setup_code_wrong"),
                AdminError::WrongCredentials => (StatusCode::UNAUTHORIZED, "login_failed"),
                AdminError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
                AdminError::UsernameTaken(_) => (StatusCode::CONFLICT, "username_taken"),
                AdminError::NoSuchAdmin(_) => (StatusCode::NOT_FOUND, "admin_not_found"),
                AdminError::LastAdmin(_) => (StatusCode::CONFLICT, "last_admin"),
                AdminError::WrongCurrentPassword => {
                    (StatusCode::FORBIDDEN, "current_password_wrong")
                }
                AdminError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Backup(e) => {
                let status = match e {
                    BackupError::NoSuchTarget(_) | BackupError::NoSuchSnapshot(_) => {
                        StatusCode::NOT_FOUND
                    }
                    BackupError::TargetExists(_) | BackupError::Busy | BackupError::NoTarget => {
                        StatusCode::CONFLICT
                    }
                    BackupError::BadName(_)
                    | BackupError::Target(crate::backup::target::TargetError::Invalid(_))
                    | BackupError::Target(crate::backup::target::TargetError::Field(_)) => {
                        StatusCode::BAD_REQUEST
                    }
                    BackupError::Target(crate::backup::target::TargetError::Missing(_)) => {
                        StatusCode::CONFLICT
                    }
                    BackupError::Restic { source, .. } => match source {
                        crate::backup::restic::ResticError::WrongPassword => StatusCode::FORBIDDEN,
                        crate::backup::restic::ResticError::NoRepository(_) => {
                            StatusCode::NOT_FOUND
                        }
                        crate::backup::restic::ResticError::TargetFull
                        | crate::backup::restic::ResticError::Unreachable(_) => {
                            StatusCode::CONFLICT
                        }
                        crate::backup::restic::ResticError::NotInstalled(_)
                        | crate::backup::restic::ResticError::Failed { .. } => {
                            StatusCode::BAD_GATEWAY
                        }
                    },
                    BackupError::NoBoxState => StatusCode::NOT_FOUND,
                    BackupError::Confined(_) => StatusCode::UNPROCESSABLE_ENTITY,
                    BackupError::Hook { .. }
                    | BackupError::Target(crate::backup::target::TargetError::Command { .. })
                    | BackupError::Failed(_) => StatusCode::BAD_GATEWAY,
                    BackupError::Io { .. } | BackupError::Store(_) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                (
                    status,
                    if status == StatusCode::INTERNAL_SERVER_ERROR {
                        "internal"
                    } else {
                        e.key()
                    },
                )
            }
            ApiError::Access(e) => match e {
                AccessError::TextTooLong => (StatusCode::BAD_REQUEST, "portal_text_too_long"),
                AccessError::InvalidLogo => (StatusCode::BAD_REQUEST, "portal_logo_invalid"),
                AccessError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::App(e) => match e {
                AppError::NotInCatalog(_) => (StatusCode::NOT_FOUND, "app_not_in_catalog"),
                AppError::NotInstalled(_) => (StatusCode::NOT_FOUND, "app_not_installed"),
                AppError::AlreadyInstalled(_) => (StatusCode::CONFLICT, "app_already_installed"),
                AppError::Setting(_) => (StatusCode::BAD_REQUEST, "app_setting_invalid"),
                AppError::DiskLow { .. } => (StatusCode::INSUFFICIENT_STORAGE, "disk_low"),
                AppError::Busy(JobError::Busy { .. }) => (StatusCode::CONFLICT, "app_busy"),
                AppError::Busy(JobError::Store(_)) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
                AppError::ConfirmDelete(_) => (StatusCode::BAD_REQUEST, "app_confirm_delete"),
                AppError::UpToDate { .. } => (StatusCode::CONFLICT, "app_up_to_date"),
                AppError::UpdateRefused { .. } => (StatusCode::CONFLICT, "app_update_refused"),
                AppError::Step { .. } => (StatusCode::BAD_GATEWAY, "app_step_failed"),
                AppError::EngineDown(_) => (StatusCode::SERVICE_UNAVAILABLE, "engine_down"),
                AppError::Engine { .. } => (StatusCode::BAD_GATEWAY, "engine_refused"),
                AppError::NotReady { .. } => (StatusCode::BAD_GATEWAY, "app_not_ready"),
                AppError::NoSuchContainer { .. } => {
                    (StatusCode::NOT_FOUND, "app_no_such_container")
                }
                AppError::BadManifest { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                AppError::SafetyBackup { .. } => (StatusCode::BAD_GATEWAY, "app_safety_backup"),
                AppError::Io { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                AppError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                AppError::Pack { error, .. } => pack_status(error),
            },
            ApiError::Firewall(e) => match e {
                FirewallError::Invalid(invalid) => (StatusCode::BAD_REQUEST, invalid.key),
                FirewallError::WouldCutAdmin { .. } => {
                    (StatusCode::CONFLICT, "firewall_would_cut_admin")
                }
                FirewallError::Refused { .. } => {
                    (StatusCode::UNPROCESSABLE_ENTITY, "firewall_refused")
                }
                FirewallError::Backend(_) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "firewall_unavailable")
                }
                FirewallError::Disabled => (StatusCode::CONFLICT, "firewall_disabled"),
                FirewallError::NothingPending => (StatusCode::CONFLICT, "firewall_nothing_pending"),
                FirewallError::NotFresh => (StatusCode::CONFLICT, "firewall_not_fresh"),
                FirewallError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Install(e) => match e {
                InstallError::NotOffered(_) => (StatusCode::CONFLICT, "install_not_offered"),
                InstallError::UnknownDisk(_) => (StatusCode::NOT_FOUND, "install_disk_unknown"),
                InstallError::WrongConfirmation { .. } => {
                    (StatusCode::BAD_REQUEST, "install_confirm_wrong")
                }
                InstallError::TooSmall { .. } => {
                    (StatusCode::BAD_REQUEST, "install_target_too_small")
                }
                InstallError::Running { .. } => (StatusCode::CONFLICT, "install_running"),
                InstallError::NoResult => (StatusCode::NOT_FOUND, "install_no_result"),
                InstallError::Reboot(_) => (StatusCode::BAD_GATEWAY, "install_restart_failed"),
                InstallError::NoPack(_) => (StatusCode::CONFLICT, "install_no_pack"),
                InstallError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            ApiError::Pack(e) => pack_status(e),
            ApiError::Update(e) => (update_status(e), e.key()),
            ApiError::Notify(e) => {
                use crate::notify::NotifyError as N;
                let status = match e {
                    N::NotConfigured => StatusCode::CONFLICT,
                    N::BadAddress { .. } | N::BadHost(_) | N::HalfCredentials | N::Tls(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    N::Send(_) => StatusCode::BAD_GATEWAY,
                    N::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
                };
                (status, e.key())
            }
            ApiError::Reach(e) => match e {
                crate::reach::ReachError::NameTaken(_) => (StatusCode::CONFLICT, e.key()),
                crate::reach::ReachError::Store(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
                _ => (StatusCode::BAD_REQUEST, e.key()),
            },
            ApiError::Relay(e) => match e {
                crate::reach::relay::RelayError::NotJoined => (StatusCode::NOT_FOUND, e.key()),
                crate::reach::relay::RelayError::Tool { .. } => (StatusCode::BAD_GATEWAY, e.key()),
                crate::reach::relay::RelayError::Store(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
                _ => (StatusCode::BAD_REQUEST, e.key()),
            },
        }
    }
}

fn update_status(e: &UpdateError) -> StatusCode {
    use crate::update::fetch::FetchError;
    match e {
        UpdateError::NotPanier { .. }
        | UpdateError::NoChannel
        | UpdateError::NothingToInstall
        | UpdateError::OfferChanged { .. }
        | UpdateError::Busy { .. }
        | UpdateError::NotInstalled => StatusCode::CONFLICT,
        UpdateError::Fetch(FetchError::NotHttps(_)) | UpdateError::BadHour(_) => {
            StatusCode::BAD_REQUEST
        }
        UpdateError::Fetch(_) => StatusCode::BAD_GATEWAY,
        UpdateError::Index(_)
        | UpdateError::SizeMismatch { .. }
        | UpdateError::ChecksumMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        UpdateError::NoSpace { .. } => StatusCode::INSUFFICIENT_STORAGE,
        UpdateError::Os(crate::update::os::OsError::NotASlot) => StatusCode::CONFLICT,
        UpdateError::Os(_) => StatusCode::BAD_GATEWAY,
        UpdateError::Key(_) | UpdateError::Io { .. } | UpdateError::Store(_) => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Status and key of a pack error.
fn pack_status(e: &crate::pack::PackError) -> (StatusCode, &'static str) {
    use crate::pack::PackError as P;
    let status = match e {
        P::NotAPack { .. } | P::NotInPack { .. } | P::NoSuchKey(_) => StatusCode::NOT_FOUND,
        P::Signature(_)
        | P::BadIndex { .. }
        | P::Tampered { .. }
        | P::BadManifest { .. }
        | P::ImageMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        P::KeyExists(_) | P::OutNotEmpty { .. } => StatusCode::CONFLICT,
        P::BadKeyName | P::BadMirror(_) => StatusCode::BAD_REQUEST,
        P::EngineConfig(_) => StatusCode::BAD_GATEWAY,
        P::Unreadable { .. } | P::Load { .. } | P::Pull { .. } | P::Write { .. } => {
            StatusCode::BAD_GATEWAY
        }
        P::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.key())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, key) = self.status_and_key();
        let retry = match &self {
            ApiError::Admin(AdminError::Throttled(secs)) => Some(*secs),
            _ => None,
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            log::error!("{self}");
            "an internal error happened; the journal has the details".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: key,
                message,
                retry_after_secs: retry,
            }),
        )
            .into_response();
        if let Some(secs) = retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
