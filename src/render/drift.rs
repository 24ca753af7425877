//! The drift report: text for people, Markdown for an issue or a comment, JUnit XML for a CI
//! test report (one test case per instance checked).

use std::fmt::Write;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::plan::{diagnostic_line, diagnostic_row, error_count, partial_note};
use super::Style;
use crate::plan::{PlanDocument, Severity};
use crate::support::text::{plural, plural_word};

/// The first line of a drift report: `No drift: …`, `Drift: 1 of 3 …`, or `Drift check
/// failed: …`.
pub fn headline(doc: &PlanDocument) -> String {
    let checked = doc.resource_changes.len();
    let drift = doc.summary.drift;
    let errors = error_count(doc);
    if errors > 0 {
        format!(
            "Drift check failed: {errors} error{}; {drift} drift found among the instances that could be checked.",
            plural(errors)
        )
    } else if drift == 0 {
        format!(
            "No drift: {checked} recorded {} {} reality.",
            plural_word(checked, "instance", "instances"),
            plural_word(checked, "matches", "match")
        )
    } else {
        format!(
            "Drift: {drift} of {checked} recorded {} no longer {} reality.",
            plural_word(checked, "instance", "instances"),
            plural_word(drift, "matches", "match")
        )
    }
}

/// The findings a drift report lists: drift, warnings and errors (not info).
fn findings(doc: &PlanDocument) -> impl Iterator<Item = &crate::plan::Diagnostic> {
    doc.diagnostics
        .iter()
        .filter(|d| d.severity >= Severity::Warning)
}

/// The terminal view of `flexform drift`: findings only, no plan.
pub fn report(doc: &PlanDocument, style: Style) -> String {
    let mut out = String::new();
    let headline = headline(doc);
    if doc.summary.drift == 0 && error_count(doc) == 0 {
        let _ = writeln!(out, "{headline}");
    } else {
        let _ = writeln!(out, "{}", style.bold(&headline));
    }
    if let Some(note) = partial_note(doc) {
        let _ = writeln!(out, "{note}");
    }
    let findings: Vec<_> = findings(doc).collect();
    if !findings.is_empty() {
        out.push('\n');
        for d in findings {
            diagnostic_line(&mut out, d, style);
        }
    }
    if doc.summary.drift > 0 {
        out.push_str(
            "\nRun `flexform plan` to review the repair and `flexform apply` to carry it out.\n",
        );
    }
    out
}

/// `flexform drift --format markdown`: the headline and one table row per finding.
pub fn markdown(doc: &PlanDocument) -> String {
    let mut out = String::from("### flexform drift\n\n");
    if let Some(note) = partial_note(doc) {
        let _ = writeln!(out, "> {note}\n");
    }
    let _ = writeln!(out, "**{}**\n", headline(doc));
    let rows: Vec<String> = findings(doc).map(|d| diagnostic_row(doc, d)).collect();
    if !rows.is_empty() {
        out.push_str(
            "| address | finding | account | SID | note |\n| --- | --- | --- | --- | --- |\n",
        );
        for row in rows {
            let _ = writeln!(out, "{row}");
        }
    }
    out
}

/// JUnit XML: a test case per instance checked (named by its address), failed by its drift
/// findings (their kinds and messages) and errored by its errors. A test case holds one
/// `<failure>` or `<error>` element (as JUnit readers expect), so that element lists every
/// finding of the instance: a second drift is not lost, and an error, which makes the case an
/// `<error>`, does not hide a drift.
pub fn junit(document: &PlanDocument) -> Result<String, quick_junit::SerializeError> {
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
    report.to_string()
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
