//! Backups: targets, kit, runs, snapshots, restores, schedule, USB disks, and the whole-box
//! restore of the setup wizard (the only public route here, guarded by the setup code like
//! setup itself, and refused once setup is done).

use crate::admins::Admins;
use crate::backup::{
    BackupStatus, Backups, Kit, Location, RunReport, Snapshot, TargetView, UsbDisk,
};
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{ApiActor, ApiJson, ClientIp};
use crate::names::BoxName;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

#[utoipa::path(get, path = "/backup/status", tag = "backup", responses((status = 200, body = BackupStatus), (status = 401, body = ErrorBody)))]
pub async fn status(_: ApiActor, State(b): State<Backups>) -> Result<Json<BackupStatus>, ApiError> {
    Ok(Json(b.status()?))
}

#[utoipa::path(get, path = "/backup/targets", tag = "backup", responses((status = 200, body = Vec<TargetView>), (status = 401, body = ErrorBody)))]
pub async fn list_targets(
    _: ApiActor,
    State(b): State<Backups>,
) -> Result<Json<Vec<TargetView>>, ApiError> {
    Ok(Json(b.targets()?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddTarget {
    pub name: String,
    pub location: Location,
    /// Only to adopt an existing restic repository; otherwise Panier generates one.
    #[serde(default)]
    pub password: Option<String>,
}

/// Adds a target and answers its emergency kit (to be printed, then confirmed).
#[utoipa::path(post, path = "/backup/targets", tag = "backup", request_body = AddTarget, responses((status = 201, body = Kit), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_target(
    ApiActor(actor): ApiActor,
    State(b): State<Backups>,
    ApiJson(req): ApiJson<AddTarget>,
) -> Result<(StatusCode, Json<Kit>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            b.add_target(&actor, &req.name, req.location, req.password)
                .await?,
        ),
    ))
}

/// Forgets a target (its repository and data stay where they are).
#[utoipa::path(delete, path = "/backup/targets/{name}", tag = "backup", params(("name" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_target(
    ApiActor(actor): ApiActor,
    State(b): State<Backups>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    b.remove_target(&actor, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The emergency kit of a target, password included.
#[utoipa::path(get, path = "/backup/targets/{name}/kit", tag = "backup", params(("name" = String, Path)), responses((status = 200, body = Kit), (status = 404, body = ErrorBody)))]
pub async fn kit(
    _: ApiActor,
    State(b): State<Backups>,
    Path(name): Path<String>,
) -> Result<Json<Kit>, ApiError> {
    Ok(Json(b.kit(&name)?))
}

/// Confirms the kit was printed or saved.
#[utoipa::path(post, path = "/backup/targets/{name}/kit/confirm", tag = "backup", params(("name" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn confirm_kit(
    ApiActor(actor): ApiActor,
    State(b): State<Backups>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    b.confirm_kit(&actor, &name)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/backup/targets/{name}/snapshots", tag = "backup", params(("name" = String, Path)), responses((status = 200, body = Vec<Snapshot>), (status = 404, body = ErrorBody)))]
pub async fn snapshots(
    _: ApiActor,
    State(b): State<Backups>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Snapshot>>, ApiError> {
    Ok(Json(b.snapshots(&name).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct FileQuery {
    /// The file's absolute path as saved.
    pub path: String,
}

/// Downloads one file from a snapshot.
#[utoipa::path(get, path = "/backup/targets/{name}/snapshots/{id}/file", tag = "backup", params(("name" = String, Path), ("id" = String, Path), FileQuery), responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = ErrorBody)))]
pub async fn file(
    _: ApiActor,
    State(b): State<Backups>,
    Path((name, id)): Path<(String, String)>,
    Query(q): Query<FileQuery>,
) -> Result<Response, ApiError> {
    let mut child = b.dump_file(&name, &id, &q.path).await?;
    let stdout = child.stdout.take().expect("piped");
    let stream = futures_util::stream::unfold((stdout, child), |(mut out, child)| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        match out.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)),
                    (out, child),
                ))
            }
            Err(e) => Some((Err(e), (out, child))),
        }
    });
    let filename = q
        .path
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .replace(['"', '\\'], "_");
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// One target; all of them when absent.
    #[serde(default)]
    pub target: Option<String>,
    /// Answer when the backup is over (CLI, tests) instead of at once.
    #[serde(default)]
    pub wait: bool,
}

/// "Back up now".
#[utoipa::path(post, path = "/backup/run", tag = "backup", request_body = RunRequest, responses((status = 200, body = Vec<RunReport>), (status = 202), (status = 409, body = ErrorBody)))]
pub async fn run(
    ApiActor(actor): ApiActor,
    State(b): State<Backups>,
    ApiJson(req): ApiJson<RunRequest>,
) -> Result<Response, ApiError> {
    if req.wait {
        Ok(Json(
            b.run_now(Some(&actor), req.target.as_deref(), "manual")
                .await?,
        )
        .into_response())
    } else {
        b.spawn_run(actor, req.target)?;
        Ok(StatusCode::ACCEPTED.into_response())
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    pub target: String,
    pub snapshot: String,
    pub app: String,
}

/// Restores one service to a snapshot (safety snapshot first; the service is restarted).
#[utoipa::path(post, path = "/backup/restore", tag = "backup", request_body = RestoreRequest, responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restore(
    ApiActor(actor): ApiActor,
    State(b): State<Backups>,
    ApiJson(req): ApiJson<RestoreRequest>,
) -> Result<StatusCode, ApiError> {
    b.restore_service(&actor, &req.target, &req.snapshot, &req.app)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub target: String,
}

/// Reads back a subset of a target's data now (as the weekly check does).
#[utoipa::path(post, path = "/backup/check", tag = "backup", request_body = CheckRequest, responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn check(
    _: ApiActor,
    State(b): State<Backups>,
    ApiJson(req): ApiJson<CheckRequest>,
) -> Result<StatusCode, ApiError> {
    b.check(&req.target).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Hour of the nightly backup, 0–23.
    pub hour: u8,
}

#[utoipa::path(put, path = "/backup/schedule", tag = "backup", request_body = Schedule, responses((status = 204), (status = 400, body = ErrorBody)))]
pub async fn schedule(
    ApiActor(actor): ApiActor,
    State(b): State<Backups>,
    ApiJson(req): ApiJson<Schedule>,
) -> Result<StatusCode, ApiError> {
    if req.hour > 23 {
        return Err(ApiError::BadRequest("hour: use 0 to 23".into()));
    }
    b.set_hour(&actor, req.hour)?;
    Ok(StatusCode::NO_CONTENT)
}

/// USB disks plugged in now, with size and label.
#[utoipa::path(get, path = "/backup/usb-disks", tag = "backup", responses((status = 200, body = Vec<UsbDisk>)))]
pub async fn usb_disks(_: ApiActor) -> Result<Json<Vec<UsbDisk>>, ApiError> {
    Ok(Json(
        tokio::task::spawn_blocking(crate::backup::target::usb_disks)
            .await
            .unwrap_or_default(),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormatRequest {
    /// The disk, as listed (`/dev/sdb`).
    pub device: String,
    /// The same device path typed again: the confirmation that its content may be erased.
    pub confirm: String,
    /// The new target's name.
    pub name: String,
}

/// Formats a USB disk (erasing it) and makes it a target; answers the kit.
#[utoipa::path(post, path = "/backup/usb-disks/format", tag = "backup", request_body = FormatRequest, responses((status = 201, body = Kit), (status = 400, body = ErrorBody)))]
pub async fn format_usb(
    ApiActor(actor): ApiActor,
    State(b): State<Backups>,
    ApiJson(req): ApiJson<FormatRequest>,
) -> Result<(StatusCode, Json<Kit>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(
            b.add_usb_target(&actor, &req.device, &req.confirm, &req.name)
                .await?,
        ),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SshKey {
    /// To add to `~/.ssh/authorized_keys` of the SFTP account.
    pub public_key: String,
}

#[utoipa::path(get, path = "/backup/ssh-key", tag = "backup", responses((status = 200, body = SshKey)))]
pub async fn ssh_key(_: ApiActor, State(b): State<Backups>) -> Result<Json<SshKey>, ApiError> {
    Ok(Json(SshKey {
        public_key: b.ssh_public_key()?,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BoxRestoreRequest {
    /// The one-time setup code of this fresh box.
    pub code: String,
    pub location: Location,
    /// The password from the emergency kit.
    pub password: String,
    /// A new name for the box; the saved one when absent.
    #[serde(default)]
    pub box_name: Option<BoxName>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BoxRestored {
    pub box_name: String,
}

/// The setup wizard's "restore a backup": the whole box from a target, before any admin
/// exists. Needs the setup code; refused once setup is done.
#[utoipa::path(post, path = "/setup/restore", tag = "setup", security(()), request_body = BoxRestoreRequest, responses((status = 200, body = BoxRestored), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn restore_box(
    State(admins): State<Admins>,
    State(b): State<Backups>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<BoxRestoreRequest>,
) -> Result<Json<BoxRestored>, ApiError> {
    admins.check_setup_code(&req.code, ip, "backup_restore_box")?;
    let box_name = b
        .restore_box(
            req.location,
            &req.password,
            req.box_name.as_ref(),
            &format!("anonymous@{ip}"),
        )
        .await?;
    Ok(Json(BoxRestored { box_name }))
}
