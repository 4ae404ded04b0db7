//! Steps a manifest runs inside a service's running containers: its first-run setup at
//! install (`[[setup]]`) and the commands that re-apply a new address (`[address] apply`).
//!
//! A step's environment is templated like a container's and passed to that command only (so
//! the admin password of the install form reaches the setup without staying in the
//! container's configuration). A step fails on a non-zero exit code, with the end of its
//! output; the caller decides what a failure undoes (an install is rolled back, an address
//! goes back to the old one). `restart_after` restarts the container and waits until the
//! service is ready again.
//!
//! Limits: steps run one after the other, each to its end (no timeout of their own beyond
//! the engine's); a step that hangs holds its job.

use super::{AppError, Apps, spec};
use crate::catalog::manifest::Manifest;
use crate::catalog::steps::Step;
use crate::jobs::Job;
use crate::store::AppRow;
use std::collections::BTreeMap;

/// The longest command output kept in an error message (its end is kept).
const OUTPUT_KEPT: usize = 600;

/// The end of `text`, at most `max` bytes, on a character boundary.
pub(super) fn output_tail(text: &str, max: usize) -> &str {
    let text = text.trim();
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Which list a step belongs to, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Setup,
    Address,
}

impl Apps {
    /// Runs `steps` of `m` in order in the service's containers (which must be running).
    pub(super) async fn run_steps(
        &self,
        job: &Job,
        row: &AppRow,
        m: &Manifest,
        steps: &[Step],
        kind: StepKind,
        percent: i64,
    ) -> Result<(), AppError> {
        let app = &row.id;
        for (i, step) in steps.iter().enumerate() {
            job.step(
                match kind {
                    StepKind::Setup => "setup",
                    StepKind::Address => "follow_address",
                },
                percent,
            );
            let env = self.with_inputs(row, |inputs| {
                step.environment
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), spec::fill(v, inputs, app)?)))
                    .collect::<Result<BTreeMap<_, _>, _>>()
            })?;
            let name = spec::container_name(app, &step.container);
            log::info!(app = app.as_str(); "running step {} in {}", i + 1, step.container);
            let out = self
                .inner
                .engine
                .exec_as(&name, &step.command, step.user.as_deref(), &env)
                .await
                .map_err(AppError::engine(app))?;
            if out.exit_code != 0 {
                return Err(AppError::Step {
                    app: app.clone(),
                    kind,
                    number: i + 1,
                    container: step.container.clone(),
                    code: out.exit_code,
                    output: output_tail(&out.output, OUTPUT_KEPT).to_owned(),
                });
            }
            if step.restart_after {
                self.inner
                    .engine
                    .stop(&name, 30)
                    .await
                    .map_err(AppError::engine(app))?;
                self.inner
                    .engine
                    .start(&name)
                    .await
                    .map_err(AppError::engine(app))?;
                self.wait_ready(app, m).await?;
            }
        }
        Ok(())
    }
}
