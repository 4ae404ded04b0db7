//! The installation job of one attempt: bring the bundle onto the data partition (download,
//! resumed after a drop; or a copy from a USB stick), check its size and SHA-256 against the
//! signed index, install it into the other slot with RAUC, and plan the restart.
//!
//! An attempt left `downloading` or `installing` by a stopped agent (a crash, a restart, a
//! power cut) is run again at start (`boot::resume`): the download continues from the bytes
//! already on disk, and RAUC writes the slot again from the start.

use super::os::Slot;
use super::{UpdateError, Updates};
use crate::jobs::{Failure, Job};
use crate::store::{AttemptRow, AttemptState, UpdateSource};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Tries of a download before the attempt fails (each continues where the last stopped).
const DOWNLOAD_TRIES: u32 = 5;

pub(super) async fn run(updates: Updates, attempt: AttemptRow, job: Job) {
    let result = steps(&updates, &attempt, &job).await;
    let store = updates.store();
    match result {
        Ok(()) => {
            job.finish(Ok(()));
            updates.inner.wake.notify_one();
        }
        Err(e) => {
            log::error!("update to {} failed: {e}", attempt.version);
            let kept = e.kept();
            if let Err(e) =
                store.finish_attempt(attempt.id, AttemptState::Failed, Some(&kept), None)
            {
                log::error!("{e}");
            }
            job.finish(Err(Failure {
                en: kept.en,
                fr: kept.fr,
            }));
        }
    }
}

async fn steps(updates: &Updates, attempt: &AttemptRow, job: &Job) -> Result<(), UpdateError> {
    let store = updates.store();
    let file = updates.bundle_path(&attempt.sha256);
    if attempt.state == AttemptState::Downloading {
        match attempt.source {
            UpdateSource::Channel => download(updates, attempt, &file, job).await?,
            UpdateSource::Usb => copy(Path::new(&attempt.bundle), &file, attempt.size, job).await?,
        }
        verify(&file, attempt, job).await?;
        store.set_attempt_state(attempt.id, AttemptState::Installing)?;
    }
    job.step("install", 0);
    let slots = &updates.inner.slots;
    let booted = slots.booted().ok_or(super::os::OsError::NotASlot)?;
    slots
        .install(&file, &|p| job.step("install", i64::from(p)))
        .await?;
    let target: Slot = booted.other();
    let hour = store.update_channel()?.reboot_hour;
    let reboot_at = super::boot::restart_time(crate::store::now(), hour);
    store.attempt_installed(attempt.id, target.as_str(), &slots.boot_id(), reboot_at)?;
    log::info!(
        "system {} installed into slot {}; restart planned at {reboot_at}",
        attempt.version,
        target.as_str()
    );
    // RAUC wrote the slot: the bundle's hundreds of megabytes are no longer needed.
    if let Err(e) = std::fs::remove_file(&file) {
        log::warn!("cannot remove {}: {e}", file.display());
    }
    Ok(())
}

async fn download(
    updates: &Updates,
    attempt: &AttemptRow,
    file: &Path,
    job: &Job,
) -> Result<(), UpdateError> {
    let url = super::fetch::https(&attempt.bundle)?;
    let fetcher = updates.fetcher()?;
    let size = attempt.size;
    let progress = |have: u64| job.step("download", (have * 100 / size.max(1)) as i64);
    let mut last = None;
    for try_ in 1..=DOWNLOAD_TRIES {
        match fetcher.resume(&url, file, size, &progress).await {
            Ok(()) => return Ok(()),
            // The server's answer will not change with another try.
            Err(
                e @ (super::fetch::FetchError::Status { .. }
                | super::fetch::FetchError::Write { .. }),
            ) => {
                return Err(e.into());
            }
            Err(e) => {
                log::warn!("download of {url}, try {try_}/{DOWNLOAD_TRIES}: {e}");
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(5 * u64::from(try_))).await;
            }
        }
    }
    Err(last.expect("at least one try").into())
}

/// Copies a bundle from a stick, with progress. The copy, not the stick, is what gets
/// checked and installed: a stick could answer differently the second time it is read.
async fn copy(from: &Path, to: &Path, size: u64, job: &Job) -> Result<(), UpdateError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = |path: &Path| {
        let path: PathBuf = path.to_owned();
        move |source| UpdateError::Io { path, source }
    };
    let mut input = tokio::fs::File::open(from).await.map_err(io(from))?;
    let mut output = tokio::fs::File::create(to).await.map_err(io(to))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut have = 0u64;
    loop {
        let n = input.read(&mut buf).await.map_err(io(from))?;
        if n == 0 {
            break;
        }
        have += n as u64;
        if have > size {
            break;
        }
        output.write_all(&buf[..n]).await.map_err(io(to))?;
        job.step("copy", (have * 100 / size.max(1)) as i64);
    }
    output.sync_all().await.map_err(io(to))?;
    Ok(())
}

/// Size, then SHA-256, against the signed index; a bundle that fails either is deleted.
async fn verify(file: &Path, attempt: &AttemptRow, job: &Job) -> Result<(), UpdateError> {
    job.step("verify", 0);
    let found = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if found != attempt.size {
        let _ = std::fs::remove_file(file);
        return Err(UpdateError::SizeMismatch {
            expected: attempt.size,
            found,
        });
    }
    let path = file.to_owned();
    let digest = tokio::task::spawn_blocking(move || sha256_of(&path))
        .await
        .expect("hashing does not panic")
        .map_err(|source| UpdateError::Io {
            path: file.to_owned(),
            source,
        })?;
    if digest != attempt.sha256 {
        let _ = std::fs::remove_file(file);
        return Err(UpdateError::ChecksumMismatch {
            expected: attempt.sha256.clone(),
            found: digest,
        });
    }
    job.step("verify", 100);
    Ok(())
}

pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
