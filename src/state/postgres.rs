//! `PgStore`: the state in PostgreSQL, one row per workspace, for teams whose pipelines share
//! one estate. The database does the locking (a session-level advisory lock per workspace,
//! released when the connection ends) and the durability; every write is a compare-and-swap on
//! the serial, so a write that lost a race fails loudly instead of overwriting.

use crate::support::env::Env;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio_postgres::Client;

use super::backend::{Backend, Change, Store};
use super::error::StateError;
use super::history::HistoryEntry;
use super::lock::{LockInfo, LockWait};
use super::model::{State, StateUpdate};
use super::pg_connect;
use super::store::{Audit, AuditView};
use super::trail::{self, TrailLine};
use crate::config::secret::Secret;

/// The schema version this binary creates and reads: 2 keeps each trail entry's exact bytes
/// (`flexform_history.line`), which its digest, link and signature cover.
const SCHEMA_VERSION: i32 = 2;

/// Advisory lock key that serialises migrations across clients.
const MIGRATION_LOCK: i64 = 0x666c_6578_666f_726d; // "flexform"

/// Where a workspace lives.
#[derive(Debug, Clone)]
pub struct PgLocation {
    /// The connection string (holds a password: never printed).
    pub url: Secret,
    /// The workspace.
    pub workspace: String,
    /// The variables libpq would read (`PG*`, `HOME` for the password file).
    pub env: Env,
}

impl PgLocation {
    /// The server(s) and database flexform connects to, for messages: the URL as the `PG*`
    /// variables fill it (so the host actually used, a Unix socket included), never the
    /// password.
    pub fn describe(&self) -> String {
        let env = |name: &str| self.env.get(name);
        match pg_connect::locate(self.url.expose(), &env, pg_connect::DEFAULT_SOCKET_DIRS) {
            Ok((config, _)) => format!(
                "workspace `{}` on postgres {} (database {})",
                self.workspace,
                pg_connect::describe_servers(&config),
                config.get_dbname().unwrap_or("(default)")
            ),
            Err(_) => format!("workspace `{}` on postgres", self.workspace),
        }
    }
}

fn db_error(location: &PgLocation, what: &str, err: tokio_postgres::Error) -> StateError {
    // tokio_postgres errors never contain the connection string; the message names the host.
    let mut message = err.to_string();
    if let Some(db) = err.as_db_error() {
        message = format!("{} ({})", db.message(), db.code().code());
    } else if let Some(source) = std::error::Error::source(&err) {
        message = format!("{message}: {source}");
    }
    StateError::Database {
        target: location.describe(),
        what: what.to_owned(),
        message,
    }
}

/// Opens a connection as libpq would for the same connection string (see [`pg_connect`]):
/// `sslmode`, `sslrootcert`, client certificates, `PG*` variables and the password file.
pub async fn connect(location: &PgLocation) -> Result<Client, StateError> {
    let home = location.env.non_empty("HOME").map(std::path::PathBuf::from);
    let resolved = pg_connect::resolve(
        location.url.expose(),
        &|name| location.env.get(name),
        home.as_deref(),
    )
    .map_err(|message| StateError::Database {
        target: location.describe(),
        what: "reading the connection string".to_owned(),
        message,
    })?;
    // Over a Unix socket there is no TLS (as with libpq), so no sslmode to report.
    let transport = if resolved.sslmode != pg_connect::SslMode::Disable
        && resolved.config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable
    {
        "Unix socket, no TLS".to_owned()
    } else {
        format!("sslmode={}", resolved.sslmode.as_str())
    };
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(resolved.tls);
    let (client, connection) =
        tokio::time::timeout(Duration::from_secs(15), resolved.config.connect(tls))
            .await
            .map_err(|_| StateError::Database {
                target: location.describe(),
                what: "connecting".to_owned(),
                message: "no answer within 15 s".to_owned(),
            })?
            .map_err(|e| {
                let mut error = db_error(location, "connecting", e);
                if let StateError::Database { message, .. } = &mut error {
                    message.push_str(&format!(" ({transport})"));
                    if let Some(hint) = crate::support::tls::untrusted_hint(message) {
                        message.push_str(&format!(
                            "; {hint}. For PostgreSQL: add sslrootcert=/path/to/ca.pem (the CA that signed the server's certificate), or sslmode=require to encrypt without verifying"
                        ));
                    }
                }
                error
            })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("postgres connection ended: {e}");
        }
    });
    Ok(client)
}

/// Creates or upgrades the tables, once, whoever gets there first.
pub async fn migrate(client: &mut Client, location: &PgLocation) -> Result<(), StateError> {
    // Already current: no DDL, so a user with table privileges only (no CREATE) can work.
    if let Ok(row) = client
        .query_one("SELECT max(version) FROM flexform_schema", &[])
        .await
    {
        if row.try_get::<_, Option<i32>>(0).ok().flatten() == Some(SCHEMA_VERSION) {
            return Ok(());
        }
    }
    let e = |err| db_error(location, "creating the flexform tables", err);
    let tx = client.transaction().await.map_err(e)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(e)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS flexform_schema (version integer NOT NULL);
         CREATE TABLE IF NOT EXISTS flexform_states (
             workspace text PRIMARY KEY,
             lineage text NOT NULL,
             serial bigint NOT NULL,
             document jsonb NOT NULL,
             backup jsonb,
             updated_at timestamptz NOT NULL DEFAULT now());
         CREATE TABLE IF NOT EXISTS flexform_history (
             id bigserial PRIMARY KEY,
             workspace text NOT NULL,
             entry jsonb NOT NULL,
             created_at timestamptz NOT NULL DEFAULT now());
         CREATE INDEX IF NOT EXISTS flexform_history_workspace ON flexform_history (workspace, id);
         CREATE TABLE IF NOT EXISTS flexform_locks (
             workspace text PRIMARY KEY,
             info jsonb NOT NULL);
         ALTER TABLE flexform_history ADD COLUMN IF NOT EXISTS line text;",
    )
    .await
    .map_err(e)?;
    let row = tx
        .query_opt("SELECT version FROM flexform_schema", &[])
        .await
        .map_err(e)?;
    match row.map(|r| r.get::<_, i32>(0)) {
        None => {
            tx.execute("INSERT INTO flexform_schema (version) VALUES ($1)", &[&SCHEMA_VERSION])
                .await
                .map_err(e)?;
        }
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StateError::Database {
                target: location.describe(),
                what: "checking the schema".to_owned(),
                message: format!(
                    "the database has flexform schema version {v}, newer than this flexform understands ({SCHEMA_VERSION}); upgrade flexform"
                ),
            })
        }
        Some(_) => {
            tx.execute("UPDATE flexform_schema SET version = $1", &[&SCHEMA_VERSION])
                .await
                .map_err(e)?;
        }
    }
    tx.commit().await.map_err(e)
}

/// The advisory lock key of a workspace.
fn lock_key(workspace: &str) -> i64 {
    let digest =
        crate::support::hash::sha256_hex(format!("flexform-workspace:{workspace}").as_bytes());
    i64::from_str_radix(&digest[..15], 16).expect("15 hex digits fit in an i64")
}

async fn read_state(client: &Client, location: &PgLocation) -> Result<Option<State>, StateError> {
    let row = client
        .query_opt(
            "SELECT document::text FROM flexform_states WHERE workspace = $1",
            &[&location.workspace],
        )
        .await
        .map_err(|e| db_error(location, "reading the state", e))?;
    match row {
        None => Ok(None),
        Some(row) => {
            let text: String = row.get(0);
            State::from_bytes(std::path::Path::new(&location.describe()), text.as_bytes()).map(Some)
        }
    }
}

/// The database's clock now.
pub async fn database_now(location: &PgLocation) -> Result<std::time::SystemTime, StateError> {
    let client = connect(location).await?;
    now_on(&client, location).await
}

async fn now_on(
    client: &Client,
    location: &PgLocation,
) -> Result<std::time::SystemTime, StateError> {
    let row = client
        .query_one("SELECT extract(epoch FROM clock_timestamp())::float8", &[])
        .await
        .map_err(|e| db_error(location, "reading the database clock", e))?;
    let seconds: f64 = row.get(0);
    Ok(std::time::UNIX_EPOCH + Duration::from_secs_f64(seconds.max(0.0)))
}

/// Reads a workspace's audit trail, oldest first: each row's exact line (a row of schema 1,
/// without one, as the database serialises its entry).
pub async fn read_history(location: &PgLocation) -> Result<Vec<TrailLine>, StateError> {
    let mut client = connect(location).await?;
    migrate(&mut client, location).await?;
    let rows = client
        .query(
            "SELECT line, entry::text FROM flexform_history WHERE workspace = $1 ORDER BY id",
            &[&location.workspace],
        )
        .await
        .map_err(|e| db_error(location, "reading the history", e))?;
    Ok(rows
        .iter()
        .enumerate()
        .map(|(index, row)| row_line(index + 1, row))
        .collect())
}

fn row_line(number: usize, row: &tokio_postgres::Row) -> TrailLine {
    match row.get::<_, Option<String>>(0) {
        Some(line) => trail::parse_line(number, line.as_bytes(), true),
        None => trail::parse_line(number, row.get::<_, String>(1).as_bytes(), false),
    }
}

/// Who holds a workspace's lock, as its lock info says (and the info, when there is any).
async fn lock_holder(client: &Client, location: &PgLocation) -> (String, Option<LockInfo>) {
    let info = client
        .query_opt(
            "SELECT info::text FROM flexform_locks WHERE workspace = $1",
            &[&location.workspace],
        )
        .await
        .ok()
        .flatten()
        .and_then(|r| serde_json::from_str::<LockInfo>(&r.get::<_, String>(0)).ok());
    let text = info.as_ref().map_or_else(
        || "another flexform session (no lock info yet)".to_owned(),
        LockInfo::describe,
    );
    (text, info)
}

/// Reads a workspace's trail and state in one snapshot (a repeatable-read transaction), and
/// whether a run holds the workspace's lock (a shared try, let go at once).
pub async fn read_audit(
    location: &PgLocation,
) -> Result<Option<super::store::AuditView>, StateError> {
    let mut client = connect(location).await?;
    migrate(&mut client, location).await?;
    let e = |err| db_error(location, "reading the history", err);
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(e)?;
    let rows = tx
        .query(
            "SELECT line, entry::text FROM flexform_history WHERE workspace = $1 ORDER BY id",
            &[&location.workspace],
        )
        .await
        .map_err(e)?;
    let trail = rows
        .iter()
        .enumerate()
        .map(|(index, row)| row_line(index + 1, row))
        .collect();
    let state = tx
        .query_opt(
            "SELECT document::text FROM flexform_states WHERE workspace = $1",
            &[&location.workspace],
        )
        .await
        .map_err(|err| db_error(location, "reading the state", err))?
        .map(|row| {
            let text: String = row.get(0);
            State::from_bytes(std::path::Path::new(&location.describe()), text.as_bytes())
        })
        .transpose()?;
    tx.commit().await.map_err(e)?;
    // Looked up, not taken: a writer's try at the lock must never meet an audit's.
    let key = lock_key(&location.workspace);
    let held = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                AND classid = $1 AND objid = $2 AND objsubid = 1)",
            &[&((key >> 32) as u32), &(key as u32)],
        )
        .await
        .map_err(|err| db_error(location, "looking at the workspace lock", err))?
        .get::<_, bool>(0);
    let free = !held;
    let writer = if free {
        None
    } else {
        Some(lock_holder(&client, location).await.0)
    };
    Ok(Some(super::store::AuditView {
        trail,
        state,
        journal: false,
        writer,
    }))
}

/// Reads a workspace's state without locking (plan, drift, show, pull).
pub async fn load(location: &PgLocation) -> Result<Option<State>, StateError> {
    let mut client = connect(location).await?;
    migrate(&mut client, location).await?;
    read_state(&client, location).await
}

/// A workspace held under its advisory lock for one command run.
pub struct PgStore {
    client: Client,
    location: PgLocation,
    state: State,
    exists: bool,
    backed_up: bool,
    info: LockInfo,
    serial_at_open: u64,
    audit: Audit,
    trail_problem: Option<StateError>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.location.describe())
            .field("serial", &self.state.serial)
            .finish()
    }
}

impl PgStore {
    /// Connects, takes the workspace's lock (waiting as `wait` says), and reads the state.
    pub async fn open(
        location: &PgLocation,
        operation: &str,
        wait: &LockWait,
        audit: &Audit,
    ) -> Result<Self, StateError> {
        let mut client = connect(location).await?;
        migrate(&mut client, location).await?;
        let key = lock_key(&location.workspace);
        let deadline = Instant::now() + wait.timeout;
        let mut delay = Duration::from_millis(100);
        let mut told = false;
        loop {
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(|e| db_error(location, "taking the workspace lock", e))?;
            if row.get::<_, bool>(0) {
                break;
            }
            let holder = || lock_holder(&client, location);
            if Instant::now() >= deadline {
                let (text, info) = holder().await;
                return Err(StateError::Locked {
                    holder: text,
                    id: info.map_or_else(|| "<ID>".to_owned(), |i| i.id),
                });
            }
            if !told {
                told = true;
                (wait.on_wait)(&holder().await.0);
            }
            tokio::select! {
                _ = tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))) => {}
                _ = wait.stop.requested() => {
                    return Err(StateError::LockWaitStopped { holder: holder().await.0 });
                }
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
        let info = LockInfo::new(operation, &audit.runner.who);
        let info_json = serde_json::to_string(&info).expect("lock info serializes");
        client
            .execute(
                "INSERT INTO flexform_locks (workspace, info) VALUES ($1, $2::text::jsonb)
                 ON CONFLICT (workspace) DO UPDATE SET info = EXCLUDED.info",
                &[&location.workspace, &info_json],
            )
            .await
            .map_err(|e| db_error(location, "recording the lock holder", e))?;
        let loaded = read_state(&client, location).await?;
        let exists = loaded.is_some();
        let serial_at_open = loaded.as_ref().map_or(0, |s| s.serial);
        // Refused before anything is sent: a run that could not record would be worse.
        super::model::next_serial(serial_at_open)?;
        let mut store = Self {
            serial_at_open,
            client,
            location: location.clone(),
            state: loaded.unwrap_or_else(State::empty),
            exists,
            backed_up: false,
            info,
            audit: audit.clone(),
            trail_problem: None,
        };
        store.trail_problem = store.catch_up().await?;
        Ok(store)
    }

    /// The audit the store seals its entries with.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Why the trail could not be written when the store was opened, if it could not.
    pub fn trail_problem(&self) -> Option<&StateError> {
        self.trail_problem.as_ref()
    }

    /// At open: writes the entries waiting in the state, or, when the state moved past its
    /// newest entry (a run that died after recording SIDs, before its entry), a `recover`
    /// entry listing what that run recorded (against the backup its first write kept).
    async fn catch_up(&mut self) -> Result<Option<StateError>, StateError> {
        if !self.state.history_unwritten.is_empty() {
            return self.flush().await;
        }
        let Ok(last) = self.last_line().await else {
            return Ok(None);
        };
        let Some(vouched) = trail::unvouched(&self.state, self.exists, last.as_ref()) else {
            return Ok(None);
        };
        let backup = self
            .client
            .query_opt(
                "SELECT backup::text FROM flexform_states WHERE workspace = $1 AND backup IS NOT NULL",
                &[&self.location.workspace],
            )
            .await
            .ok()
            .flatten()
            .and_then(|row| serde_json::from_str::<State>(&row.get::<_, String>(0)).ok());
        let mut entry = trail::recover_entry(&self.audit.runner, vouched, backup, &self.state);
        self.finish(&mut entry, |_| {}).await
    }

    fn unwritten(&self, cause: String, lines: &[String], written: usize) -> StateError {
        trail::unwritten_error(
            format!("{} (table flexform_history)", self.location.describe()),
            cause,
            lines,
            written,
        )
    }

    /// The trail's newest row.
    async fn last_line(&self) -> Result<Option<TrailLine>, String> {
        let row = self
            .client
            .query_opt(
                "SELECT line, entry::text FROM flexform_history WHERE workspace = $1 ORDER BY id DESC LIMIT 1",
                &[&self.location.workspace],
            )
            .await
            .map_err(|e| db_error(&self.location, "reading the history", e).to_string())?;
        Ok(row.map(|row| row_line(0, &row)))
    }

    /// Inserts `lines`, one row each, stopping at the first that fails; a line that is the
    /// newest row already (an insert whose answer was lost) is not inserted twice. Returns
    /// how many are in the trail, and why the rest are not.
    async fn append_lines(&self, lines: &[String]) -> (usize, Option<String>) {
        let mut last = match self.last_line().await {
            Ok(last) => last.map(|l| l.bytes),
            Err(e) => return (0, Some(e)),
        };
        for (index, line) in lines.iter().enumerate() {
            if last.as_deref() == Some(line.as_bytes()) {
                continue;
            }
            if let Err(e) = self
                .client
                .execute(
                    "INSERT INTO flexform_history (workspace, entry, line) VALUES ($1, $2::text::jsonb, $2)",
                    &[&self.location.workspace, line],
                )
                .await
            {
                return (
                    index,
                    Some(db_error(&self.location, "appending to the history", e).to_string()),
                );
            }
            last = Some(line.as_bytes().to_vec());
        }
        (lines.len(), None)
    }

    /// The state as last committed (or read).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The serial when opened (the postgres backend has no journal to fold in).
    pub fn serial_at_open(&self) -> u64 {
        self.serial_at_open
    }

    /// Whether the workspace has a state row.
    pub fn exists(&self) -> bool {
        self.exists
    }

    /// Where it lives, for messages.
    pub fn describe(&self) -> String {
        self.location.describe()
    }

    /// The lock holder info written for this run.
    pub fn lock_info(&self) -> &LockInfo {
        &self.info
    }

    /// Writes `next` with serial `serial`, as a compare-and-swap on the serial this run last saw.
    async fn write(&mut self, mut next: State, serial: u64) -> Result<(), StateError> {
        next.serial = serial;
        next.flexform_version = env!("CARGO_PKG_VERSION").to_owned();
        let document = String::from_utf8(next.to_bytes()).expect("state JSON is UTF-8");
        let e = |err| db_error(&self.location, "writing the state", err);
        crate::failpoint!("state::pg::before_cas");
        let written = if self.exists {
            let keep_backup = !self.backed_up;
            self.client
                .execute(
                    "UPDATE flexform_states
                        SET document = $3::text::jsonb, serial = $4, lineage = $5, updated_at = now(),
                            backup = CASE WHEN $6 THEN document ELSE backup END
                      WHERE workspace = $1 AND serial = $2",
                    &[
                        &self.location.workspace,
                        &(self.state.serial as i64),
                        &document,
                        &(next.serial as i64),
                        &next.lineage,
                        &keep_backup,
                    ],
                )
                .await
                .map_err(e)?
        } else {
            self.client
                .execute(
                    "INSERT INTO flexform_states (workspace, lineage, serial, document)
                     VALUES ($1, $2, $3, $4::text::jsonb) ON CONFLICT (workspace) DO NOTHING",
                    &[
                        &self.location.workspace,
                        &next.lineage,
                        &(next.serial as i64),
                        &document,
                    ],
                )
                .await
                .map_err(e)?
        };
        crate::failpoint!("state::pg::after_cas");
        if written != 1 {
            let found = self
                .client
                .query_opt(
                    "SELECT serial FROM flexform_states WHERE workspace = $1",
                    &[&self.location.workspace],
                )
                .await
                .ok()
                .flatten()
                .map_or(0, |r| r.get::<_, i64>(0) as u64);
            return Err(StateError::Conflict {
                path: self.location.describe().into(),
                expected: self.state.serial,
                found,
            });
        }
        self.backed_up = true;
        self.exists = true;
        self.state = next;
        Ok(())
    }

    /// Records apply's updates (one compare-and-swap). A pending create's in-flight window is
    /// moved onto the database's clock, which every reader of this workspace shares, so that
    /// no decision depends on two machines' clocks agreeing.
    pub async fn record(&mut self, mut updates: Vec<StateUpdate>) -> Result<(), StateError> {
        if updates
            .iter()
            .any(|u| matches!(u, StateUpdate::Pending { .. }))
        {
            let local = std::time::SystemTime::now();
            let database = now_on(&self.client, &self.location).await?;
            for update in &mut updates {
                if let StateUpdate::Pending { pending, .. } = update {
                    let until = pending
                        .in_flight_until
                        .as_deref()
                        .and_then(|u| humantime::parse_rfc3339(u).ok());
                    if let Some(until) = until {
                        let left = until.duration_since(local).unwrap_or_default();
                        let on_database = database + left + Duration::from_millis(999);
                        pending.in_flight_until =
                            Some(humantime::format_rfc3339_seconds(on_database).to_string());
                        pending.clock = Some("database".to_owned());
                    }
                }
            }
        }
        self.commit(|state| {
            for update in updates {
                update.apply_to(state);
            }
        })
        .await
        .map(|_| ())
    }

    /// Applies `change`; if the content changed, writes it (compare-and-swap on the serial).
    pub async fn commit(&mut self, change: impl FnOnce(&mut State)) -> Result<bool, StateError> {
        let mut next = self.state.clone();
        change(&mut next);
        if next.records_the_same_as(&self.state) && self.exists {
            return Ok(false);
        }
        let serial = super::model::next_serial(self.state.serial)?;
        self.write(next, serial).await.map(|_| true)
    }

    /// Replaces the whole state (`state push`), with the same compare-and-swap. The serial
    /// becomes the pushed one, or one more than the current one if that is higher.
    pub async fn replace(&mut self, state: State) -> Result<(), StateError> {
        let serial = super::model::pushed_serial(state.serial, self.state.serial)?;
        self.write(state, serial).await
    }

    /// Ends a run, as the local store does: the sealed entry is made durable in the state
    /// first (among the entries waiting, in the compare-and-swap that writes `change`), then
    /// the waiting entries are inserted into the trail (the workspace lock keeps the chain a
    /// line) and the state records that at the same serial. When the trail cannot be written
    /// the entries stay in the state and the trail's error is returned as `Ok(Some(..))`: the
    /// run's error.
    pub async fn finish(
        &mut self,
        entry: &mut HistoryEntry,
        change: impl FnOnce(&mut State),
    ) -> Result<Option<StateError>, StateError> {
        entry.serial_after = super::model::next_serial(self.state.serial)?;
        let lines = self.seal(entry).await?;
        self.commit(|state| {
            change(state);
            state.history_unwritten = lines;
        })
        .await?;
        self.flush().await
    }

    /// `state push`: like [`Self::finish`], with `pushed` as the whole state.
    pub async fn finish_push(
        &mut self,
        entry: &mut HistoryEntry,
        mut pushed: State,
    ) -> Result<Option<StateError>, StateError> {
        entry.serial_after = super::model::pushed_serial(pushed.serial, self.state.serial)?;
        let lines = self.seal(entry).await?;
        pushed.history_sha256 = self.state.history_sha256.clone();
        pushed.history_unwritten = lines;
        self.replace(pushed).await?;
        self.flush().await
    }

    /// The entries waiting in the state, then `entry` sealed after them.
    async fn seal(&self, entry: &mut HistoryEntry) -> Result<Vec<String>, StateError> {
        let last = self.last_line().await;
        Ok(trail::seal_after(
            last.as_ref().map(Option::as_ref).map_err(|_| ()),
            &self.state,
            entry,
            self.audit.signer(),
        )?)
    }

    /// Inserts the entries waiting in the state, then records at the same serial how many
    /// went in (the newest's digest as the anchor).
    async fn flush(&mut self) -> Result<Option<StateError>, StateError> {
        let lines = self.state.history_unwritten.clone();
        let (written, error) = self.append_lines(&lines).await;
        if written > 0 {
            let mut next = self.state.clone();
            trail::settle(&mut next, &lines, written);
            let serial = self.state.serial;
            self.write(next, serial).await?;
        }
        Ok(error.map(|cause| self.unwritten(cause, &lines, written)))
    }

    /// Clears this run's lock info and releases the lock (ending the session would too).
    pub async fn release(self) {
        let _ = self
            .client
            .execute(
                "DELETE FROM flexform_locks WHERE workspace = $1 AND info->>'id' = $2",
                &[&self.location.workspace, &self.info.id],
            )
            .await;
        let _ = self
            .client
            .execute(
                "SELECT pg_advisory_unlock($1)",
                &[&lock_key(&self.location.workspace)],
            )
            .await;
    }
}

impl Backend for PgLocation {
    fn describe(&self) -> String {
        PgLocation::describe(self)
    }

    fn shared_now(&self) -> BoxFuture<'_, Result<Option<std::time::SystemTime>, StateError>> {
        Box::pin(async move { database_now(self).await.map(Some) })
    }

    fn load(&self) -> BoxFuture<'_, Result<Option<State>, StateError>> {
        Box::pin(load(self))
    }

    fn read_history(&self) -> BoxFuture<'_, Result<Vec<TrailLine>, StateError>> {
        Box::pin(read_history(self))
    }

    fn read_audit_once(&self) -> BoxFuture<'_, Result<Option<AuditView>, StateError>> {
        Box::pin(read_audit(self))
    }

    fn open<'a>(
        &'a self,
        operation: &'a str,
        wait: &'a LockWait,
        audit: &'a Audit,
    ) -> BoxFuture<'a, Result<Box<dyn Store>, StateError>> {
        Box::pin(async move {
            let store = PgStore::open(self, operation, wait, audit).await?;
            Ok(Box::new(store) as Box<dyn Store>)
        })
    }
}

impl Store for PgStore {
    fn audit(&self) -> &Audit {
        PgStore::audit(self)
    }

    fn trail_problem(&self) -> Option<&StateError> {
        PgStore::trail_problem(self)
    }

    fn state(&self) -> &State {
        PgStore::state(self)
    }

    fn exists(&self) -> bool {
        PgStore::exists(self)
    }

    fn serial_at_open(&self) -> u64 {
        PgStore::serial_at_open(self)
    }

    fn describe(&self) -> String {
        PgStore::describe(self)
    }

    fn commit<'a>(&'a mut self, change: Change<'a>) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(PgStore::commit(self, change))
    }

    fn record(&mut self, updates: Vec<StateUpdate>) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(PgStore::record(self, updates))
    }

    fn replace(&mut self, state: State) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(PgStore::replace(self, state))
    }

    fn finish<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        change: Change<'a>,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>> {
        Box::pin(PgStore::finish(self, entry, change))
    }

    fn finish_push<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        pushed: State,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>> {
        Box::pin(PgStore::finish_push(self, entry, pushed))
    }

    fn release(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(PgStore::release(*self))
    }
}
