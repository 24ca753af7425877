//! `S3Store`: the state in an S3 bucket (or an S3-compatible store), beside a team's Terraform
//! state, with everything a run writes in the bucket: the state (`<key>`), its backup
//! (`<key>.backup`), the audit trail (`<key>.history.jsonl`) and the lock (`<key>.lock`).
//!
//! Every write that matters is conditional: the first state with `If-None-Match: *`, every
//! later one with `If-Match` on the ETag this run read, so a writer that lost a race is refused
//! (412) and writes nothing; the refusal is never retried or merged. The lock is a JSON object
//! created with `If-None-Match: *`, whose holder renews its lease (`If-Match` on its own lock)
//! every third of `lock_lease`; a killed run's lock is taken over once its lease has run out,
//! with `If-Match` on the expired lock, so two takers cannot both win. Before a writing run
//! takes the lock, the store is checked to refuse a write its condition forbids: a store (or a
//! proxy) that ignores the conditions is refused before anything is sent to Twilio.
//!
//! The protocol is Apache Arrow's `object_store`; credentials come from the AWS SDK's standard
//! chain (`aws-config`).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion,
};
use serde::{Deserialize, Serialize};

use super::backend::{Backend, Change, Store};
use super::error::StateError;
use super::history::HistoryEntry;
use super::lock::{ForceUnlock, LockWait};
use super::model::{State, StateUpdate};
use super::store::{Audit, AuditView};
use super::trail::{self, TrailLine};

/// How long a lock holds without being renewed, unless `lock_lease` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Where a state lives in S3.
#[derive(Clone)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The state's object key.
    pub key: String,
    /// The region requests are signed for.
    pub region: String,
    /// An S3-compatible store's endpoint (`None`: AWS's own).
    pub endpoint: Option<String>,
    /// How long the lock holds without being renewed.
    pub lease: Duration,
    /// The clients, made at first use and shared by every clone.
    clients: Arc<tokio::sync::OnceCell<Clients>>,
}

/// Two clients of one store: reads and deletes retried by the client on a server error;
/// writes never retried by it ([`S3Location::put`] reads an unknown outcome back first).
struct Clients {
    reads: Arc<AmazonS3>,
    writes: Arc<AmazonS3>,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The objects beside the state.
const BACKUP: &str = ".backup";
const TRAIL: &str = ".history.jsonl";
const LOCK: &str = ".lock";
const PROBE: &str = ".probe-";

impl S3Location {
    /// The location of `key` in `bucket`.
    pub fn new(
        bucket: String,
        key: String,
        region: String,
        endpoint: Option<String>,
        lease: Duration,
    ) -> Self {
        Self {
            bucket,
            key,
            region,
            endpoint,
            lease,
            clients: Arc::default(),
        }
    }

    /// `s3://bucket/key` and, for an S3-compatible store, its endpoint: what every message
    /// names (never a credential).
    pub fn describe(&self) -> String {
        self.describe_object("")
    }

    fn describe_object(&self, suffix: &str) -> String {
        let place = format!("s3://{}/{}{suffix}", self.bucket, self.key);
        match &self.endpoint {
            Some(endpoint) => format!("{place} (endpoint {endpoint})"),
            None => format!("{place} (region {})", self.region),
        }
    }

    fn path(&self, suffix: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{suffix}", self.key))
    }

    fn failed(&self, suffix: &str, what: &str, error: &object_store::Error) -> StateError {
        StateError::ObjectStore {
            target: self.describe_object(suffix),
            what: what.to_owned(),
            message: store_message(error),
        }
    }

    /// The clients (made once): the store's protocol from `object_store`, credentials from the
    /// standard AWS chain.
    async fn clients(&self) -> Result<&Clients, StateError> {
        self.clients
            .get_or_try_init(|| async {
                let credentials = Arc::new(AwsChain::load(&self.region).await);
                let build = |max_retries: usize| {
                    let mut options = ClientOptions::new()
                        .with_connect_timeout(Duration::from_secs(10))
                        .with_timeout(Duration::from_secs(60));
                    if self
                        .endpoint
                        .as_deref()
                        .is_some_and(|e| e.starts_with("http://"))
                    {
                        options = options.with_allow_http(true);
                    }
                    let mut builder = AmazonS3Builder::new()
                        .with_bucket_name(&self.bucket)
                        .with_region(&self.region)
                        .with_credentials(credentials.clone())
                        .with_conditional_put(S3ConditionalPut::ETagMatch)
                        .with_retry(RetryConfig {
                            max_retries,
                            retry_timeout: Duration::from_secs(30),
                            ..RetryConfig::default()
                        })
                        .with_client_options(options);
                    if let Some(endpoint) = &self.endpoint {
                        builder = builder.with_endpoint(endpoint);
                    }
                    builder
                        .build()
                        .map(Arc::new)
                        .map_err(|e| self.failed("", "setting up the S3 client", &e))
                };
                Ok(Clients {
                    reads: build(3)?,
                    writes: build(0)?,
                })
            })
            .await
    }

    /// The object `suffix` names, with its ETag; `None`: there is none.
    async fn get(
        &self,
        suffix: &str,
        what: &str,
    ) -> Result<Option<(Bytes, Option<String>)>, StateError> {
        let client = &self.clients().await?.reads;
        let got = async {
            let result = client.get(&self.path(suffix)).await?;
            let etag = result.meta.e_tag.clone();
            Ok::<_, object_store::Error>((result.bytes().await?, etag))
        };
        match got.await {
            Ok(found) => Ok(Some(found)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(suffix, what, &e)),
        }
    }

    /// Writes `bytes` to `suffix` if `condition` holds. Nothing is ever resent blindly: when
    /// the outcome is unknown (no answer, a server error) or the condition refused the write
    /// (which an earlier try of this same write that did land would also cause), the object is
    /// read back: written if it holds exactly these bytes. A write that did not land is tried
    /// again (at most three times, its condition unchanged) only after a server or transport
    /// error.
    async fn put(
        &self,
        suffix: &str,
        bytes: Vec<u8>,
        condition: Condition,
        what: &str,
    ) -> Result<Written, StateError> {
        let client = &self.clients().await?.writes;
        let path = self.path(suffix);
        let mode = match &condition {
            Condition::Absent => PutMode::Create,
            Condition::Matches(etag) => PutMode::Update(UpdateVersion {
                e_tag: Some(etag.clone()),
                version: None,
            }),
            Condition::None => PutMode::Overwrite,
        };
        let mut pause = Duration::from_millis(200);
        for attempt in 1.. {
            let payload = PutPayload::from(Bytes::from(bytes.clone()));
            let error = match client
                .put_opts(&path, payload, PutOptions::from(mode.clone()))
                .await
            {
                Ok(result) => return Ok(Written::Done(result.e_tag)),
                Err(error) => error,
            };
            let refused = matches!(
                error,
                object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. }
            ) && condition != Condition::None;
            // Did this write (this try or an earlier one) land after all?
            match self.get(suffix, what).await {
                Ok(Some((found, etag))) if found.as_ref() == bytes.as_slice() => {
                    return Ok(Written::Done(etag))
                }
                _ if refused => return Ok(Written::Refused),
                _ => {}
            }
            let transient = matches!(error, object_store::Error::Generic { .. });
            if !transient || attempt >= 4 {
                return Err(self.failed(suffix, what, &error));
            }
            tracing::debug!(
                "{what}: {} (trying again in {pause:?})",
                store_message(&error)
            );
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        unreachable!("the loop returns")
    }

    async fn delete(&self, suffix: &str, what: &str) -> Result<(), StateError> {
        let client = &self.clients().await?.reads;
        match client.delete(&self.path(suffix)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(suffix, what, &e)),
        }
    }

    /// The state and its ETag; `None`: none written yet.
    async fn read_state(&self) -> Result<Option<(State, Option<String>)>, StateError> {
        match self.get("", "reading the state").await? {
            None => Ok(None),
            Some((bytes, etag)) => {
                // Named as `s3://bucket/key`, so that the error's advice (restore it from
                // `<it>.backup`) names the backup object as it is.
                let url = format!("s3://{}/{}", self.bucket, self.key);
                let state = State::from_bytes(std::path::Path::new(&url), &bytes)?;
                Ok(Some((state, etag)))
            }
        }
    }

    /// The trail's lines and the trail object's ETag.
    async fn read_trail(&self) -> Result<(Vec<TrailLine>, Option<String>), StateError> {
        Ok(match self.get(TRAIL, "reading the audit trail").await? {
            None => (Vec::new(), None),
            Some((bytes, etag)) => (trail::parse_file(&bytes), etag),
        })
    }

    /// The lock as its object says, with the object's ETag.
    async fn read_lock(&self) -> Result<Option<(Held, Option<String>)>, StateError> {
        Ok(self
            .get(LOCK, "reading the lock")
            .await?
            .map(|(bytes, etag)| (Held::parse(&bytes), etag)))
    }

    /// Checks, with a probe object of this run's own, that the store refuses a write its
    /// condition forbids (`If-None-Match: *` on an object that exists, `If-Match` on an ETag
    /// it does not have): a store that ignores them cannot keep two runs apart.
    pub async fn check_conditions(&self) -> Result<(), StateError> {
        let probe = format!("{PROBE}{}", uuid::Uuid::new_v4());
        let what = "checking that the store honours conditional writes";
        self.put(
            &probe,
            b"flexform probe 1\n".to_vec(),
            Condition::Absent,
            what,
        )
        .await?;
        let checks = [
            ("If-None-Match: *", Condition::Absent, b"flexform probe 2\n"),
            (
                "If-Match",
                Condition::Matches("\"00000000000000000000000000000000\"".to_owned()),
                b"flexform probe 3\n",
            ),
        ];
        let mut outcome = Ok(());
        for (header, condition, bytes) in checks {
            match self.put(&probe, bytes.to_vec(), condition, what).await {
                Ok(Written::Refused) => {}
                Ok(Written::Done(_)) => {
                    outcome = Err(StateError::IgnoresConditions {
                        target: self.describe(),
                        header: header.to_owned(),
                    });
                    break;
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        let removed = self
            .delete(&probe, "removing the conditional-write probe")
            .await;
        outcome.and(removed)
    }

    /// Takes the lock for `operation` (waiting as `wait` says; a lock whose lease ran out is
    /// taken over), and starts renewing its lease.
    async fn acquire(
        &self,
        operation: &str,
        wait: &LockWait,
        audit: &Audit,
    ) -> Result<HeldLock, StateError> {
        let deadline = Instant::now() + wait.timeout;
        let mut delay = Duration::from_millis(200);
        let mut told = false;
        let mut released = 0;
        loop {
            let mine = LockObject::new(operation, audit, self.lease);
            let taken_at = Instant::now();
            match self
                .put(LOCK, mine.to_bytes(), Condition::Absent, "taking the lock")
                .await?
            {
                Written::Done(etag) => return HeldLock::start(self, mine, etag, taken_at).await,
                Written::Refused => {}
            }
            let held = self.read_lock().await?;
            if held.is_none() && released < 3 {
                released += 1; // released between the two requests: try again at once
                continue;
            }
            if let Some((Held::Lock(old), Some(etag))) = &held {
                if old.expired(SystemTime::now()) {
                    crate::failpoint!("state::s3::before_takeover");
                    let mine = LockObject::new(operation, audit, self.lease);
                    let taken_at = Instant::now();
                    let took = self
                        .put(
                            LOCK,
                            mine.to_bytes(),
                            Condition::Matches(etag.clone()),
                            "taking over an expired lock",
                        )
                        .await?;
                    if let Written::Done(etag) = took {
                        (wait.on_takeover)(&format!(
                            "took over the lock on {} from {}: its lease ran out (that run was killed or stalled; what it recorded is resolved by this run)",
                            self.describe(),
                            old.describe(),
                        ));
                        return HeldLock::start(self, mine, etag, taken_at).await;
                    }
                }
            }
            // Busy (or just released, or just taken over by another run): say who holds it
            // now, then wait, give up, or stop.
            let holder = match self.read_lock().await? {
                Some((held, _)) => (held.describe(), held.id()),
                None if released < 3 => {
                    released += 1; // the winner of a takeover has already let it go
                    continue;
                }
                None => (
                    "a run that has just released it".to_owned(),
                    "<ID>".to_owned(),
                ),
            };
            if Instant::now() >= deadline {
                return Err(StateError::Locked {
                    holder: holder.0,
                    id: holder.1,
                });
            }
            if !told {
                told = true;
                (wait.on_wait)(&holder.0);
            }
            tokio::select! {
                _ = tokio::time::sleep(delay.min(deadline.saturating_duration_since(Instant::now()))) => {}
                _ = wait.stop.requested() => {
                    return Err(StateError::LockWaitStopped { holder: holder.0 });
                }
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Reads the state (nothing locked).
    pub async fn load(&self) -> Result<Option<State>, StateError> {
        Ok(self.read_state().await?.map(|(state, _)| state))
    }

    /// The trail and the state read as one: the state is read before and after the trail,
    /// and `None` when it changed between (the caller reads again).
    async fn read_audit(&self) -> Result<Option<AuditView>, StateError> {
        let before = self.read_state().await?;
        let (trail, _) = self.read_trail().await?;
        let after = self.read_state().await?;
        let etag = |s: &Option<(State, Option<String>)>| s.as_ref().map(|(_, e)| e.clone());
        if etag(&before) != etag(&after) {
            return Ok(None);
        }
        let writer = match self.read_lock().await? {
            Some((Held::Lock(lock), _)) if lock.expired(SystemTime::now()) => None,
            Some((held, _)) => Some(held.describe()),
            None => None,
        };
        Ok(Some(AuditView {
            trail,
            state: after.map(|(state, _)| state),
            journal: false,
            writer,
        }))
    }

    /// `force-unlock LOCK_ID`: deletes the lock object if it is lock `id`.
    pub async fn force_unlock(&self, id: &str) -> Result<ForceUnlock, StateError> {
        let Some((held, _)) = self.read_lock().await? else {
            return Ok(ForceUnlock::NothingToClear);
        };
        if held.id() != id {
            return Err(StateError::LockIdMismatch {
                id: id.to_owned(),
                holder: held.describe(),
            });
        }
        self.delete(LOCK, "deleting the lock").await?;
        Ok(ForceUnlock::Cleared)
    }
}

/// What a write requires of the object it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Condition {
    /// That there is none (`If-None-Match: *`).
    Absent,
    /// That it has this ETag (`If-Match`).
    Matches(String),
    /// Nothing (the backup, which only this lock's holder writes).
    None,
}

/// The outcome of a write.
#[derive(Debug)]
enum Written {
    /// Written; the new ETag when the store gave one.
    Done(Option<String>),
    /// Refused by its condition (412): another writer got there first.
    Refused,
}

/// The lock object: JSON naming who holds it, from where, for what, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockObject {
    /// Random ID, for `flexform force-unlock`.
    pub id: String,
    /// `user@host`.
    pub who: String,
    /// The pipeline run, or the process on `who`'s host.
    #[serde(rename = "where")]
    pub place: String,
    /// The command holding it: apply, import, state rm.
    pub operation: String,
    /// When it was taken (RFC 3339).
    pub created: String,
    /// When the lease runs out unless renewed (RFC 3339, the holder's clock).
    pub expires: String,
    /// flexform version of the holder.
    pub flexform_version: String,
}

impl LockObject {
    fn new(operation: &str, audit: &Audit, lease: Duration) -> Self {
        let place = audit
            .runner
            .pipeline
            .run_url
            .clone()
            .unwrap_or_else(|| format!("process {}", std::process::id()));
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            who: audit.runner.who.clone(),
            place,
            operation: operation.to_owned(),
            created: crate::support::stamp::now_rfc3339(),
            expires: rfc3339(SystemTime::now() + lease),
            flexform_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a lock serializes");
        bytes.push(b'\n');
        bytes
    }

    /// Whether the lease has run out at `now`.
    fn expired(&self, now: SystemTime) -> bool {
        humantime::parse_rfc3339(&self.expires).map_or(true, |expires| expires <= now)
    }

    /// `who at where (operation since created, lease until expires, lock ID id)`.
    fn describe(&self) -> String {
        format!(
            "{} at {} ({} since {}, lease until {}, lock ID {})",
            self.who, self.place, self.operation, self.created, self.expires, self.id
        )
    }
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// A lock object as found: flexform's, or something else under its name.
#[derive(Debug)]
enum Held {
    Lock(LockObject),
    Unreadable(String),
}

impl Held {
    fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).map_or_else(|e| Self::Unreadable(e.to_string()), Self::Lock)
    }

    fn describe(&self) -> String {
        match self {
            Self::Lock(lock) => lock.describe(),
            Self::Unreadable(why) => format!(
                "an object that is not a flexform lock ({why}); if no flexform is running, delete it"
            ),
        }
    }

    fn id(&self) -> String {
        match self {
            Self::Lock(lock) => lock.id.clone(),
            Self::Unreadable(_) => "<ID>".to_owned(),
        }
    }
}

/// The lock this run holds: its lease renewed in the background until it is released. The
/// run writes nothing more once a renewal finds the lock taken over, or once its lease has run
/// out without a renewal (a stalled run, a store that stopped answering).
struct HeldLock {
    info: LockObject,
    lease: Duration,
    shared: Arc<std::sync::Mutex<Lease>>,
    stop: tokio::sync::watch::Sender<bool>,
    renewing: tokio::task::JoinHandle<()>,
}

/// What the renewal task and the run share.
struct Lease {
    /// When the lease now in the store was written (before its request was sent).
    renewed: Instant,
    /// Who took the lock over, once a renewal found it taken.
    lost: Option<String>,
}

/// Why this run may no longer write under its lock.
enum Gone {
    /// Taken over by this holder.
    TakenOver(String),
    /// The lease ran out without a renewal.
    Lapsed,
}

impl HeldLock {
    /// Starts renewing the lock just written (`etag`; looked up when the store gave none),
    /// its lease counted from `taken_at`.
    async fn start(
        location: &S3Location,
        info: LockObject,
        etag: Option<String>,
        taken_at: Instant,
    ) -> Result<Self, StateError> {
        let etag = match etag {
            Some(etag) => Some(etag),
            None => match location.read_lock().await? {
                Some((Held::Lock(lock), etag)) if lock.id == info.id => etag,
                _ => None,
            },
        };
        let shared = Arc::new(std::sync::Mutex::new(Lease {
            renewed: taken_at,
            lost: etag
                .is_none()
                .then(|| "another run (the lock has no ETag to renew by)".to_owned()),
        }));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let period = location.lease / 3;
        let renewing = {
            let (location, shared, info) = (location.clone(), shared.clone(), info.clone());
            tokio::spawn(async move {
                let Some(mut tag) = etag else { return };
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(period) => {}
                        _ = stopped.changed() => return,
                    }
                    let mut renewed = info.clone();
                    let sent_at = Instant::now();
                    renewed.expires = rfc3339(SystemTime::now() + location.lease);
                    let renewal = location.put(
                        LOCK,
                        renewed.to_bytes(),
                        Condition::Matches(tag.clone()),
                        "renewing the lock",
                    );
                    // A renewal slower than a period is a failed one: the next tries again.
                    match tokio::time::timeout(period, renewal).await {
                        Ok(Ok(Written::Done(Some(next)))) => {
                            tag = next;
                            shared.lock().expect("the lease").renewed = sent_at;
                        }
                        Ok(Ok(Written::Done(None))) => {
                            let lost = "another run (the renewed lock has no ETag)".to_owned();
                            shared.lock().expect("the lease").lost = Some(lost);
                            return;
                        }
                        Ok(Ok(Written::Refused)) => {
                            let holder = match location.read_lock().await {
                                Ok(Some((held, _))) => held.describe(),
                                _ => "another run (the lock is gone: force-unlocked?)".to_owned(),
                            };
                            shared.lock().expect("the lease").lost = Some(holder);
                            return;
                        }
                        Ok(Err(e)) => tracing::warn!("{e}"),
                        Err(_) => tracing::warn!(
                            "renewing the lock on {} took longer than {period:?}; trying again",
                            location.describe()
                        ),
                    }
                }
            })
        };
        Ok(Self {
            info,
            lease: location.lease,
            shared,
            stop,
            renewing,
        })
    }

    /// Whether this run may no longer write under its lock, and why.
    fn gone(&self) -> Option<Gone> {
        let lease = self.shared.lock().expect("the lease");
        match &lease.lost {
            Some(holder) => Some(Gone::TakenOver(holder.clone())),
            None if lease.renewed.elapsed() >= self.lease => Some(Gone::Lapsed),
            None => None,
        }
    }

    /// The error of a write this run may no longer make.
    fn check(&self, location: &S3Location) -> Result<(), StateError> {
        match self.gone() {
            None => Ok(()),
            Some(Gone::TakenOver(holder)) => Err(StateError::LockLost {
                target: location.describe(),
                holder,
            }),
            Some(Gone::Lapsed) => Err(StateError::LeaseLapsed {
                target: location.describe(),
                lease: humantime::format_duration(self.lease).to_string(),
            }),
        }
    }

    /// For a store dropped without [`Store::release`] (a run that ended early on an error):
    /// stops renewing and deletes the lock if it is still this run's, on a thread and client
    /// of its own, since a drop cannot wait on the run's runtime.
    fn release_now(self, location: &S3Location) {
        let _ = self.stop.send(true);
        self.renewing.abort();
        if self.gone().is_some() {
            return;
        }
        let location = S3Location::new(
            location.bucket.clone(),
            location.key.clone(),
            location.region.clone(),
            location.endpoint.clone(),
            location.lease,
        );
        let id = self.info.id;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async {
                    if let Ok(Some((Held::Lock(lock), _))) = location.read_lock().await {
                        if lock.id == id {
                            let _ = location.delete(LOCK, "releasing the lock").await;
                        }
                    }
                });
            });
        });
    }

    /// Stops renewing (a renewal on the wire finishes first) and deletes the lock if it is
    /// still this run's: not when it was taken over, nor once its lease has run out (another
    /// run may be taking it over).
    async fn release(self, location: &S3Location) {
        let _ = self.stop.send(true);
        let Self {
            info,
            lease,
            shared,
            renewing,
            ..
        } = self;
        let _ = renewing.await;
        {
            let lease_now = shared.lock().expect("the lease");
            if lease_now.lost.is_some() || lease_now.renewed.elapsed() >= lease {
                return;
            }
        }
        if let Ok(Some((Held::Lock(lock), _))) = location.read_lock().await {
            if lock.id == info.id {
                let _ = location.delete(LOCK, "releasing the lock").await;
            }
        }
    }
}

/// Credentials from the AWS SDK's standard chain (environment keys and session token,
/// `AWS_PROFILE` and the shared config files with SSO and assumed roles, web identity,
/// container and instance metadata), kept until five minutes before they expire.
struct AwsChain {
    provider: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    cached: tokio::sync::Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

impl std::fmt::Debug for AwsChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsChain { .. }")
    }
}

impl AwsChain {
    async fn load(region: &str) -> Self {
        use aws_smithy_http_client::{proxy::ProxyConfig, tls, Connector};
        // STS, SSO and the metadata endpoints through the environment's proxy, as the store.
        let http = aws_smithy_http_client::Builder::new().build_with_connector_fn(
            |settings, components| {
                let mut connector = Connector::builder()
                    .proxy_config(ProxyConfig::from_env())
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::Ring,
                    ));
                connector.set_connector_settings(settings.cloned());
                if let Some(components) = components {
                    connector.set_sleep_impl(components.sleep_impl());
                }
                connector.build()
            },
        );
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .http_client(http)
            .load()
            .await;
        Self {
            provider: config.credentials_provider(),
            cached: tokio::sync::Mutex::new(None),
        }
    }
}

/// Why no credentials could be had (the chain's own words: never a secret).
#[derive(Debug, thiserror::Error)]
#[error("no AWS credentials: {0} (flexform reads the standard chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/config, web identity, container and instance metadata)")]
struct NoCredentials(String);

#[async_trait::async_trait]
impl object_store::CredentialProvider for AwsChain {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        use aws_credential_types::provider::ProvideCredentials;
        let mut cached = self.cached.lock().await;
        if let Some((credential, expiry)) = &*cached {
            let fresh = expiry.is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300));
            if fresh {
                return Ok(credential.clone());
            }
        }
        let no_credentials = |why: String| object_store::Error::Generic {
            store: "S3",
            source: Box::new(NoCredentials(why)),
        };
        let provider = self
            .provider
            .as_ref()
            .ok_or_else(|| no_credentials("no credential provider".to_owned()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| no_credentials(error_chain(&e)))?;
        let credential = Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_owned(),
            secret_key: credentials.secret_access_key().to_owned(),
            token: credentials.session_token().map(str::to_owned),
        });
        *cached = Some((credential.clone(), credentials.expiry()));
        Ok(credential)
    }
}

/// The store's answer in a line: its status, S3 error code and message (from the XML body),
/// with what to do for the usual causes; the transport's error when there was no answer.
fn store_message(error: &object_store::Error) -> String {
    let full = error_chain(error);
    let between = |open: &str, close: &str| {
        let start = full.find(open)? + open.len();
        let end = full[start..].find(close)? + start;
        Some(full[start..end].trim().to_owned())
    };
    let Some(code) = between("<Code>", "</Code>") else {
        return match crate::support::tls::untrusted_hint(&full) {
            Some(hint) => format!("{full}; {hint}"),
            None => full,
        };
    };
    let status = between("status code: ", ":").unwrap_or_default();
    let message = between("<Message>", "</Message>").unwrap_or_default();
    let hint = match (code.as_str(), status.split(' ').next().unwrap_or_default()) {
        ("InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken", _) => {
            "; check the AWS credentials flexform was given (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or the role the pipeline assumes)"
        }
        ("AccessDenied", _) | (_, "403") => {
            "; the credentials may lack a permission on the bucket (README: Shared state on S3 lists those flexform needs)"
        }
        ("NoSuchBucket", _) => "; create the bucket, or fix `bucket:` (and `region:`)",
        ("PermanentRedirect" | "AuthorizationHeaderMalformed", _) | (_, "301") => {
            "; the bucket is in another region: set `region:` (or AWS_REGION)"
        }
        _ => "",
    };
    format!("{status}: {code}: {message}{hint}")
        .trim_start_matches(": ")
        .to_owned()
}

/// An error and its causes, on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(&format!(": {text}"));
        }
        source = cause.source();
    }
    message
}

/// A state held under its lock in S3 for one command run.
pub struct S3Store {
    location: S3Location,
    state: State,
    etag: Option<String>,
    exists: bool,
    backed_up: bool,
    /// The lock, until released (`None` after).
    lock: Option<HeldLock>,
    serial_at_open: u64,
    audit: Audit,
    trail_problem: Option<StateError>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("target", &self.location.describe())
            .field("serial", &self.state.serial)
            .finish()
    }
}

impl S3Store {
    /// Checks that the store honours conditional writes, takes the lock (waiting as `wait`
    /// says), reads the state, and lets the trail catch up.
    pub async fn open(
        location: &S3Location,
        operation: &str,
        wait: &LockWait,
        audit: &Audit,
    ) -> Result<Self, StateError> {
        location.check_conditions().await?;
        let lock = location.acquire(operation, wait, audit).await?;
        let mut store = match location.read_state().await {
            Ok(loaded) => {
                let (state, etag) = loaded.map_or((None, None), |(s, e)| (Some(s), e));
                let exists = state.is_some();
                let serial_at_open = state.as_ref().map_or(0, |s| s.serial);
                Self {
                    location: location.clone(),
                    state: state.unwrap_or_else(State::empty),
                    etag,
                    exists,
                    backed_up: false,
                    lock: Some(lock),
                    serial_at_open,
                    audit: audit.clone(),
                    trail_problem: None,
                }
            }
            Err(e) => {
                lock.release(location).await;
                return Err(e);
            }
        };
        // Refused before anything is sent: a run that could not record would be worse.
        let caught_up = match super::model::next_serial(store.serial_at_open) {
            Ok(_) => store.catch_up().await,
            Err(e) => Err(e),
        };
        match caught_up {
            Ok(problem) => {
                store.trail_problem = problem;
                Ok(store)
            }
            Err(e) => {
                if let Some(lock) = store.lock.take() {
                    lock.release(&store.location).await;
                }
                Err(e)
            }
        }
    }

    /// At open: writes the entries waiting in the state, or, when the state moved past its
    /// newest entry (a run that died after recording SIDs, before its entry), a `recover`
    /// entry listing what that run recorded (against the backup its first write kept).
    async fn catch_up(&mut self) -> Result<Option<StateError>, StateError> {
        if !self.state.history_unwritten.is_empty() {
            return self.flush().await;
        }
        let Ok((lines, _)) = self.location.read_trail().await else {
            return Ok(None);
        };
        let Some(vouched) = trail::unvouched(&self.state, self.exists, lines.last()) else {
            return Ok(None);
        };
        let backup = match self.location.get(BACKUP, "reading the backup").await {
            Ok(Some((bytes, _))) => serde_json::from_slice::<State>(&bytes).ok(),
            _ => None,
        };
        let mut entry = trail::recover_entry(&self.audit.runner, vouched, backup, &self.state);
        self.finish(&mut entry, |_| {}).await
    }

    fn unwritten(&self, cause: String, lines: &[String], written: usize) -> StateError {
        trail::unwritten_error(self.location.describe_object(TRAIL), cause, lines, written)
    }

    /// Appends `lines` to the trail object (one conditional write of the whole object); a
    /// line that is the trail's newest already (a write whose answer was lost) is not added
    /// twice. Returns how many are in the trail, and why the rest are not.
    async fn append_lines(&self, lines: &[String]) -> (usize, Option<String>) {
        let location = &self.location;
        if let Some(Err(e)) = self.lock.as_ref().map(|l| l.check(location)) {
            return (0, Some(e.to_string()));
        }
        let (existing, etag) = match location.get(TRAIL, "reading the audit trail").await {
            Ok(Some((bytes, etag))) => (bytes.to_vec(), etag),
            Ok(None) => (Vec::new(), None),
            Err(e) => return (0, Some(e.to_string())),
        };
        // As on a local trail: a line among the trail's last lines is one an earlier run wrote
        // before it could say so in the state; it is not written twice.
        let tail: Vec<&[u8]> = existing
            .split(|&b| b == b'\n')
            .rev()
            .skip(1) // the part after the last newline: empty, or a cut line
            .take(lines.len() + 1)
            .collect();
        let mut next = existing.clone();
        let cut = !next.is_empty() && !next.ends_with(b"\n");
        if cut {
            next.push(b'\n'); // closes a cut line: the first new one starts on its own
        }
        for line in lines {
            if !cut && tail.contains(&line.as_bytes()) {
                continue;
            }
            next.extend_from_slice(line.as_bytes());
            next.push(b'\n');
        }
        if next == existing {
            return (lines.len(), None);
        }
        let condition = match etag {
            Some(etag) => Condition::Matches(etag),
            None if existing.is_empty() => Condition::Absent,
            None => return (0, Some("the store gave the trail no ETag".to_owned())),
        };
        crate::failpoint!("state::s3::before_trail");
        match location
            .put(TRAIL, next, condition, "appending to the audit trail")
            .await
        {
            Ok(Written::Done(_)) => (lines.len(), None),
            Ok(Written::Refused) => (
                0,
                Some(format!(
                    "{} was changed by another writer while this run held the lock (412); nothing was appended",
                    location.describe_object(TRAIL)
                )),
            ),
            Err(e) => (0, Some(e.to_string())),
        }
    }

    /// Writes `next` with serial `serial`, conditional on the ETag this run last read or
    /// wrote (or on there being no state yet).
    async fn write(&mut self, mut next: State, serial: u64) -> Result<(), StateError> {
        if let Some(lock) = &self.lock {
            lock.check(&self.location)?;
        }
        next.serial = serial;
        next.flexform_version = env!("CARGO_PKG_VERSION").to_owned();
        if self.exists && !self.backed_up {
            self.location
                .put(
                    BACKUP,
                    self.state.to_bytes(),
                    Condition::None,
                    "writing the backup",
                )
                .await?;
        }
        let condition =
            match (&self.etag, self.exists) {
                (Some(etag), true) => Condition::Matches(etag.clone()),
                (None, true) => return Err(StateError::ObjectStore {
                    target: self.location.describe(),
                    what: "writing the state".to_owned(),
                    message:
                        "the store gave the state no ETag, so it cannot be written conditionally"
                            .to_owned(),
                }),
                (_, false) => Condition::Absent,
            };
        crate::failpoint!("state::s3::before_put");
        let written = self
            .location
            .put("", next.to_bytes(), condition, "writing the state")
            .await?;
        crate::failpoint!("state::s3::after_put");
        match written {
            Written::Done(etag) => {
                self.etag = match etag {
                    Some(etag) => Some(etag),
                    None => self.location.read_state().await?.and_then(|(_, e)| e),
                };
                self.backed_up = true;
                self.exists = true;
                self.state = next;
                Ok(())
            }
            Written::Refused => {
                let found = match self.location.read_state().await {
                    Ok(Some((state, _))) => state.serial,
                    _ => 0,
                };
                Err(StateError::Conflict {
                    path: format!(
                        "{} (its ETag no longer matches: another writer wrote it; 412)",
                        self.location.describe()
                    )
                    .into(),
                    expected: self.state.serial,
                    found,
                })
            }
        }
    }

    /// Applies `change`; if the content changed, writes it.
    async fn commit(&mut self, change: impl FnOnce(&mut State)) -> Result<bool, StateError> {
        let mut next = self.state.clone();
        change(&mut next);
        if next.records_the_same_as(&self.state) && self.exists {
            return Ok(false);
        }
        let serial = super::model::next_serial(self.state.serial)?;
        self.write(next, serial).await.map(|_| true)
    }

    async fn finish(
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

    async fn finish_push(
        &mut self,
        entry: &mut HistoryEntry,
        mut pushed: State,
    ) -> Result<Option<StateError>, StateError> {
        entry.serial_after = super::model::pushed_serial(pushed.serial, self.state.serial)?;
        let lines = self.seal(entry).await?;
        pushed.history_sha256 = self.state.history_sha256.clone();
        pushed.history_unwritten = lines;
        let serial = super::model::pushed_serial(pushed.serial, self.state.serial)?;
        self.write(pushed, serial).await?;
        self.flush().await
    }

    /// The entries waiting in the state, then `entry` sealed after them.
    async fn seal(&self, entry: &mut HistoryEntry) -> Result<Vec<String>, StateError> {
        let last = self
            .location
            .read_trail()
            .await
            .map(|(mut lines, _)| lines.pop());
        Ok(trail::seal_after(
            last.as_ref().map(Option::as_ref).map_err(|_| ()),
            &self.state,
            entry,
            self.audit.signer(),
        )?)
    }

    /// Appends the entries waiting in the state, then records at the same serial how many
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
}

impl Backend for S3Location {
    fn describe(&self) -> String {
        S3Location::describe(self)
    }

    fn shared_now(&self) -> BoxFuture<'_, Result<Option<SystemTime>, StateError>> {
        // The bucket keeps no clock readers can ask without writing: each machine's own.
        Box::pin(async { Ok(None) })
    }

    fn load(&self) -> BoxFuture<'_, Result<Option<State>, StateError>> {
        Box::pin(S3Location::load(self))
    }

    fn read_history(&self) -> BoxFuture<'_, Result<Vec<TrailLine>, StateError>> {
        Box::pin(async { Ok(self.read_trail().await?.0) })
    }

    fn read_audit_once(&self) -> BoxFuture<'_, Result<Option<AuditView>, StateError>> {
        Box::pin(self.read_audit())
    }

    fn open<'a>(
        &'a self,
        operation: &'a str,
        wait: &'a LockWait,
        audit: &'a Audit,
    ) -> BoxFuture<'a, Result<Box<dyn Store>, StateError>> {
        Box::pin(async move {
            S3Store::open(self, operation, wait, audit)
                .await
                .map(|store| Box::new(store) as Box<dyn Store>)
        })
    }
}

impl Store for S3Store {
    fn audit(&self) -> &Audit {
        &self.audit
    }

    fn trail_problem(&self) -> Option<&StateError> {
        self.trail_problem.as_ref()
    }

    fn state(&self) -> &State {
        &self.state
    }

    fn exists(&self) -> bool {
        self.exists
    }

    fn serial_at_open(&self) -> u64 {
        self.serial_at_open
    }

    fn describe(&self) -> String {
        self.location.describe()
    }

    fn commit<'a>(&'a mut self, change: Change<'a>) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(S3Store::commit(self, change))
    }

    fn record(&mut self, updates: Vec<StateUpdate>) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move {
            self.commit(|state| {
                for update in updates {
                    update.apply_to(state);
                }
            })
            .await
            .map(|_| ())
        })
    }

    fn replace(&mut self, state: State) -> BoxFuture<'_, Result<(), StateError>> {
        Box::pin(async move {
            let serial = super::model::pushed_serial(state.serial, self.state.serial)?;
            self.write(state, serial).await
        })
    }

    fn finish<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        change: Change<'a>,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>> {
        Box::pin(S3Store::finish(self, entry, change))
    }

    fn finish_push<'a>(
        &'a mut self,
        entry: &'a mut HistoryEntry,
        pushed: State,
    ) -> BoxFuture<'a, Result<Option<StateError>, StateError>> {
        Box::pin(S3Store::finish_push(self, entry, pushed))
    }

    fn release(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        let lock = self.lock.take();
        Box::pin(async move {
            if let Some(lock) = lock {
                lock.release(&self.location).await;
            }
        })
    }
}

impl Drop for S3Store {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release_now(&self.location);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(expires: &str) -> LockObject {
        LockObject {
            id: "id-1".into(),
            who: "ci@runner".into(),
            place: "https://github.com/acme/infra/actions/runs/1".into(),
            operation: "apply".into(),
            created: "2026-12-06T10:00:00Z".into(),
            expires: expires.into(),
            flexform_version: "0.1.0".into(),
        }
    }

    #[test]
    fn a_lease_runs_out_at_its_expiry_and_an_unreadable_expiry_has_run_out() {
        let at = humantime::parse_rfc3339("2026-12-06T10:00:30Z").unwrap();
        assert!(!lock("2026-12-06T10:00:31Z").expired(at));
        assert!(lock("2026-12-06T10:00:30Z").expired(at));
        assert!(lock("not a time").expired(at));
    }

    #[test]
    fn the_lock_object_is_json_naming_who_where_what_and_until_when() {
        let json: serde_json::Value =
            serde_json::from_slice(&lock("2026-12-06T10:00:30Z").to_bytes()).unwrap();
        for field in ["id", "who", "where", "operation", "expires"] {
            assert!(json.get(field).is_some(), "{field} missing from {json}");
        }
        let text = lock("2026-12-06T10:00:30Z").describe();
        assert!(text.contains("ci@runner at https://github.com/acme/infra/actions/runs/1"));
        assert!(text.contains("lease until 2026-12-06T10:00:30Z, lock ID id-1"));
        assert!(matches!(Held::parse(b"{}"), Held::Unreadable(_)));
        assert_eq!(Held::parse(b"junk").id(), "<ID>");
    }

    #[test]
    fn messages_name_bucket_key_and_endpoint() {
        let location = S3Location::new(
            "acme-flexform".into(),
            "emea/flexform.state.json".into(),
            "eu-west-1".into(),
            Some("http://127.0.0.1:9000".into()),
            DEFAULT_LEASE,
        );
        assert_eq!(
            location.describe(),
            "s3://acme-flexform/emea/flexform.state.json (endpoint http://127.0.0.1:9000)"
        );
        assert_eq!(
            location.describe_object(TRAIL),
            "s3://acme-flexform/emea/flexform.state.json.history.jsonl (endpoint http://127.0.0.1:9000)"
        );
        let aws = S3Location::new(
            "b".into(),
            "k".into(),
            "eu-west-1".into(),
            None,
            DEFAULT_LEASE,
        );
        assert_eq!(aws.describe(), "s3://b/k (region eu-west-1)");
    }

    #[test]
    fn a_store_error_is_its_status_code_and_message_with_what_to_do() {
        let answer = object_store::Error::Generic {
            store: "S3",
            source: "Error performing PUT http://127.0.0.1:1/b/k in 3ms - Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message><RequestId>x</RequestId></Error>".into(),
        };
        let message = store_message(&answer);
        assert!(
            message.starts_with("403 Forbidden: InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our records.; check the AWS credentials"),
            "{message}"
        );
        assert!(!message.contains("RequestId"), "{message}");
    }
}
