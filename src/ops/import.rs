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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::fixtures::{account, instance, record};

    /// `a`: instance 1 on account 1; `b`: instance 2 on account 2.
    fn state() -> State {
        let mut state = State::empty();
        state.instances.insert("a".into(), record(1, 1));
        state.instances.insert("b".into(), record(2, 2));
        state
    }

    #[test]
    fn a_new_name_on_a_new_account_is_imported_and_the_same_record_again_is_nothing_to_do() {
        assert!(!check_recorded(&state(), "c", &instance(3), &account(3)).unwrap());
        assert!(check_recorded(&state(), "a", &instance(1), &account(1)).unwrap());
    }

    #[test]
    fn an_instance_recorded_under_another_name_is_refused_whatever_the_case_of_its_sid() {
        let mut state = state();
        state.instances.insert("d".into(), record(4, 0xabc));
        let shouting = InstanceSid::parse(&format!("GO{:032X}", 0xabc)).unwrap();
        let err = check_recorded(&state, "c", &shouting, &account(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{shouting} is already recorded as flex_instance.d: an instance has one address. To rename it, run `flexform state mv d c`. Nothing was changed"
            )
        );
    }

    #[test]
    fn an_account_with_an_instance_recorded_under_another_name_is_refused() {
        let err = check_recorded(&state(), "c", &instance(3), &account(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "account {} already has {} recorded as flex_instance.b: an account has one Flex instance, and it one address. To rename it, run `flexform state mv b c`; if that record is wrong, `flexform state rm b`. Nothing was changed",
                account(2),
                instance(2)
            )
        );
    }

    #[test]
    fn a_name_that_records_another_instance_is_refused() {
        let err = check_recorded(&state(), "a", &instance(3), &account(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "flex_instance.a already records {}; run `flexform state rm a` first to replace it",
                instance(1)
            )
        );
    }

    fn found(account_n: u32) -> Result<Fetched, ApiError> {
        Ok(Fetched::Found(Instance {
            flex_instance_sid: instance(3),
            account_sid: account(account_n),
            status: InstanceStatus::Ready,
            date_created: None,
            date_updated: None,
        }))
    }

    #[test]
    fn the_instance_read_must_exist_and_belong_to_the_configured_account() {
        let sid = instance(3);
        let instance = check_fetched(found(3), "c", &sid, &account(3)).unwrap();
        assert_eq!(instance.status, InstanceStatus::Ready);
        let err = check_fetched(found(4), "c", &sid, &account(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{sid} belongs to account {}, but `c` is configured for {}; nothing was recorded",
                account(4),
                account(3)
            )
        );
        let err = check_fetched(Ok(Fetched::NotFound), "c", &sid, &account(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{sid} does not exist, or is not visible to account {}; nothing was recorded",
                account(3)
            )
        );
    }

    #[test]
    fn a_failed_read_says_which_instance_and_keeps_the_api_error_as_its_cause() {
        let sid = instance(3);
        let failed = Err(ApiError::Http {
            method: "GET",
            path: "/v2/Instances/x".into(),
            status: 502,
            status_line: "502 Bad Gateway".into(),
        });
        let err = check_fetched(failed, "c", &sid, &account(3)).unwrap_err();
        assert_eq!(err.to_string(), format!("cannot fetch {sid}"));
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(
            cause.starts_with("HTTP 502 Bad Gateway on GET /v2/Instances/x"),
            "{cause}"
        );
    }
}
