//! `PgStore`: the state in PostgreSQL, one row per workspace, for teams whose pipelines share
//! one estate. The database does the locking (a session-level advisory lock per workspace,
//! released when the connection ends) and the durability; every write is a compare-and-swap on
//! the serial, so a write that lost a race fails loudly instead of overwriting.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::error::StateError;
use super::history::{self, HistoryEntry, ReadEntry};
use super::lock::{LockInfo, LockWait};
use super::model::{State, StateUpdate};
use super::pg_connect;
use crate::config::secret::Secret;

/// The schema version this binary creates and reads.
const SCHEMA_VERSION: i32 = 1;

/// Advisory lock key that serialises migrations across clients.
const MIGRATION_LOCK: i64 = 0x666c_6578_666f_726d; // "flexform"

/// Where a workspace lives.
#[derive(Debug, Clone)]
pub struct PgLocation {
    /// The connection string (holds a password: never printed).
    pub url: Secret,
    /// The workspace.
    pub workspace: String,
}

impl PgLocation {
    /// The server(s) and database flexform connects to, for messages: the URL as the `PG*`
    /// variables fill it (so the host actually used, a Unix socket included), never the
    /// password.
    pub fn describe(&self) -> String {
        let env = |name: &str| std::env::var(name).ok();
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
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let resolved = pg_connect::resolve(
        location.url.expose(),
        &|name| std::env::var(name).ok(),
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
             info jsonb NOT NULL);",
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
        Some(_) => {}
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

/// Reads a workspace's audit trail, oldest first.
pub async fn read_history(location: &PgLocation) -> Result<Vec<ReadEntry>, StateError> {
    let mut client = connect(location).await?;
    migrate(&mut client, location).await?;
    let rows = client
        .query(
            "SELECT entry::text FROM flexform_history WHERE workspace = $1 ORDER BY id",
            &[&location.workspace],
        )
        .await
        .map_err(|e| db_error(location, "reading the history", e))?;
    let lines: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    Ok(history::parse_lines(lines.iter().map(String::as_str)))
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
            let holder = || async {
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
            };
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
        let info = LockInfo::new(operation);
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
        Ok(Self {
            serial_at_open,
            client,
            location: location.clone(),
            state: loaded.unwrap_or_else(State::empty),
            exists,
            backed_up: false,
            info,
        })
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
        if next.instances == self.state.instances
            && next.pending == self.state.pending
            && next.history_sha256 == self.state.history_sha256
            && self.exists
        {
            return Ok(false);
        }
        let serial = self.state.serial + 1;
        self.write(next, serial).await.map(|_| true)
    }

    /// Replaces the whole state (`state push`), with the same compare-and-swap. The serial
    /// becomes the pushed one, or one more than the current one if that is higher.
    pub async fn replace(&mut self, state: State) -> Result<(), StateError> {
        let serial = state.serial.max(self.state.serial + 1);
        self.write(state, serial).await
    }

    /// Ends a run: appends `entry` to the trail (linked to the newest entry; the workspace lock
    /// keeps the chain a line), then writes `change` and the entry's digest (one
    /// compare-and-swap). When the trail cannot be written, the state still is, and the
    /// trail's error is returned as `Ok(Some(..))`, for a warning.
    pub async fn finish(
        &mut self,
        entry: &mut HistoryEntry,
        change: impl FnOnce(&mut State),
    ) -> Result<Option<StateError>, StateError> {
        entry.serial_after = self.state.serial + 1;
        match self.append_history(entry).await {
            Ok(digest) => self
                .commit(|state| {
                    change(state);
                    state.history_sha256 = Some(digest);
                })
                .await
                .map(|_| None),
            Err(error) => self.commit(change).await.map(|_| Some(error)),
        }
    }

    /// Appends one entry to the trail, linked to the newest one; returns its digest.
    pub(crate) async fn append_history(
        &mut self,
        entry: &mut HistoryEntry,
    ) -> Result<String, StateError> {
        let e = |err| db_error(&self.location, "appending to the history", err);
        let last = self
            .client
            .query_opt(
                "SELECT entry::text FROM flexform_history WHERE workspace = $1 ORDER BY id DESC LIMIT 1",
                &[&self.location.workspace],
            )
            .await
            .map_err(e)?
            .map(|row| row.get::<_, String>(0));
        entry.prev_sha256 = Some(history::next_link(last.as_deref()));
        self.client
            .execute(
                "INSERT INTO flexform_history (workspace, entry) VALUES ($1, $2::text::jsonb)",
                &[&self.location.workspace, &entry.to_line()],
            )
            .await
            .map_err(e)?;
        Ok(entry.sha256())
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
