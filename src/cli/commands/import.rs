//! `flexform import NAME SID`: record an existing instance under a configured name. The
//! flags, then [`crate::ops::import`], then the line [`crate::render::state::imported`] says.

use crate::cli::args::ImportArgs;
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::ops::import::{self, ImportOptions};
use crate::ops::Network;
use crate::render::state as render;

/// Imports one instance.
pub fn run(settings: &Settings, args: &ImportArgs) -> anyhow::Result<ExitStatus> {
    let workspace = settings.workspace();
    let network = Network::from(&args.net);
    let options = ImportOptions {
        name: &args.name,
        sid: &args.sid,
    };
    let imported = context::run_with_stop(settings, false, |stop| async move {
        let wait = context::lock_wait(settings, args.lock_timeout, &stop);
        Ok(import::import(&workspace, &network, options, &wait, &stop).await?)
    })?;
    settings.out.data_line(render::imported(&imported));
    Ok(ExitStatus::Success)
}
