//! `flexform drift`: compare recorded instances with reality, read-only, for nightly jobs and
//! audits. Configuration changes not yet applied are not drift. `--format junit` makes the
//! check a CI test report: one test case per instance.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::cli::args::{DriftArgs, DriftFormat, OutputFormat};
use crate::cli::context::{self, Scope};
use crate::cli::exit_status::ExitStatus;
use crate::cli::settings::Settings;
use crate::plan::render::Style;
use crate::plan::{PlanDocument, Severity};

/// Checks for drift. Exit 0: none, 2: drift, 1: error.
pub fn run(settings: &Settings, args: &DriftArgs) -> anyhow::Result<ExitStatus> {
    let planned = context::run_with_stop(settings, true, |_| {
        context::make_plan(settings, &args.net, Scope::RecordedOnly, &args.targets)
    })?;
    let document = planned.document();
    let drift = document.summary.drift;
    let format = match (args.json, args.format) {
        (true, _) => DriftFormat::Json,
        (false, format) => format.unwrap_or(DriftFormat::Human),
    };
    match format {
        DriftFormat::Human => settings.out.data(crate::plan::drift::report(
            &document,
            Style::new(settings.color_stdout),
        )),
        DriftFormat::Json => {
            super::plan::print_document(settings, &document, OutputFormat::Json, "flexform drift")
        }
        DriftFormat::Markdown => settings.out.data(crate::plan::drift::markdown(&document)),
        DriftFormat::Junit => settings.out.data(junit(&document)?),
    }
    super::plan::print_errors(settings, &planned.plan);
    Ok(if planned.plan.has_errors() {
        ExitStatus::Failure
    } else if drift > 0 {
        ExitStatus::Changes
    } else {
        ExitStatus::Success
    })
}

/// JUnit XML: a test case per instance checked (named by its address), failed by each drift
/// finding (its kind and message) and errored by each error.
pub fn junit(document: &PlanDocument) -> anyhow::Result<String> {
    let mut suite = TestSuite::new("flexform drift");
    for change in &document.resource_changes {
        let findings: Vec<_> = document
            .diagnostics
            .iter()
            .filter(|d| d.address == change.address)
            .collect();
        let error = findings.iter().find(|d| d.severity == Severity::Error);
        let drift = findings.iter().find(|d| d.severity == Severity::Drift);
        let status = match (error, drift) {
            (Some(d), _) | (None, Some(d)) => {
                let kind = if error.is_some() {
                    NonSuccessKind::Error
                } else {
                    NonSuccessKind::Failure
                };
                let mut status = TestCaseStatus::non_success(kind);
                status
                    .set_type(d.kind.as_str())
                    .set_message(d.message.clone());
                status
            }
            (None, None) => TestCaseStatus::success(),
        };
        let mut case = TestCase::new(change.address.clone(), status);
        case.set_classname("flexform.drift");
        suite.add_test_case(case);
    }
    let mut report = Report::new("flexform");
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}
