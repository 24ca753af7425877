//! The audit trail's fault and tamper table, each mode on the local file, on PostgreSQL and on
//! S3:
//! appends refused (a real file-size limit, a real failing trigger), bad bytes, a cut last
//! line, the anchor removed with the trail cut, the trail deleted, a forged entry appended, an
//! unknown field added, entries swapped, a middle entry edited. For each: the exit code of the
//! command that met it, what `history verify` says (and `report`), and that no SID and no
//! entry is lost once the fault is gone.

use std::time::Duration;

use crate::common::{
    self, account, database_url, s3_proxy, workspace, ConfigBuilder, Outcome, S3Bucket, S3Fault,
    Test,
};
use flexform::state::{HistoryEntry, State};

/// The backend a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum B {
    Local,
    Postgres,
    S3,
}

/// The state's key in a case's bucket.
const S3_KEY: &str = "estate/flexform.state.json";

/// Where a case's state and trail live, with raw access to both for tampering.
enum Store {
    Local,
    Postgres {
        ws: String,
        client: tokio_postgres::Client,
    },
    S3 {
        bucket: S3Bucket,
    },
}

struct Case {
    t: Test,
    store: Store,
    pg_ws: Option<String>,
}

impl Case {
    /// A project on the simulator, on the local file, a fresh PostgreSQL workspace or a fresh
    /// bucket (its endpoint from `AWS_ENDPOINT_URL_S3`); `None` when that component is not
    /// available (a failure in CI).
    async fn new(b: B, test: &str) -> Option<Case> {
        Self::with_ready_after(b, test, Duration::ZERO).await
    }

    /// [`Case::new`], with the simulator's instances ready only after `ready_after`.
    async fn with_ready_after(b: B, test: &str, ready_after: Duration) -> Option<Case> {
        let t = Test::with_sim_ready_after(ready_after).await;
        match b {
            B::Local => {
                return Some(Case {
                    t,
                    store: Store::Local,
                    pg_ws: None,
                })
            }
            B::S3 => {
                let bucket = S3Bucket::new(test).await?;
                return Some(Case {
                    t: t.s3_credentials()
                        .env("AWS_ENDPOINT_URL_S3", &bucket.endpoint),
                    store: Store::S3 { bucket },
                    pg_ws: None,
                });
            }
            B::Postgres => {}
        }
        let url = database_url(test)?;
        let ws = workspace();
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the test database accepts connections");
        tokio::spawn(connection);
        Some(Case {
            t: t.env("FLEXFORM_DATABASE_URL", &url),
            store: Store::Postgres {
                ws: ws.clone(),
                client,
            },
            pg_ws: Some(ws),
        })
    }

    fn config(&self, instances: &[(&str, u32)]) -> ConfigBuilder {
        let base = match (&self.pg_ws, &self.store) {
            (Some(ws), _) => ConfigBuilder::new().postgres(ws),
            (None, Store::S3 { bucket }) => {
                ConfigBuilder::new().s3_endpoint_from_env(bucket, S3_KEY, "2s")
            }
            (None, _) => ConfigBuilder::new(),
        };
        instances
            .iter()
            .fold(base, |c, (name, n)| c.instance(name, &account(*n)))
    }

    /// An apply and `moves` renames back and forth: `1 + moves` entries, serial `1 + moves`.
    async fn estate(&self, moves: usize) {
        self.t.write_config(&self.config(&[("a", 1)]));
        self.run(&["apply", "--auto-approve"]).await.assert_exit(0);
        for i in 0..moves {
            let (from, to) = if i % 2 == 0 { ("a", "x") } else { ("x", "a") };
            self.run(&["state", "mv", from, to]).await.assert_exit(0);
        }
        if moves % 2 == 1 {
            self.run(&["state", "mv", "x", "a"]).await.assert_exit(0);
        }
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        self.t.run(args).await
    }

    async fn verify(&self) -> Outcome {
        self.t.run(&["history", "verify"]).await
    }

    /// `report --format json`'s trail check.
    async fn report_trail(&self) -> serde_json::Value {
        let out = self.run(&["report", "--format", "json"]).await;
        out.assert_exit(0);
        out.json()["trail"].clone()
    }

    /// The trail's stored lines, oldest first.
    async fn lines(&self) -> Vec<Vec<u8>> {
        match &self.store {
            Store::Local => {
                let bytes = std::fs::read(self.t.path("flexform.state.json.history.jsonl"))
                    .unwrap_or_default();
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                if lines.last().is_some_and(Vec::is_empty) {
                    lines.pop();
                }
                lines
            }
            Store::Postgres { ws, client } => client
                .query(
                    "SELECT line FROM flexform_history WHERE workspace = $1 ORDER BY id",
                    &[ws],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0).into_bytes())
                .collect(),
            Store::S3 { bucket } => {
                let bytes = bucket.get(&trail_key()).await.unwrap_or_default();
                let mut lines: Vec<Vec<u8>> =
                    bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
                if lines.last().is_some_and(Vec::is_empty) {
                    lines.pop();
                }
                lines
            }
        }
    }

    /// Replaces the trail with `lines` (each with its newline, but for a cut last line).
    async fn set_lines(&self, lines: &[Vec<u8>], cut_last: bool) {
        let mut bytes = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            bytes.extend_from_slice(line);
            if !(cut_last && i + 1 == lines.len()) {
                bytes.push(b'\n');
            }
        }
        match &self.store {
            Store::Local => {
                std::fs::write(self.t.path("flexform.state.json.history.jsonl"), bytes).unwrap();
            }
            Store::S3 { bucket } => bucket.put(&trail_key(), &bytes).await,
            Store::Postgres { ws, client } => {
                client
                    .execute("DELETE FROM flexform_history WHERE workspace = $1", &[ws])
                    .await
                    .unwrap();
                for line in lines {
                    let text = String::from_utf8_lossy(line).into_owned();
                    let entry = if serde_json::from_str::<serde_json::Value>(&text).is_ok() {
                        text.clone()
                    } else {
                        "{}".to_owned()
                    };
                    client
                        .execute(
                            "INSERT INTO flexform_history (workspace, entry, line) VALUES ($1, $2::text::jsonb, $3)",
                            &[ws, &entry, &text],
                        )
                        .await
                        .unwrap();
                }
            }
        }
    }

    async fn remove_trail(&self) {
        match &self.store {
            Store::Local => {
                std::fs::remove_file(self.t.path("flexform.state.json.history.jsonl")).unwrap()
            }
            Store::Postgres { .. } => self.set_lines(&[], false).await,
            Store::S3 { bucket } => bucket.delete(&trail_key()).await,
        }
    }

    async fn state(&self) -> State {
        match &self.store {
            Store::Local => self.t.state(),
            Store::Postgres { ws, client } => {
                let row = client
                    .query_one(
                        "SELECT document::text FROM flexform_states WHERE workspace = $1",
                        &[ws],
                    )
                    .await
                    .unwrap();
                serde_json::from_str(&row.get::<_, String>(0)).unwrap()
            }
            Store::S3 { bucket } => {
                serde_json::from_slice(&bucket.get(S3_KEY).await.unwrap()).unwrap()
            }
        }
    }

    async fn set_state(&self, state: &State) {
        match &self.store {
            Store::Local => std::fs::write(
                self.t.state_path(),
                serde_json::to_vec_pretty(state).unwrap(),
            )
            .unwrap(),
            Store::Postgres { ws, client } => {
                let text = serde_json::to_string(state).unwrap();
                client
                    .execute(
                        "UPDATE flexform_states SET document = $2::text::jsonb, serial = $3 WHERE workspace = $1",
                        &[ws, &text, &(state.serial as i64)],
                    )
                    .await
                    .unwrap();
            }
            Store::S3 { bucket } => {
                bucket
                    .put(S3_KEY, &serde_json::to_vec_pretty(state).unwrap())
                    .await
            }
        }
    }

    /// Runs `args` while the trail refuses appends: on the local file a real file-size limit
    /// (RLIMIT_FSIZE) just past the trail's size, so an append is cut part-way, as on a full
    /// disk; on PostgreSQL a trigger that fails every insert into this workspace's trail; on S3
    /// a proxy in front of the store that answers every write of the trail with 503.
    async fn run_refused(&self, args: &[&str]) -> Outcome {
        match &self.store {
            Store::Local => {
                use std::os::unix::process::CommandExt;
                let size = std::fs::metadata(self.t.path("flexform.state.json.history.jsonl"))
                    .unwrap()
                    .len();
                let limit = size + 40;
                let mut cmd = self.t.command(args);
                // SAFETY: only async-signal-safe calls between fork and exec.
                unsafe {
                    cmd.pre_exec(move || {
                        let r = libc::rlimit {
                            rlim_cur: limit,
                            rlim_max: limit,
                        };
                        if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        Ok(())
                    });
                }
                let output = tokio::task::spawn_blocking(move || cmd.output().unwrap())
                    .await
                    .unwrap();
                Outcome::from(output)
            }
            Store::Postgres { ws, client } => {
                let name = format!("refuse_{}", ws.replace('-', "_"));
                client
                    .batch_execute(&format!(
                        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN RAISE EXCEPTION 'the trail refuses inserts (test)'; END $$;
                         CREATE TRIGGER {name} BEFORE INSERT ON flexform_history FOR EACH ROW
                         WHEN (NEW.workspace = '{ws}') EXECUTE FUNCTION {name}();"
                    ))
                    .await
                    .unwrap();
                let out = self.t.run(args).await;
                client
                    .batch_execute(&format!(
                        "DROP TRIGGER {name} ON flexform_history; DROP FUNCTION {name}();"
                    ))
                    .await
                    .unwrap();
                out
            }
            Store::S3 { bucket } => {
                let proxy = s3_proxy(bucket.endpoint.clone(), S3Fault::RefuseTrailWrites).await;
                self.t
                    .run_with_env(args, &[("AWS_ENDPOINT_URL_S3", Some(&proxy))])
                    .await
            }
        }
    }

    /// Every entry `history --format json` lists, oldest first (its commands and serials).
    async fn listed(&self) -> Vec<(String, u64, u64)> {
        let out = self.run(&["history", "--format", "json"]).await;
        out.assert_exit(0);
        let mut entries: Vec<(String, u64, u64)> = out.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["command"].as_str().unwrap().to_owned(),
                    e["serial_before"].as_u64().unwrap(),
                    e["serial_after"].as_u64().unwrap(),
                )
            })
            .collect();
        entries.reverse();
        entries
    }
}

/// The trail object's key beside the state in a case's bucket.
fn trail_key() -> String {
    format!("{S3_KEY}.history.jsonl")
}

/// The problems `verify` printed on stdout, one per `  - ` line.
fn problems(out: &Outcome) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  - "))
        .map(str::to_owned)
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One test per backend for each mode.
macro_rules! on_every_backend {
    ($($mode:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $mode() { super::$mode(super::B::Local).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $mode() { super::$mode(super::B::Postgres).await })*
        }
        mod s3 {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $mode() { super::$mode(super::B::S3).await })*
        }
    };
}

on_every_backend!(
    append_refused,
    bad_bytes,
    cut_last_line,
    anchor_removed_and_trail_cut,
    trail_deleted,
    forged_entry_appended,
    unknown_field_added,
    entries_swapped,
    middle_entry_edited,
    cut_trail_passed_off_as_older,
    forged_line_is_not_absorbed,
    killed_run_gets_a_recover_entry,
    verify_beside_a_busy_writer_sees_no_tampering,
);

/// The trail refuses appends: the run still records its SIDs and exits 1 naming the cause and
/// the entry, which waits in the state; verify names the missing serials; once the fault is
/// gone the next writing command writes every waiting entry first, and nothing is lost.
async fn append_refused(b: B) {
    let Some(c) = Case::new(b, "trail append_refused").await else {
        return;
    };
    // A trail a few entries long, so that the file-size limit bites the trail, not the state.
    c.estate(8).await;
    let s0 = c.state().await.serial;
    c.t.write_config(&c.config(&[("a", 1), ("b", 2)]));
    let out = c.run_refused(&["apply", "--auto-approve"]).await;
    out.assert_exit(1)
        .assert_stderr_contains("cannot write the audit trail")
        .assert_stderr_contains(&format!("the apply entry for serials {s0} -> "))
        .assert_stderr_contains("(create flex_instance.b GO")
        .assert_stderr_contains("is kept in the state");
    assert!(!out.stdout.contains("Apply complete"), "{out:?}");
    let sid_b = c.t.sim_sid(&account(2));
    let state = c.state().await;
    assert_eq!(
        state.instances["b"].flex_instance_sid.as_str(),
        sid_b,
        "the SID is recorded whatever the trail"
    );
    assert_eq!(state.history_unwritten.len(), 1);
    let s1 = state.serial;

    // Another change while the trail still refuses: recorded, exit 1, two entries wait.
    let out = c.run_refused(&["state", "mv", "b", "c"]).await;
    out.assert_exit(1)
        .assert_stderr_contains(&format!(
            "the state mv entry for serials {s1} -> {}",
            s1 + 1
        ))
        .assert_stderr_contains("are kept in the state");
    assert_eq!(c.state().await.history_unwritten.len(), 2);
    c.t.write_config(&c.config(&[("a", 1), ("c", 2)]));

    let out = c.verify().await;
    out.assert_exit(1)
        .assert_stdout_contains(&format!(
            "the trail is missing the apply entry for serials {s0} -> {s1}"
        ))
        .assert_stdout_contains(&format!(
            "the trail is missing the state mv entry for serials {s1} -> {}",
            s1 + 1
        ));
    assert_eq!(c.report_trail().await["intact"], false);
    // history lists the waiting entries too, and says so.
    let out = c.run(&["history"]).await;
    out.assert_exit(0)
        .assert_stdout_contains(&sid_b)
        .assert_stderr_contains("could not be written to the trail yet");

    // The fault is gone: a run with nothing to change writes both entries first.
    let out = c.run(&["apply", "--auto-approve"]).await;
    out.assert_exit(0).assert_stdout_contains("No changes");
    let state = c.state().await;
    assert!(state.history_unwritten.is_empty(), "{state:?}");
    assert_eq!(
        state.serial,
        s1 + 1,
        "catching up changes no content, no serial"
    );
    let listed = c.listed().await;
    assert_eq!(listed.len(), 11, "{listed:?}");
    assert_eq!(listed[9], ("apply".to_owned(), s0, s1));
    assert_eq!(listed[10], ("state mv".to_owned(), s1, s1 + 1));
    let out = c.verify().await;
    if b != B::Local {
        out.assert_exit(0);
    } else {
        // The limit cut each refused append part-way (40 bytes in): those two fragments are
        // the only lines reported, and the entries written whole after them link over them.
        out.assert_exit(1);
        let found = problems(&out);
        assert_eq!(found.len(), 2, "{out:?}");
        assert!(
            found[0].starts_with("line 10: it is not a history entry"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("line 11: it is not a history entry"),
            "{found:?}"
        );
    }
    // And the next run carries on from there.
    c.run(&["state", "mv", "c", "b"]).await.assert_exit(0);
    assert_eq!(c.listed().await.len(), 12);
}

/// A non-UTF-8 byte (PostgreSQL text cannot hold one: a line that is not JSON) in a middle
/// line: the next run still records and appends; verify names that line (and the one that
/// linked to it as it was); restored, the whole trail verifies with the new entry.
async fn bad_bytes(b: B) {
    let Some(c) = Case::new(b, "trail bad_bytes").await else {
        return;
    };
    c.estate(2).await;
    let original = c.lines().await;
    let mut bad = original.clone();
    if b == B::Postgres {
        bad[1].insert(0, b'#');
    } else {
        bad[1].insert(10, 0xff);
    }
    c.set_lines(&bad, false).await;
    let out = c.run(&["state", "mv", "a", "x"]).await;
    out.assert_exit(0);
    let out = c.verify().await;
    out.assert_exit(1);
    let found = problems(&out);
    assert!(
        found[0].starts_with("line 2: it is not a history entry"),
        "{found:?}"
    );
    if b != B::Postgres {
        assert!(found[0].contains("UTF-8"), "{found:?}");
    }
    assert_eq!(c.report_trail().await["intact"], false);
    let out = c.run(&["history"]).await;
    out.assert_exit(0)
        .assert_stderr_contains("history line 2 is not an entry");
    // The fault gone: the original line back, the new entry kept.
    let mut restored = c.lines().await;
    restored[1] = original[1].clone();
    c.set_lines(&restored, false).await;
    c.verify().await.assert_exit(0);
    assert_eq!(c.listed().await.len(), 4);
}

/// The last line cut mid-way (no final newline): the next entry starts on a line of its
/// own and is listed, and only the cut line is reported.
async fn cut_last_line(b: B) {
    let Some(c) = Case::new(b, "trail cut_last_line").await else {
        return;
    };
    c.estate(2).await;
    // An append that did not finish (a run killed mid-write): half a line, no newline.
    let mut lines = c.lines().await;
    let half = lines[2][..lines[2].len() / 2].to_vec();
    lines.push(half.clone());
    c.set_lines(&lines, true).await;
    let out = c.verify().await;
    out.assert_exit(1);
    if b != B::Postgres {
        out.assert_stdout_contains("line 4: it is not a history entry: it is cut");
    }
    let out = c.run(&["state", "mv", "a", "x"]).await;
    out.assert_exit(0);
    let after = c.lines().await;
    assert_eq!(after.len(), 5, "the new entry has a line of its own");
    assert_eq!(after[3], half);
    let out = c.verify().await;
    out.assert_exit(1);
    let found = problems(&out);
    assert_eq!(found.len(), 1, "{out:?}");
    assert!(
        found[0].starts_with("line 4: it is not a history entry"),
        "{found:?}"
    );
    let listed = c.listed().await;
    assert_eq!(listed.last().unwrap().0, "state mv");
    assert_eq!(listed.len(), 4, "every entry is listed");
}

/// A trail cut to its first line, that line's link and the state's anchor removed, so that
/// it looks like an older flexform's trail: broken (the state anchors nothing at serial 3),
/// also for `report`.
async fn cut_trail_passed_off_as_older(b: B) {
    let Some(c) = Case::new(b, "trail cut_trail_passed_off_as_older").await else {
        return;
    };
    c.estate(2).await;
    let lines = c.lines().await;
    let mut first: serde_json::Value = serde_json::from_slice(&lines[0]).unwrap();
    first.as_object_mut().unwrap().remove("prev_sha256");
    c.set_lines(&[serde_json::to_vec(&first).unwrap()], false)
        .await;
    let mut state = c.state().await;
    state.history_sha256 = None;
    c.set_state(&state).await;
    c.verify()
        .await
        .assert_exit(1)
        .assert_stdout_contains("anchors no entry")
        .assert_stdout_contains("have no entry");
    assert_eq!(c.report_trail().await["intact"], false);
}

/// A chained line appended after the anchored one is not taken into the chain by the next
/// run: its entry links to the anchored entry, and verify names the appended line as
/// inserted, not the genuine entry after it.
async fn forged_line_is_not_absorbed(b: B) {
    let Some(c) = Case::new(b, "trail forged_line_is_not_absorbed").await else {
        return;
    };
    c.estate(2).await;
    let mut lines = c.lines().await;
    let serial = c.state().await.serial;
    let mut forged = HistoryEntry::new("import", serial, serial + 1, Vec::new());
    forged.who = "forger@laptop".into();
    forged.prev_sha256 = Some(sha256(lines.last().unwrap()));
    lines.push(forged.to_line().into_bytes());
    c.set_lines(&lines, false).await;
    c.run(&["state", "mv", "a", "x"]).await.assert_exit(0);
    let out = c.verify().await;
    out.assert_exit(1);
    let found = problems(&out);
    assert_eq!(found.len(), 1, "{out:?}");
    assert!(
        found[0].starts_with("line 4: it is not part of the chain: line 5 links over it to line 3"),
        "{found:?}"
    );
}

/// The anchor removed from the state and the trail cut from 3 entries to 1: broken (it used
/// to verify as intact); restored, intact.
async fn anchor_removed_and_trail_cut(b: B) {
    let Some(c) = Case::new(b, "trail anchor_removed_and_trail_cut").await else {
        return;
    };
    c.estate(2).await;
    let (lines, state) = (c.lines().await, c.state().await);
    assert_eq!(lines.len(), 3);
    let first: HistoryEntry = serde_json::from_slice(&lines[0]).unwrap();
    let mut bare = state.clone();
    bare.history_sha256 = None;
    c.set_state(&bare).await;
    c.set_lines(&lines[..1], false).await;
    let out = c.verify().await;
    out.assert_exit(1)
        .assert_stdout_contains("anchors no entry")
        .assert_stdout_contains(&format!(
            "serials {} to {} have no entry",
            first.serial_after + 1,
            state.serial
        ));
    let trail = c.report_trail().await;
    assert_eq!(trail["intact"], false, "{trail:#}");
    c.set_state(&state).await;
    c.set_lines(&lines, false).await;
    c.verify().await.assert_exit(0);
    assert_eq!(c.report_trail().await["intact"], true);
}

/// The whole trail deleted, with and without the anchor: broken either way.
async fn trail_deleted(b: B) {
    let Some(c) = Case::new(b, "trail trail_deleted").await else {
        return;
    };
    c.estate(2).await;
    let (lines, state) = (c.lines().await, c.state().await);
    c.remove_trail().await;
    c.verify()
        .await
        .assert_exit(1)
        .assert_stdout_contains("the trail is missing or empty");
    let mut bare = state.clone();
    bare.history_sha256 = None;
    c.set_state(&bare).await;
    c.verify()
        .await
        .assert_exit(1)
        .assert_stdout_contains("there is no trail");
    let trail = c.report_trail().await;
    assert_eq!(trail["intact"], false, "{trail:#}");
    assert!(
        trail["broken"].as_str().unwrap().contains("no trail"),
        "{trail:#}"
    );
    c.set_state(&state).await;
    c.set_lines(&lines, false).await;
    c.verify().await.assert_exit(0);
}

/// A correctly chained entry appended after the anchored one: broken on stdout and in the
/// exit code (it used to be a warning), and `report` does not call the trail intact.
async fn forged_entry_appended(b: B) {
    let Some(c) = Case::new(b, "trail forged_entry_appended").await else {
        return;
    };
    c.estate(2).await;
    let mut lines = c.lines().await;
    let serial = c.state().await.serial;
    let mut forged = HistoryEntry::new("import", serial, serial + 1, Vec::new());
    forged.who = "cfo@laptop".into();
    forged.prev_sha256 = Some(sha256(lines.last().unwrap()));
    lines.push(forged.to_line().into_bytes());
    c.set_lines(&lines, false).await;
    let out = c.verify().await;
    out.assert_exit(1)
        .assert_stdout_contains("line 4: it and every line after it come after line 3");
    let trail = c.report_trail().await;
    assert_eq!(trail["intact"], false, "{trail:#}");
    lines.pop();
    c.set_lines(&lines, false).await;
    c.verify().await.assert_exit(0);
}

/// An unknown key inside a change (entries are read as stored, never re-serialised).
async fn unknown_field_added(b: B) {
    let Some(c) = Case::new(b, "trail unknown_field_added").await else {
        return;
    };
    c.estate(2).await;
    let original = c.lines().await;
    let mut lines = original.clone();
    let text = String::from_utf8(lines[1].clone()).unwrap();
    let forged = text.replacen("\"action\":", "\"approved_by\":\"cfo\",\"action\":", 1);
    assert_ne!(forged, text);
    lines[1] = forged.into_bytes();
    c.set_lines(&lines, false).await;
    let out = c.verify().await;
    out.assert_exit(1);
    let found = problems(&out);
    assert!(
        found[0].starts_with("line 2: ") && found[0].contains("approved_by"),
        "{found:?}"
    );
    c.set_lines(&original, false).await;
    c.verify().await.assert_exit(0);
}

async fn entries_swapped(b: B) {
    let Some(c) = Case::new(b, "trail entries_swapped").await else {
        return;
    };
    c.estate(2).await;
    let original = c.lines().await;
    let mut lines = original.clone();
    lines.swap(1, 2);
    c.set_lines(&lines, false).await;
    let out = c.verify().await;
    out.assert_exit(1);
    assert!(
        problems(&out)[0].starts_with("line 2: it does not follow line 1"),
        "{out:?}"
    );
    c.set_lines(&original, false).await;
    c.verify().await.assert_exit(0);
}

async fn middle_entry_edited(b: B) {
    let Some(c) = Case::new(b, "trail middle_entry_edited").await else {
        return;
    };
    c.estate(2).await;
    let original = c.lines().await;
    let mut lines = original.clone();
    let text = String::from_utf8(lines[1].clone()).unwrap();
    lines[1] = text
        .replacen("\"who\":\"", "\"who\":\"mallory-", 1)
        .into_bytes();
    c.set_lines(&lines, false).await;
    let out = c.verify().await;
    out.assert_exit(1);
    assert_eq!(
        problems(&out),
        ["line 3: it does not follow line 2: a line before it was edited, deleted or moved, or it was"],
        "{out:?}"
    );
    c.set_lines(&original, false).await;
    c.verify().await.assert_exit(0);
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Signed entries: a key pair made by the stock `ssh-keygen`, in `dir`.
struct Keys {
    dir: tempfile::TempDir,
}

impl Keys {
    /// `None` where `ssh-keygen` is missing (a failure in CI, which installs it).
    fn new(test: &str) -> Option<Keys> {
        let found = std::process::Command::new("ssh-keygen")
            .arg("-?")
            .output()
            .is_ok();
        if !found {
            common::unavailable(test, "ssh-keygen is not installed (Debian: openssh-client)");
            return None;
        }
        Some(Keys {
            dir: tempfile::tempdir().unwrap(),
        })
    }

    /// Makes an unencrypted Ed25519 key `name` for `principal`; returns its private key's path.
    fn make(&self, name: &str, principal: &str, passphrase: &str) -> String {
        let path = self.dir.path().join(name);
        let status = std::process::Command::new("ssh-keygen")
            .args([
                "-q", "-t", "ed25519", "-N", passphrase, "-C", principal, "-f",
            ])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path.display().to_string()
    }

    /// The public key line of `name`.
    fn public(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.pub")))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `ssh-keygen -l`'s fingerprint of `name`.
    fn fingerprint(&self, name: &str) -> String {
        let out = std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.dir.path().join(format!("{name}.pub")))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    }

    /// An allowed-signers file trusting `name` as `principal` for flexform's namespace.
    fn allowed(&self, principal: &str, name: &str) -> String {
        let path = self.dir.path().join("allowed_signers");
        std::fs::write(
            &path,
            format!(
                "# the pipeline's key\n{principal} namespaces=\"flexform-history\" {}\n",
                self.public(name)
            ),
        )
        .unwrap();
        path.display().to_string()
    }
}

/// The auditor's check without flexform, exactly as the README's Audit section prints it
/// (its three `$ sed` lines, read from the README): one line of the trail, its signature cut
/// out with sed, the stock `ssh-keygen -Y verify`.
fn stock_verify(
    dir: &std::path::Path,
    trail: &str,
    line: usize,
    allowed: &str,
    principal: &str,
) -> std::process::Output {
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    let commands: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("$ sed -n 2p flexform.state.json.history.jsonl"))
        .take(3)
        .map(|l| l.strip_prefix("$ ").expect("three shell lines"))
        .collect();
    assert_eq!(commands.len(), 3, "the README's one-liner is gone");
    assert!(commands[2]
        .contains("ssh-keygen -Y verify -f allowed_signers -I ci@acme -n flexform-history"));
    let script = commands
        .join("\n")
        .replace(
            "sed -n 2p flexform.state.json.history.jsonl",
            &format!("sed -n {line}p {trail}"),
        )
        .replace("-f allowed_signers", &format!("-f {allowed}"))
        .replace("-I ci@acme", &format!("-I {principal}"));
    std::process::Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// Every entry carries an SSH signature over its exact bytes and names its key; `verify
/// --allowed-signers` passes for the pipeline's key and names the first entry signed by
/// another key or not signed at all; the stock `ssh-keygen -Y verify` accepts the signature;
/// `--signed-since` lets a trail that began unsigned pass from that serial on.
#[tokio::test(flavor = "multi_thread")]
async fn signed_entries_verify_with_flexform_and_with_the_stock_ssh_keygen() {
    let Some(keys) = Keys::new("signed entries") else {
        return;
    };
    let ci = keys.make("ci", "ci@acme", "");
    let mallory = keys.make("mallory", "mallory@laptop", "");
    let allowed = keys.allowed("ci@acme", "ci");
    let c = Case::new(B::Local, "signed entries").await.unwrap();
    // The first run predates signing.
    c.t.write_config(&c.config(&[("a", 1)]));
    c.run(&["apply", "--auto-approve"]).await.assert_exit(0);
    let signing = [("FLEXFORM_SIGNING_KEY", Some(ci.as_str()))];
    c.t.run_with_env(&["state", "mv", "a", "x"], &signing)
        .await
        .assert_exit(0);
    c.t.run_with_env(&["state", "mv", "x", "a"], &signing)
        .await
        .assert_exit(0);
    let entries = c.t.history();
    assert_eq!(entries[0].signer, None);
    assert_eq!(
        entries[1].signer.as_deref(),
        Some(keys.fingerprint("ci").as_str())
    );
    assert!(entries[2]
        .signature
        .as_deref()
        .unwrap()
        .starts_with("-----BEGIN SSH SIGNATURE-----"));

    let verify = |extra: &[&str]| {
        let mut args = vec!["history", "verify", "--allowed-signers", allowed.as_str()];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    // The unsigned first entry fails a check of every entry, and passes --signed-since 2.
    let out = c.run(&strs(&verify(&[]))).await;
    out.assert_exit(1);
    assert_eq!(problems(&out).len(), 1, "{out:?}");
    assert!(
        problems(&out)[0].starts_with("line 1: the entry for serials 0 -> 1 is not signed"),
        "{out:?}"
    );
    c.run(&strs(&verify(&["--signed-since", "2"])))
        .await
        .assert_exit(0)
        .assert_stdout_contains("every entry from serial 2 on signed by an allowed key");
    // Without --allowed-signers the signatures are counted, and checking them suggested.
    c.verify()
        .await
        .assert_exit(0)
        .assert_stderr_contains("2 entries are signed; pass --allowed-signers");

    // The stock tool accepts flexform's signature on the entry's exact bytes.
    let trail = "flexform.state.json.history.jsonl";
    let stock = stock_verify(c.t.dir(), trail, 3, &allowed, "ci@acme");
    assert!(
        stock.status.success(),
        "ssh-keygen -Y verify refused: {}{}",
        String::from_utf8_lossy(&stock.stdout),
        String::from_utf8_lossy(&stock.stderr)
    );
    assert!(String::from_utf8_lossy(&stock.stdout)
        .contains("Good \"flexform-history\" signature for ci@acme"));

    // Someone who can write the state and the trail, with a key of their own: the chain
    // holds, the signature is not an allowed one.
    c.t.run_with_env(
        &["state", "mv", "a", "x"],
        &[("FLEXFORM_SIGNING_KEY", Some(mallory.as_str()))],
    )
    .await
    .assert_exit(0);
    let out = c.run(&strs(&verify(&["--signed-since", "2"]))).await;
    out.assert_exit(1);
    let found = problems(&out);
    assert_eq!(found.len(), 1, "{out:?}");
    assert!(
        found[0].starts_with(
            "line 4: the entry for serials 3 -> 4 is wrongly signed: signed by SHA256:"
        ),
        "{found:?}"
    );
    assert!(
        found[0].contains("not in the allowed signers file"),
        "{found:?}"
    );
    assert!(found[0].contains(&keys.fingerprint("mallory")), "{found:?}");
    assert!(!stock_verify(c.t.dir(), trail, 4, &allowed, "ci@acme")
        .status
        .success());
    // An unsigned entry after signing began.
    c.run(&["state", "mv", "x", "a"]).await.assert_exit(0);
    let out = c.run(&strs(&verify(&["--signed-since", "2"]))).await;
    assert!(
        problems(&out)[1].starts_with("line 5: the entry for serials 4 -> 5 is not signed"),
        "{out:?}"
    );
    // A signed entry whose bytes were edited (and the chain and anchor redone to match):
    // only the signature can tell.
    let mut lines = c.lines().await;
    let text = String::from_utf8(lines[2].clone()).unwrap();
    lines[2] = text
        .replacen("\"who\":\"", "\"who\":\"mallory-", 1)
        .into_bytes();
    for i in 3..lines.len() {
        let mut entry: HistoryEntry = serde_json::from_slice(&lines[i]).unwrap();
        entry.prev_sha256 = Some(sha256(&lines[i - 1]));
        lines[i] = entry.to_line().into_bytes();
    }
    c.set_lines(&lines, false).await;
    let mut state = c.state().await;
    state.history_sha256 = Some(sha256(lines.last().unwrap()));
    c.set_state(&state).await;
    let out = c.run(&strs(&verify(&["--signed-since", "2"]))).await;
    let found = problems(&out);
    assert!(
        found[0].starts_with(
            "line 3: the entry for serials 2 -> 3 is wrongly signed: the signature does not match"
        ),
        "{found:?}"
    );

    // A key flexform cannot use is refused before anything is sent.
    let locked = keys.make("locked", "ci@acme", "secret");
    c.t.write_config(&c.config(&[("a", 1), ("b", 2)]));
    let creates = c.t.stats().create_requests;
    let out =
        c.t.run_with_env(
            &["apply", "--auto-approve"],
            &[("FLEXFORM_SIGNING_KEY", Some(locked.as_str()))],
        )
        .await;
    out.assert_exit(1)
        .assert_stderr_contains("decrypt it with `ssh-keygen -p");
    assert_eq!(c.t.stats().create_requests, creates);
}

/// The same signatures on PostgreSQL: the row keeps the exact line, so its signature checks.
#[tokio::test(flavor = "multi_thread")]
async fn signed_entries_verify_on_postgres() {
    signed_entries_verify_on(B::Postgres).await;
}

/// The same signatures on S3: the trail object keeps the exact lines.
#[tokio::test(flavor = "multi_thread")]
async fn signed_entries_verify_on_s3() {
    signed_entries_verify_on(B::S3).await;
}

async fn signed_entries_verify_on(b: B) {
    let test = format!("signed entries on {b:?}");
    let Some(keys) = Keys::new(&test) else {
        return;
    };
    let ci = keys.make("ci", "ci@acme", "");
    let mallory = keys.make("mallory", "mallory@laptop", "");
    let allowed = keys.allowed("ci@acme", "ci");
    let Some(c) = Case::new(b, &test).await else {
        return;
    };
    let c = Case {
        t: c.t.env("FLEXFORM_SIGNING_KEY", &ci),
        ..c
    };
    c.estate(2).await;
    let verify = ["history", "verify", "--allowed-signers", allowed.as_str()];
    c.run(&verify)
        .await
        .assert_exit(0)
        .assert_stdout_contains("every entry signed by an allowed key");
    // The stock tool on a row's line.
    let lines = c.lines().await;
    std::fs::write(
        c.t.path("rows.jsonl"),
        lines
            .iter()
            .map(|l| format!("{}\n", String::from_utf8_lossy(l)))
            .collect::<String>(),
    )
    .unwrap();
    let stock = stock_verify(c.t.dir(), "rows.jsonl", 2, &allowed, "ci@acme");
    assert!(
        stock.status.success(),
        "{}",
        String::from_utf8_lossy(&stock.stderr)
    );
    c.t.run_with_env(
        &["state", "mv", "a", "x"],
        &[("FLEXFORM_SIGNING_KEY", Some(mallory.as_str()))],
    )
    .await
    .assert_exit(0);
    let out = c.run(&verify).await;
    out.assert_exit(1);
    assert!(
        problems(&out)[0].starts_with("line 4: ")
            && problems(&out)[0].contains("not in the allowed signers file"),
        "{out:?}"
    );
}

/// A run killed after it recorded a SID, before its entry: until the next writing command
/// verify says the trail lacks it (a journal on a local state, serials without an entry on
/// PostgreSQL); that command writes a `recover` entry listing the SID, and verify passes.
async fn killed_run_gets_a_recover_entry(b: B) {
    // A new workspace or file: the killed run is the first; its instance provisions for long.
    let Some(c) = Case::with_ready_after(
        b,
        "trail killed_run_gets_a_recover_entry",
        Duration::from_secs(3600),
    )
    .await
    else {
        return;
    };
    c.t.write_config(&c.config(&[("a", 1)]));
    let mut run = c.t.spawn(&["apply", "--auto-approve"]);
    let mut recorded = false;
    for _ in 0..300 {
        let sid = match &c.store {
            Store::Local => State::load(&c.t.state_path())
                .ok()
                .flatten()
                .is_some_and(|s| s.instances.contains_key("a")),
            Store::Postgres { .. } | Store::S3 { .. } => {
                let pulled = c.run(&["state", "pull"]).await;
                pulled.stdout.contains("flex_instance_sid")
            }
        };
        if sid {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recorded, "apply recorded the SID while waiting");
    run.kill();
    let _ = run.output().await;
    let sid = c.t.sim_sid(&account(1));
    let out = c.verify().await;
    out.assert_exit(1);
    assert!(
        out.stdout.contains(if b != B::Local {
            "there is no trail"
        } else {
            "a journal beside the state"
        }),
        "{out:?}"
    );
    assert!(c.t.sim().set_status(&sid, "ready"));
    // (On S3 the killed run's lock holds until its 2 s lease has run out.)
    c.run(&["state", "mv", "a", "b", "--lock-timeout", "20s"])
        .await
        .assert_exit(0);
    c.verify().await.assert_exit(0);
    let out = c.run(&["history", "--format", "json"]).await;
    let doc = out.json();
    let recover = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["command"] == "recover")
        .unwrap_or_else(|| panic!("no recover entry: {doc:#}"));
    assert_eq!(recover["serial_before"], 0, "{doc:#}");
    assert_eq!(
        recover["changes"][0]["flex_instance_sid"],
        sid.as_str(),
        "{doc:#}"
    );
}

/// `history verify` while another process writes the state and the trail in a loop: each
/// verify sees the two in step (never a cut, an unwritten or an added entry that is not).
async fn verify_beside_a_busy_writer_sees_no_tampering(b: B) {
    let Some(c) = Case::new(b, "trail verify_beside_a_busy_writer").await else {
        return;
    };
    c.estate(0).await;
    let commands: Vec<std::process::Command> = (0..30)
        .map(|i| {
            let (from, to) = if i % 2 == 0 { ("a", "x") } else { ("x", "a") };
            c.t.command(&["state", "mv", from, to, "--lock-timeout", "30s"])
        })
        .collect();
    let busy = std::thread::spawn(move || {
        commands
            .into_iter()
            .all(|mut cmd| cmd.output().is_ok_and(|o| o.status.success()))
    });
    let mut checked = 0;
    while !busy.is_finished() && checked < 40 {
        let out = c.verify().await;
        assert_eq!(out.code, Some(0), "a verify beside a writer: {out:?}");
        checked += 1;
    }
    assert!(busy.join().unwrap(), "every rename went through");
    assert!(checked > 0);
    c.verify().await.assert_exit(0);
}

/// `state push` lists what the pushed document changes, and refuses a document that keeps
/// entries its own trail never took (they would be lost).
#[tokio::test(flavor = "multi_thread")]
async fn state_push_records_its_changes_and_refuses_waiting_entries() {
    let c = Case::new(B::Local, "state push").await.unwrap();
    c.estate(8).await;
    let sid = c.state().await.instances["a"].flex_instance_sid.to_string();
    let mut pushed = c.state().await;
    pushed.instances.remove("a");
    pushed.serial += 1;
    std::fs::write(
        c.t.path("pushed.json"),
        serde_json::to_vec_pretty(&pushed).unwrap(),
    )
    .unwrap();
    c.run(&["state", "push", "pushed.json"])
        .await
        .assert_exit(0);
    let doc = c.run(&["history", "--format", "json"]).await.json();
    let push = &doc["entries"][0];
    assert_eq!(push["command"], "state push", "{doc:#}");
    assert_eq!(push["changes"][0]["action"], "rm", "{doc:#}");
    assert_eq!(
        push["changes"][0]["flex_instance_sid"],
        sid.as_str(),
        "{doc:#}"
    );
    c.verify().await.assert_exit(0);

    // A state whose entry waits (its trail refused it) cannot be pushed elsewhere as it is.
    c.t.write_config(&c.config(&[("b", 2)]));
    c.run_refused(&["apply", "--auto-approve"])
        .await
        .assert_exit(1);
    std::fs::copy(c.t.state_path(), c.t.path("waiting.json")).unwrap();
    let out = c.run(&["state", "push", "waiting.json", "--force"]).await;
    out.assert_exit(1)
        .assert_stderr_contains("keeps 1 audit-trail entry its trail could not take yet")
        .assert_stderr_contains("Nothing was pushed");
}
