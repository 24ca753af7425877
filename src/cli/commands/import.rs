//! `flexform import NAME SID`: record an existing instance under a configured name.

use anyhow::{bail, Context};

use crate::cli::args::ImportArgs;
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::config::credentials;
use crate::config::Config;
use crate::domain::sid::InstanceSid;
use crate::domain::Fetched;
use crate::plan::address;
use crate::state::{HistoryChange, InstanceRecord, Origin};
use crate::support::stop::{Interrupted, Stop};

/// Imports one instance.
pub fn run(settings: &Settings, args: &ImportArgs) -> anyhow::Result<ExitStatus> {
    context::run_with_stop(settings, false, |stop| run_async(settings, args, stop))
}

async fn run_async(
    settings: &Settings,
    args: &ImportArgs,
    stop: Stop,
) -> anyhow::Result<ExitStatus> {
    let sid = InstanceSid::parse(&args.sid)?;
    let config = Config::load(&settings.config_path)?;
    let Some(spec) = config.config.instances.get(&args.name) else {
        bail!(
            "instance `{}` is not in {}; add it to the configuration first",
            args.name,
            settings.config_path.display()
        );
    };
    let creds = credentials::resolve(&config.config, &args.name, spec, &settings.env)?;
    let location = crate::ops::plan::state_location(&settings.workspace(), Some(&config.config))?;
    let wait = context::lock_wait(settings, args.lock_timeout, &stop);
    let mut store = crate::ops::run::open_store(&location, "import", &wait, &settings.env).await?;
    let serial_before = store.state().serial;
    if let Some((other, _)) = store.state().instances.iter().find(|(name, r)| {
        **name != args.name
            && r.flex_instance_sid
                .as_str()
                .eq_ignore_ascii_case(sid.as_str())
    }) {
        let message = format!(
            "{sid} is already recorded as {}: an instance has one address. To rename it, run `flexform state mv {other} {}`. Nothing was changed",
            address(other),
            args.name
        );
        store.release().await;
        bail!(message);
    }
    // An account has one instance, so one address too.
    if let Some((other, record)) = store.state().instances.iter().find(|(name, r)| {
        **name != args.name
            && r.account_sid
                .as_str()
                .eq_ignore_ascii_case(spec.account_sid.as_str())
    }) {
        let message = format!(
            "account {} already has {} recorded as {}: an account has one Flex instance, and it one address. To rename it, run `flexform state mv {other} {}`; if that record is wrong, `flexform state rm {other}`. Nothing was changed",
            spec.account_sid,
            record.flex_instance_sid,
            address(other),
            args.name
        );
        store.release().await;
        bail!(message);
    }
    if let Some(existing) = store.state().instances.get(&args.name) {
        if existing.flex_instance_sid == sid {
            settings.out.data_line(format!(
                "{} already records {sid}; nothing to do.",
                address(&args.name)
            ));
            store.release().await;
            return Ok(ExitStatus::Success);
        }
        let message = format!(
            "{} already records {}; run `flexform state rm {}` first to replace it",
            address(&args.name),
            existing.flex_instance_sid,
            args.name
        );
        store.release().await;
        bail!(message);
    }
    let client = crate::ops::plan::client(&settings.workspace(), &(&args.net).into())?;
    let fetched = client
        .get_instance(&spec.account_sid, &creds, &sid)
        .await
        .with_context(|| format!("cannot fetch {sid}"))?;
    let instance = match fetched {
        Fetched::Found(instance) => instance,
        Fetched::NotFound => bail!(
            "{sid} does not exist, or is not visible to account {}; nothing was recorded",
            spec.account_sid
        ),
    };
    if instance.account_sid != spec.account_sid {
        bail!(
            "{sid} belongs to account {}, but `{}` is configured for {}; nothing was recorded",
            instance.account_sid,
            args.name,
            spec.account_sid
        );
    }
    let name = args.name.clone();
    let record = InstanceRecord::observed(&instance, Origin::Imported, None);
    if stop.is_requested() {
        store.release().await;
        return Err(Interrupted("nothing was recorded".to_owned()).into());
    }
    let run = crate::ops::RunRecord {
        command: "import",
        serial_before,
        changes: vec![HistoryChange::ok(
            address(&args.name),
            "import",
            Some(sid.to_string()),
        )],
        config_sha256: Some(config.sha256.clone()),
        plan_sha256: None,
    };
    crate::ops::run::finish_run(&mut store, run, |state| {
        state.pending.remove(&name);
        state.instances.insert(name.clone(), record);
    })
    .await?;
    store.release().await;
    settings.out.data_line(format!(
        "Imported {sid} ({}) as {}.",
        instance.status,
        address(&args.name)
    ));
    Ok(ExitStatus::Success)
}
