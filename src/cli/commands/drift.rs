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

/// JUnit XML: a test case per instance checked (named by its address), failed by its drift
/// findings (their kinds and messages) and errored by its errors. A test case holds one
/// `<failure>` or `<error>` element (as JUnit readers expect), so that element lists every
/// finding of the instance: a second drift is not lost, and an error, which makes the case an
/// `<error>`, does not hide a drift.
pub fn junit(document: &PlanDocument) -> anyhow::Result<String> {
    let mut suite = TestSuite::new("flexform drift");
    for change in &document.resource_changes {
        let findings: Vec<_> = document
            .diagnostics
            .iter()
            .filter(|d| {
                d.address == change.address
                    && matches!(d.severity, Severity::Error | Severity::Drift)
            })
            .collect();
        let status = if findings.is_empty() {
            TestCaseStatus::success()
        } else {
            let errored = findings.iter().any(|d| d.severity == Severity::Error);
            let mut status = TestCaseStatus::non_success(if errored {
                NonSuccessKind::Error
            } else {
                NonSuccessKind::Failure
            });
            // Errors first: they decide the exit code, and the `type` leads with them.
            let mut ordered = findings.clone();
            ordered.sort_by_key(|d| std::cmp::Reverse(d.severity));
            let mut kinds: Vec<&str> = Vec::new();
            for d in &ordered {
                if !kinds.contains(&d.kind.as_str()) {
                    kinds.push(d.kind.as_str());
                }
            }
            let message = match ordered.as_slice() {
                [only] => only.message.clone(),
                all => all
                    .iter()
                    .map(|d| format!("{}: {}", d.kind.as_str(), d.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            };
            let description = ordered
                .iter()
                .map(|d| format!("{} {}: {}", d.severity.as_str(), d.kind.as_str(), d.message))
                .collect::<Vec<_>>()
                .join("\n");
            status
                .set_type(kinds.join(", "))
                .set_message(message)
                .set_description(description);
            status
        };
        let mut case = TestCase::new(change.address.clone(), status);
        case.set_classname("flexform.drift");
        suite.add_test_case(case);
    }
    let mut report = Report::new("flexform");
    report.add_test_suite(suite);
    Ok(report.to_string()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";

    /// A drift document over instances `a`, `b` and `c` with `diagnostics` (severity, kind,
    /// address), as the planner would write it.
    fn document(diagnostics: &[(&str, &str, &str)]) -> PlanDocument {
        let change = |name: &str| {
            serde_json::json!({
                "address": format!("flex_instance.{name}"), "name": name,
                "account_sid": ACCOUNT, "action": "unchanged", "reason": null,
                "before": null, "after": null
            })
        };
        let diagnostics: Vec<_> = diagnostics
            .iter()
            .map(|(severity, kind, address)| {
                serde_json::json!({
                    "severity": severity, "kind": kind, "address": address,
                    "message": format!("{kind} of {address}")
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "format_version": 2, "flexform_version": "0", "state_lineage": null,
            "state_serial": 0, "config_canonical_sha256": "0", "created_at": "now",
            "resource_changes": [change("a"), change("b"), change("c")],
            "diagnostics": diagnostics,
            "summary": {"create": 0, "adopt": 0, "unchanged": 3, "drift": 0}
        }))
        .unwrap()
    }

    /// A test case that did not pass: its kind, `type`, `message` and text.
    type NonSuccess = (NonSuccessKind, String, String, String);

    /// The test cases of a JUnit report: name, and how it did not pass (`None`: it passed).
    fn cases(xml: &str) -> Vec<(String, Option<NonSuccess>)> {
        let report = Report::deserialize_from_str(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
        report
            .test_suites
            .iter()
            .flat_map(|s| s.test_cases.iter())
            .map(|c| {
                let status = match &c.status {
                    TestCaseStatus::Success { .. } => None,
                    TestCaseStatus::NonSuccess {
                        kind,
                        message,
                        ty,
                        description,
                        ..
                    } => Some((
                        *kind,
                        ty.as_ref()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        message
                            .as_ref()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        description
                            .as_ref()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                    )),
                    other => panic!("unexpected status {other:?}"),
                };
                (c.name.as_str().to_owned(), status)
            })
            .collect()
    }

    #[test]
    fn every_drift_finding_of_an_instance_is_in_its_failure() {
        let xml = junit(&document(&[
            ("drift", "deleted_outside", "flex_instance.a"),
            ("drift", "creation_failed", "flex_instance.a"),
            ("warning", "needs_attention", "flex_instance.b"),
        ]))
        .unwrap();
        let cases = cases(&xml);
        assert_eq!(cases.len(), 3, "{xml}");
        let (name, status) = &cases[0];
        assert_eq!(name, "flex_instance.a");
        let (kind, ty, message, text) = status.clone().expect("a failure");
        assert_eq!(kind, NonSuccessKind::Failure);
        assert_eq!(ty, "deleted_outside, creation_failed");
        for finding in [
            "deleted_outside of flex_instance.a",
            "creation_failed of flex_instance.a",
        ] {
            assert!(message.contains(finding), "{message}");
            assert!(text.contains(finding), "{text}");
        }
        assert_eq!(cases[1].1, None, "a warning is not a failure: {xml}");
        assert_eq!(cases[2].1, None);
    }

    #[test]
    fn an_error_is_an_error_that_still_lists_the_drift() {
        let xml = junit(&document(&[
            ("drift", "deleted_outside", "flex_instance.a"),
            ("error", "observe_failed", "flex_instance.a"),
            ("error", "account_mismatch", "flex_instance.c"),
        ]))
        .unwrap();
        let cases = cases(&xml);
        let (kind, ty, message, text) = cases[0].1.clone().expect("an error");
        assert_eq!(kind, NonSuccessKind::Error);
        assert_eq!(ty, "observe_failed, deleted_outside", "errors first");
        assert!(
            message.contains("observe_failed of flex_instance.a"),
            "{message}"
        );
        assert!(
            message.contains("deleted_outside of flex_instance.a"),
            "{message}"
        );
        assert!(text.contains("error observe_failed: "), "{text}");
        assert!(text.contains("drift deleted_outside: "), "{text}");
        assert_eq!(cases[1].1, None);
        let (kind, ty, message, _) = cases[2].1.clone().expect("an error");
        assert_eq!(kind, NonSuccessKind::Error);
        assert_eq!(ty, "account_mismatch");
        assert_eq!(
            message, "account_mismatch of flex_instance.c",
            "one finding: its message"
        );
    }
}
