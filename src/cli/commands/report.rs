//! `flexform report`: the document an auditor files. Read-only, observed now: the flags, then
//! [`crate::ops::report`], then [`crate::render::report`] in the format asked for.

use crate::cli::args::{ReportArgs, ReportFormat};
use crate::cli::context;
use crate::cli::exit_status::ExitStatus;
use crate::cli::progress::Progress;
use crate::cli::settings::Settings;
use crate::ops::{report, Network, Planner};
use crate::render::report as render;

/// Observes, reads the trail, and prints the report.
pub fn run(settings: &Settings, args: &ReportArgs) -> anyhow::Result<ExitStatus> {
    let workspace = settings.workspace();
    let network = Network::from(&args.net);
    let progress = Progress::new(settings.out.shows_live_progress());
    let planner = Planner {
        workspace: &workspace,
        network: &network,
        progress: &progress,
    };
    let reported = context::run_with_stop(settings, true, |_| async {
        Ok(report::report(&planner).await?)
    })?;
    settings.out.data(match args.format {
        ReportFormat::Json => render::json(&reported.report),
        ReportFormat::Markdown => render::markdown(&reported.report),
        ReportFormat::Csv => render::csv(&reported.report)?,
    });
    super::plan::print_errors(settings, &reported.plan);
    Ok(if reported.plan.has_errors() {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    })
}
