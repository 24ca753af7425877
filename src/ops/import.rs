//! Import: record an existing instance under a configured name. What the state already
//! records decides first (one address per instance and per account); then the instance is
//! read from the API, checked against the configured account, and recorded in one audited run
//! under the state lock.

use super::run::{finish_run, open_store, RunRecord};
use super::{Network, OpsError, Workspace};
use crate::client::ApiError;
use crate::config::{credentials, Config};
use crate::domain::sid::{AccountSid, InstanceSid};
use crate::domain::{Fetched, Instance, InstanceStatus};
use crate::plan::address;
use crate::state::{HistoryChange, InstanceRecord, LockWait, Origin, State, StateStore};
use crate::support::stop::{Interrupted, Stop};

/// What import was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions<'a> {
    /// The configured name to record the instance under.
    pub name: &'a str,
    /// The instance SID, as given.
    pub sid: &'a str,
}

/// What import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// The instance was recorded.
    Recorded {
        /// `flex_instance.NAME`.
        address: String,
        /// The instance SID.
        sid: String,
        /// Its status as read.
        status: InstanceStatus,
    },
    /// The name already records this instance: nothing was written.
    AlreadyRecorded {
        /// `flex_instance.NAME`.
        address: String,
        /// The instance SID.
        sid: String,
    },
}

/// What the state allows for importing `sid` on `account` as `name`: `Ok(true)` when the name
/// already records that instance (nothing to do), `Ok(false)` to import it, an error when the
/// instance or the account is recorded under another name, or the name records another one.
pub fn check_recorded(
    state: &State,
    name: &str,
    sid: &InstanceSid,
    account: &AccountSid,
) -> Result<bool, OpsError> {
    let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    let others = || state.instances.iter().filter(|(other, _)| *other != name);
    if let Some((other, _)) =
        others().find(|(_, r)| same(r.flex_instance_sid.as_str(), sid.as_str()))
    {
        return Err(OpsError::ImportSidRecorded {
            sid: sid.to_string(),
            other: other.clone(),
            name: name.to_owned(),
        });
    }
    // An account has one instance, so one address too.
    if let Some((other, record)) =
        others().find(|(_, r)| same(r.account_sid.as_str(), account.as_str()))
    {
        return Err(OpsError::ImportAccountRecorded {
            account: account.to_string(),
            recorded: record.flex_instance_sid.to_string(),
            other: other.clone(),
            name: name.to_owned(),
        });
    }
    match state.instances.get(name) {
        Some(existing) if existing.flex_instance_sid == *sid => Ok(true),
        Some(existing) => Err(OpsError::ImportNameRecorded {
            name: name.to_owned(),
            recorded: existing.flex_instance_sid.to_string(),
        }),
        None => Ok(false),
    }
}

/// Imports one instance: checks the configuration and the state, reads the instance over
/// `network`, and records it under the state lock (waiting as `wait` says). A stop before the
/// write records nothing.
pub async fn import(
    workspace: &Workspace,
    network: &Network,
    options: ImportOptions<'_>,
    wait: &LockWait,
    stop: &Stop,
) -> Result<Imported, OpsError> {
    let sid = InstanceSid::parse(options.sid)?;
    let config = Config::load(&workspace.config_path)?;
    let name = options.name;
    let Some(spec) = config.config.instances.get(name) else {
        return Err(OpsError::NotConfigured {
            name: name.to_owned(),
            config: workspace.config_path.clone(),
        });
    };
    let creds = credentials::resolve(&config.config, name, spec, &workspace.env)?;
    let location = super::plan::state_location(workspace, Some(&config.config))?;
    let mut store = open_store(&location, "import", wait, &workspace.env).await?;
    let result = async {
        if check_recorded(store.state(), name, &sid, &spec.account_sid)? {
            return Ok(Imported::AlreadyRecorded {
                address: address(name),
                sid: sid.to_string(),
            });
        }
        let client = super::plan::client(workspace, network)?;
        let fetched = client.get_instance(&spec.account_sid, &creds, &sid).await;
        let instance = check_fetched(fetched, name, &sid, &spec.account_sid)?;
        if stop.is_requested() {
            return Err(Interrupted("nothing was recorded".to_owned()).into());
        }
        let record = InstanceRecord::observed(&instance, Origin::Imported, None);
        record_import(&mut store, name, &sid, record, config.sha256.clone()).await?;
        Ok(Imported::Recorded {
            address: address(name),
            sid: sid.to_string(),
            status: instance.status,
        })
    }
    .await;
    store.release().await;
    result
}

/// The instance the API answered for `sid`, when it is one to record as `name` on `account`:
/// it exists and belongs to that account.
pub fn check_fetched(
    fetched: Result<Fetched, ApiError>,
    name: &str,
    sid: &InstanceSid,
    account: &AccountSid,
) -> Result<Instance, OpsError> {
    let fetched = fetched.map_err(|source| OpsError::Fetch {
        sid: sid.to_string(),
        source: Box::new(source),
    })?;
    let Fetched::Found(instance) = fetched else {
        return Err(OpsError::ImportNotFound {
            sid: sid.to_string(),
            account: account.to_string(),
        });
    };
    if instance.account_sid != *account {
        return Err(OpsError::ImportOtherAccount {
            sid: sid.to_string(),
            actual: instance.account_sid.to_string(),
            name: name.to_owned(),
            configured: account.to_string(),
        });
    }
    Ok(instance)
}

/// The run that records `record` under `name`, with its audit-trail entry.
async fn record_import(
    store: &mut StateStore,
    name: &str,
    sid: &InstanceSid,
    record: InstanceRecord,
    config_sha256: String,
) -> Result<(), OpsError> {
    let run = RunRecord {
        command: "import",
        serial_before: store.state().serial,
        changes: vec![HistoryChange::ok(
            address(name),
            "import",
            Some(sid.to_string()),
        )],
        config_sha256: Some(config_sha256),
        plan_sha256: None,
    };
    finish_run(store, run, |state| {
        state.pending.remove(name);
        state.instances.insert(name.to_owned(), record);
    })
    .await?;
    Ok(())
}
