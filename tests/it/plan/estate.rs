//! A mixed estate: a seeded simulator and a project whose configuration and state cover every
//! row of the table, for the snapshots, Markdown, JSON and saved plans of [`super::views`].

use std::collections::BTreeMap;
use std::time::Duration;

use flexform::sim::SimConfig;

use super::support::{record, set_status, with_sim, write_state};
use crate::common::{account, ConfigBuilder, Test};

/// A seeded simulator holding instances in every state the table knows, and a workspace whose
/// config and state cover every row: adopt, create, deleted outside, creation failed,
/// immutable input changed, needs attention, provisioning, orphaned, and a silent no-op.
pub(super) struct Estate {
    pub(super) t: Test,
    pub(super) sids: BTreeMap<&'static str, String>,
}

/// The [`Estate`], set up.
pub(super) async fn mixed_estate() -> Estate {
    let t = with_sim(SimConfig {
        ready_after: Duration::from_secs(3600),
        seed: Some(1),
        ..SimConfig::default()
    })
    .await;
    let accounts: BTreeMap<&str, String> = [
        ("adopt-me", 21),
        ("brand-new", 22),
        ("deleted-outside", 23),
        ("failed-provisioning", 24),
        ("immutable-changed", 25),
        ("needs-attention", 26),
        ("provisioning", 27),
        ("retired", 28),
        ("steady", 29),
    ]
    .into_iter()
    .map(|(name, n)| (name, account(n)))
    .collect();
    let mut sids = BTreeMap::new();
    // Sequential, so that the seeded SIDs come out the same every time.
    for name in [
        "adopt-me",
        "deleted-outside",
        "failed-provisioning",
        "immutable-changed",
        "needs-attention",
        "provisioning",
        "retired",
        "steady",
    ] {
        let conv = (name == "immutable-changed").then_some(false);
        sids.insert(name, t.create_directly(&accounts[name], conv).await);
    }
    for name in ["adopt-me", "immutable-changed", "retired", "steady"] {
        set_status(&t, &sids[name], "ready");
    }
    set_status(&t, &sids["failed-provisioning"], "creation-failed");
    set_status(&t, &sids["needs-attention"], "deletion-failed");
    assert!(t.sim().delete_instance(&sids["deleted-outside"]));

    t.write_config(
        &ConfigBuilder::new()
            .instance("adopt-me", &accounts["adopt-me"])
            .conversations("brand-new", &accounts["brand-new"], Some(true))
            .instance("deleted-outside", &accounts["deleted-outside"])
            .instance("failed-provisioning", &accounts["failed-provisioning"])
            .conversations(
                "immutable-changed",
                &accounts["immutable-changed"],
                Some(true),
            )
            .instance("needs-attention", &accounts["needs-attention"])
            .instance("provisioning", &accounts["provisioning"])
            .instance("steady", &accounts["steady"]),
    );
    let recorded = |name: &str, status: &str, conv: Option<bool>| {
        record(&accounts[name], &sids[name], status, "created", conv)
    };
    write_state(
        &t,
        &[
            (
                "deleted-outside",
                recorded("deleted-outside", "ready", None),
            ),
            (
                "failed-provisioning",
                recorded("failed-provisioning", "creation-in-progress", None),
            ),
            (
                "immutable-changed",
                recorded("immutable-changed", "ready", Some(false)),
            ),
            (
                "needs-attention",
                recorded("needs-attention", "ready", None),
            ),
            (
                "provisioning",
                recorded("provisioning", "creation-in-progress", None),
            ),
            ("retired", recorded("retired", "ready", None)),
            ("steady", recorded("steady", "ready", None)),
        ],
    );
    Estate { t, sids }
}

/// Replaces every instance SID by `GO<n>`, numbered by first appearance, so that a snapshot
/// does not depend on how the simulator draws SIDs but still shows which SID goes where.
pub(super) fn redact_sids(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut seen: Vec<&str> = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let is_sid = bytes[i..].starts_with(b"GO")
            && bytes.len() >= i + 34
            && bytes[i + 2..i + 34].iter().all(u8::is_ascii_hexdigit)
            && bytes.get(i + 34).is_none_or(|b| !b.is_ascii_alphanumeric());
        if is_sid {
            let sid = &text[i..i + 34];
            let n = match seen.iter().position(|s| *s == sid) {
                Some(n) => n + 1,
                None => {
                    seen.push(sid);
                    seen.len()
                }
            };
            out.push_str(&format!("GO<{n}>"));
            i += 34;
        } else {
            let ch = text[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}
