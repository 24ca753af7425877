//! Waiting for new instances: polls each with backoff until it is ready or failed, the wait
//! times out, or an interrupt says stop; status changes are recorded as they are seen.

use std::time::Instant;

use super::context::ApplyContext;
use super::events::Event;
use super::outcome::{ApplyError, Provisioning};
use super::writer::WriterHandle;
use crate::domain::{Fetched, Instance, InstanceStatus};
use crate::plan::ResourceChange;
use crate::state::StateUpdate;

/// Polls a new instance until it is ready, failed, the wait times out, or an interrupt; says
/// how far it got. An error is an instance that failed or vanished while provisioning.
pub(super) async fn wait_for(
    change: &ResourceChange,
    first: &Instance,
    ctx: &ApplyContext<'_>,
    writer: &WriterHandle,
    started: Instant,
) -> Result<Provisioning, ApplyError> {
    let sid = &first.flex_instance_sid;
    let mut status = first.status.clone();
    let report_status = |status: &InstanceStatus| {
        ctx.reporter.event(&Event::StatusChange {
            address: change.address.clone(),
            flex_instance_sid: sid.to_string(),
            status: status.to_string(),
            elapsed_seconds: started.elapsed().as_secs_f64(),
        })
    };
    report_status(&status);
    if !ctx.options.wait && status == InstanceStatus::CreationInProgress {
        return Ok(Provisioning::NotWaited);
    }
    let credentials =
        ctx.credentials
            .get(&change.name)
            .ok_or_else(|| ApplyError::NoCredentials {
                name: change.name.clone(),
            })?;
    let deadline = Instant::now() + ctx.options.wait_timeout;
    let (mut delay, max_delay) = ctx.options.poll_interval;
    while status == InstanceStatus::CreationInProgress {
        let now = Instant::now();
        if now >= deadline {
            return Ok(Provisioning::TimedOut(ctx.options.wait_timeout));
        }
        let sleep = tokio::time::sleep(delay.min(deadline - now));
        tokio::select! {
            _ = sleep => {}
            _ = ctx.stop.requested() => {
                return Ok(Provisioning::StoppedWaiting);
            }
        }
        delay = (delay * 2).min(max_delay);
        let fetched = tokio::select! {
            fetched = ctx.client.get_instance(&change.account_sid, credentials, sid) => fetched,
            // A read is always safe to abandon.
            _ = ctx.stop.requested() => {
                return Ok(Provisioning::StoppedWaiting);
            }
        };
        match fetched {
            Ok(Fetched::Found(instance)) => {
                if instance.status != status {
                    status = instance.status.clone();
                    report_status(&status);
                    let _ = writer
                        .write(StateUpdate::Status {
                            name: change.name.clone(),
                            flex_instance_sid: instance.flex_instance_sid,
                            status: instance.status,
                            date_updated: instance.date_updated,
                            observed_at: crate::support::stamp::now_rfc3339(),
                        })
                        .await;
                }
            }
            Ok(Fetched::NotFound) => {
                return Err(ApplyError::Disappeared { sid: sid.clone() });
            }
            Err(e) => {
                tracing::warn!("{}: polling {sid} failed: {e}", change.address);
            }
        }
    }
    match status {
        InstanceStatus::CreationFailed => Err(ApplyError::ProvisioningFailed { sid: sid.clone() }),
        _ => Ok(Provisioning::Ready),
    }
}
