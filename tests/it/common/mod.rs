//! The one test builder every module of the suite uses (in the manner of just's `Test`): a
//! temporary project folder with a configuration builder, the simulator started in-process
//! when a test wants one, a scrubbed environment, and `run(args)` returning an [`Outcome`]
//! with `assert_exit`, `stdout`, `stderr`, `json` and the project's `state()`. Beside it, what
//! more than one module needs: the test accounts and key pair, an HTTP client that never goes
//! through a proxy, the test database, a test certificate authority, and ([`api`]) the Flex API
//! client as the library-level modules drive it.

pub mod api;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use flexform::sim::{self, Faults, SimConfig, SimHandle, SimStats};
use flexform::state::{HistoryEntry, State};

/// The API key pair every project exports as TWILIO_API_KEY / TWILIO_API_SECRET.
pub const KEY: &str = "SKtest0000000000000000000000000000";
/// Its secret.
pub const SECRET: &str = "test-secret-value";

/// The `n`th test account: `AC` and 32 hex digits.
pub fn account(n: u32) -> String {
    format!("AC{n:032x}")
}

/// Proxy variables that must not send loopback requests elsewhere.
const PROXY_VARS: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
];

/// The built `flexform` binary with every flexform, Twilio and proxy variable removed from its
/// environment, so that the developer's shell cannot change a test's outcome. Every run goes
/// through [`Test::command`].
fn flexform() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flexform"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("FLEXFORM_")
            || key.starts_with("TWILIO_")
            || key.starts_with("PG")
            || key.starts_with("AWS_")
            || key.starts_with("SSL_CERT_")
            || key == "NO_COLOR"
            || PROXY_VARS.contains(&key.as_str())
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// An HTTP client that never goes through a proxy, whatever the environment says: for the
/// requests a test sends to a simulator itself.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A test whose component is missing. In CI (`CI` set, as `.ci/run` runs), where every
/// component is installed, that is a failure: a skipped test must never pass there. Elsewhere
/// the test says on stderr, past the harness's capture, that it was skipped, and returns.
pub fn unavailable(test: &str, why: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test} could not run in CI: {why} (.ci/run installs and starts every component)");
    }
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
}

/// The test database, or `None` after [`unavailable`] (a failure in CI).
pub fn database_url(test: &str) -> Option<String> {
    match std::env::var("FLEXFORM_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            unavailable(test, "FLEXFORM_TEST_DATABASE_URL is not set");
            None
        }
    }
}

/// A bucket of its own for one test on the S3 server `.ci/run` starts (moto's, speaking the
/// real protocol on loopback), created without credentials as moto allows; `None` after
/// [`unavailable`] (a failure in CI). Objects are read and written directly (signed, through
/// `object_store`), as another writer or an operator would.
pub struct S3Bucket {
    /// The server's endpoint (`http://127.0.0.1:PORT`).
    pub endpoint: String,
    /// The bucket.
    pub bucket: String,
    store: object_store::aws::AmazonS3,
}

/// The access key every S3 test runs with (moto accepts any), and its secret.
pub const S3_KEY: &str = "AKIAFLEXFORMTEST0001";
/// The secret that must never be printed.
pub const S3_SECRET: &str = "s3-secret-never-printed-0123456789";

impl S3Bucket {
    /// A new bucket on `FLEXFORM_TEST_S3_ENDPOINT`.
    pub async fn new(test: &str) -> Option<Self> {
        Self::on(test, "FLEXFORM_TEST_S3_ENDPOINT", None).await
    }

    /// A new bucket on `FLEXFORM_TEST_S3_TLS_ENDPOINT` (HTTPS), and the CA that signed its
    /// certificate (`FLEXFORM_TEST_S3_CA`).
    pub async fn new_tls(test: &str) -> Option<(Self, PathBuf)> {
        let ca = match std::env::var("FLEXFORM_TEST_S3_CA") {
            Ok(ca) if !ca.is_empty() => PathBuf::from(ca),
            _ => {
                unavailable(
                    test,
                    "FLEXFORM_TEST_S3_CA is not set (scripts/components.sh: start_moto)",
                );
                return None;
            }
        };
        let bucket = Self::on(test, "FLEXFORM_TEST_S3_TLS_ENDPOINT", Some(&ca)).await?;
        Some((bucket, ca))
    }

    async fn on(test: &str, variable: &str, ca: Option<&Path>) -> Option<Self> {
        let endpoint = match std::env::var(variable) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                unavailable(
                    test,
                    &format!("{variable} is not set (scripts/components.sh: start_moto)"),
                );
                return None;
            }
        };
        let pem = ca.map(|ca| std::fs::read(ca).expect("the test CA"));
        let mut http = reqwest::Client::builder().no_proxy();
        let mut options = object_store::ClientOptions::new().with_allow_http(true);
        if let Some(pem) = &pem {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(pem).unwrap());
            options =
                options.with_root_certificate(object_store::Certificate::from_pem(pem).unwrap());
        }
        let bucket = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
        let answer = http
            .build()
            .unwrap()
            .put(format!("{endpoint}/{bucket}"))
            .send()
            .await
            .expect("the S3 server answers");
        assert!(
            answer.status().is_success(),
            "creating bucket {bucket}: {answer:?}"
        );
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_client_options(options)
            .with_bucket_name(&bucket)
            .with_region("us-east-1")
            .with_access_key_id(S3_KEY)
            .with_secret_access_key(S3_SECRET)
            .build()
            .expect("an S3 client");
        Some(Self {
            endpoint,
            bucket,
            store,
        })
    }

    /// The object `key`, if there is one.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStore;
        match self.store.get(&key.into()).await {
            Ok(got) => Some(got.bytes().await.expect("a body").to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("GET {key}: {e}"),
        }
    }

    /// Writes `key` unconditionally, as a writer that ignores flexform's lock would.
    pub async fn put(&self, key: &str, bytes: &[u8]) {
        use object_store::ObjectStore;
        self.store
            .put(&key.into(), bytes.to_vec().into())
            .await
            .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
    }

    /// Deletes `key`.
    pub async fn delete(&self, key: &str) {
        use object_store::ObjectStore;
        self.store
            .delete(&key.into())
            .await
            .unwrap_or_else(|e| panic!("DELETE {key}: {e}"));
    }

    /// Every key in the bucket, sorted.
    pub async fn keys(&self) -> Vec<String> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let mut keys: Vec<String> = self
            .store
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("a listing");
        keys.sort();
        keys
    }
}

/// What a [`s3_proxy`] does to the requests it passes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Fault {
    /// Drops `If-None-Match` and `If-Match`, as a misconfigured gateway might: the store then
    /// accepts every write.
    StripConditions,
    /// Answers every write of an audit trail (`….history.jsonl`) with S3's 503 SlowDown.
    RefuseTrailWrites,
    /// Passes every write of a state object (`….state.json`) on, then answers it with S3's
    /// 500 InternalError instead of the store's answer: the write landed, the writer cannot
    /// know.
    LoseStateWriteAnswers,
}

/// A reverse proxy in front of the S3 server at `upstream`, doing `fault`; its endpoint.
pub async fn s3_proxy(upstream: String, fault: S3Fault) -> String {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::response::Response;
    let http = http_client();
    let app = axum::Router::new().fallback(move |request: Request| {
        let (http, upstream) = (http.clone(), upstream.clone());
        async move {
            let (parts, body) = request.into_parts();
            if fault == S3Fault::RefuseTrailWrites
                && parts.method == axum::http::Method::PUT
                && parts.uri.path().ends_with(".history.jsonl")
            {
                return Response::builder()
                    .status(503)
                    .body(Body::from(
                        "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate (test).</Message></Error>",
                    ))
                    .unwrap();
            }
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            let wrote_state =
                parts.method == axum::http::Method::PUT && parts.uri.path().ends_with(".state.json");
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let mut headers = parts.headers.clone();
            headers.remove("host");
            if fault == S3Fault::StripConditions {
                headers.remove("if-none-match");
                headers.remove("if-match");
            }
            let answer = http
                .request(parts.method, format!("{upstream}{path}"))
                .headers(headers)
                .body(body)
                .send()
                .await
                .unwrap();
            let state_write =
                wrote_state && answer.status().is_success() && fault == S3Fault::LoseStateWriteAnswers;
            if state_write {
                return Response::builder()
                    .status(500)
                    .body(Body::from(
                        "<?xml version=\"1.0\"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again. (test)</Message></Error>",
                    ))
                    .unwrap();
            }
            let mut response = Response::builder().status(answer.status());
            for (name, value) in answer.headers() {
                if name != "transfer-encoding" && name != "content-length" {
                    response = response.header(name, value);
                }
            }
            response
                .body(Body::from(answer.bytes().await.unwrap()))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

/// A fresh PostgreSQL workspace name, so that no two tests share a row.
pub fn workspace() -> String {
    format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

/// A certificate authority made for one test, and a server certificate it signed for
/// `localhost` and `127.0.0.1`, as PEM files in a temporary folder.
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// A new CA and server certificate.
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "flexform test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        Self { dir }
    }

    /// The CA certificate (what SSL_CERT_FILE or sslrootcert names).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's certificate and key, for the simulator.
    pub fn server(&self) -> flexform::sim::TlsFiles {
        flexform::sim::TlsFiles {
            cert: self.dir.path().join("server.pem"),
            key: self.dir.path().join("server.key"),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A `flexform.yaml`, built instance by instance.
#[derive(Debug, Clone, Default)]
pub struct ConfigBuilder {
    head: String,
    instances: Vec<(String, String, String)>,
}

impl ConfigBuilder {
    /// `version: 1` and no instances.
    pub fn new() -> Self {
        Self::default()
    }

    /// An instance `name` on `account`.
    pub fn instance(self, name: &str, account: &str) -> Self {
        self.instance_with(name, account, "")
    }

    /// An instance with `conversations.default` set (or not, with `None`).
    pub fn conversations(self, name: &str, account: &str, default: Option<bool>) -> Self {
        let extra = default.map_or_else(String::new, |d| {
            format!("    conversations:\n      default: {d}\n")
        });
        self.instance_with(name, account, &extra)
    }

    /// An instance with more YAML lines below `account_sid` (indented by four spaces).
    pub fn instance_with(mut self, name: &str, account: &str, extra: &str) -> Self {
        self.instances
            .push((name.to_owned(), account.to_owned(), extra.to_owned()));
        self
    }

    /// Top-level YAML after `version: 1` (a `credentials:` or `state:` section).
    pub fn section(mut self, yaml: &str) -> Self {
        self.head.push_str(yaml);
        if !yaml.ends_with('\n') {
            self.head.push('\n');
        }
        self
    }

    /// `state: {backend: postgres, url_env: FLEXFORM_DATABASE_URL, workspace}`.
    pub fn postgres(self, workspace: &str) -> Self {
        self.section(&format!(
            "state:\n  backend: postgres\n  url_env: FLEXFORM_DATABASE_URL\n  workspace: {workspace}\n"
        ))
    }

    /// `state: {backend: s3, bucket, key, lock_lease}`: the endpoint from
    /// `AWS_ENDPOINT_URL_S3`.
    pub fn s3_endpoint_from_env(self, bucket: &S3Bucket, key: &str, lease: &str) -> Self {
        self.section(&format!(
            "state:\n  backend: s3\n  bucket: {}\n  key: {key}\n  lock_lease: {lease}\n",
            bucket.bucket
        ))
    }

    /// `state: {backend: s3, bucket, key, endpoint, lock_lease}` on the test server.
    pub fn s3(self, bucket: &S3Bucket, key: &str, lease: &str) -> Self {
        self.section(&format!(
            "state:\n  backend: s3\n  bucket: {}\n  key: {key}\n  endpoint: {}\n  lock_lease: {lease}\n",
            bucket.bucket, bucket.endpoint
        ))
    }

    /// The YAML text.
    pub fn yaml(&self) -> String {
        let mut text = format!("version: 1\n{}", self.head);
        if self.instances.is_empty() {
            text.push_str("instances: {}\n");
            return text;
        }
        text.push_str("instances:\n");
        for (name, account, extra) in &self.instances {
            text.push_str(&format!("  {name}:\n    account_sid: {account}\n{extra}"));
        }
        text
    }
}

/// A temporary project: a folder with `flexform.yaml`, optionally a simulator, and the
/// environment every run of the binary gets.
pub struct Test {
    /// The folder runs happen in: the temporary one, or the repository's ([`Test::in_repo`]).
    dir: PathBuf,
    /// The temporary folder, held so that it is removed when the test ends (`None` in the
    /// repository).
    _temp: Option<tempfile::TempDir>,
    sim: Option<SimHandle>,
    endpoint: Option<String>,
    env: BTreeMap<String, Option<String>>,
    stdin_null: bool,
    http: std::sync::OnceLock<reqwest::Client>,
}

impl Test {
    /// An empty project folder; runs get the default credentials ([`KEY`], [`SECRET`]) and
    /// nothing else from the developer's shell.
    pub fn new() -> Self {
        let temp = tempfile::tempdir().expect("a temporary folder");
        Self::at(temp.path().to_owned(), Some(temp))
    }

    /// Runs in the repository's own folder, for the commands that only read what is committed
    /// there (the schemas, the examples): nothing may be written through it.
    pub fn in_repo() -> Self {
        Self::at(repo_root().to_owned(), None)
    }

    fn at(dir: PathBuf, temp: Option<tempfile::TempDir>) -> Self {
        let mut env = BTreeMap::new();
        env.insert("TWILIO_API_KEY".to_owned(), Some(KEY.to_owned()));
        env.insert("TWILIO_API_SECRET".to_owned(), Some(SECRET.to_owned()));
        Self {
            dir,
            _temp: temp,
            sim: None,
            endpoint: None,
            env,
            stdin_null: true,
            http: std::sync::OnceLock::new(),
        }
    }

    /// A project whose runs talk to a simulator started in this process (call inside a
    /// multi-threaded tokio runtime).
    pub async fn with_sim(config: SimConfig) -> Self {
        let sim = sim::spawn(config).await.expect("the simulator starts");
        let mut test = Self::new();
        test.endpoint = Some(sim.url());
        test.sim = Some(sim);
        test
    }

    /// A project whose simulator makes instances ready after `ready_after`.
    pub async fn with_sim_ready_after(ready_after: Duration) -> Self {
        Self::with_sim(SimConfig {
            ready_after,
            ..SimConfig::default()
        })
        .await
    }

    /// Runs go to `url` (`--endpoint`), e.g. a wiremock server.
    pub fn endpoint(mut self, url: &str) -> Self {
        self.endpoint = Some(url.to_owned());
        self
    }

    /// Runs get no `--endpoint` flag (the default, or FLEXFORM_ENDPOINT when set).
    pub fn no_endpoint(mut self) -> Self {
        self.endpoint = None;
        self
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), Some(value.to_owned()));
        self
    }

    /// Removes an environment variable (e.g. the default credentials) from every run.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env.insert(key.to_owned(), None);
        self
    }

    /// Writes `flexform.yaml` from a builder.
    pub fn config(self, config: &ConfigBuilder) -> Self {
        self.write_config(config);
        self
    }

    /// Replaces `flexform.yaml` with the builder's YAML.
    pub fn write_config(&self, config: &ConfigBuilder) {
        self.write("flexform.yaml", &config.yaml());
    }

    /// Writes `text` to `name` in the project folder.
    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).expect("the project folder is writable");
    }

    /// The project folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file in the project folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `flexform.state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.path("flexform.state.json")
    }

    /// The simulator.
    pub fn sim(&self) -> &SimHandle {
        self.sim.as_ref().expect("this test has a simulator")
    }

    /// The simulator's request counts so far.
    pub fn stats(&self) -> SimStats {
        self.sim().stats()
    }

    /// Runs get AWS credentials ([`S3_KEY`], [`S3_SECRET`]) from the environment, and nothing
    /// from this machine's AWS files or instance metadata.
    pub fn s3_credentials(self) -> Self {
        self.env("AWS_ACCESS_KEY_ID", S3_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
    }

    /// The endpoint runs go to.
    pub fn url(&self) -> String {
        self.endpoint.clone().expect("this test has an endpoint")
    }

    /// `flexform ARGS` in the project folder with `FLEXFORM_ENDPOINT` naming the simulator
    /// (only the commands that talk to the API read it), stdin not a terminal, both streams
    /// captured.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = flexform();
        cmd.current_dir(&self.dir).args(args);
        if let Some(url) = &self.endpoint {
            cmd.env("FLEXFORM_ENDPOINT", url);
        }
        for (key, value) in &self.env {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if self.stdin_null {
            cmd.stdin(Stdio::null());
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// [`Test::command`] with `vars` set (`Some`) or removed (`None`) for this run only, on top
    /// of the project's environment.
    pub fn command_with_env(&self, args: &[&str], vars: &[(&str, Option<&str>)]) -> Command {
        let mut cmd = self.command(args);
        for (key, value) in vars {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        cmd
    }

    /// Runs flexform to the end, off the runtime's worker threads (the simulator runs there).
    pub async fn run(&self, args: &[&str]) -> Outcome {
        self.run_with_env(args, &[]).await
    }

    /// [`Test::run`] with `vars` set (`Some`) or removed (`None`) for this run only.
    pub async fn run_with_env(&self, args: &[&str], vars: &[(&str, Option<&str>)]) -> Outcome {
        let mut cmd = self.command_with_env(args, vars);
        let output = tokio::task::spawn_blocking(move || cmd.output().expect("flexform runs"))
            .await
            .expect("the runner thread ends");
        Outcome::from(output)
    }

    /// Runs flexform to the end from a plain (non-async) test.
    pub fn run_blocking(&self, args: &[&str]) -> Outcome {
        Outcome::from(self.command(args).output().expect("flexform runs"))
    }

    /// Starts flexform in the background; it is killed if the test ends first.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running(Some(self.command(args).spawn().expect("flexform starts")))
    }

    /// The state file's bytes.
    pub fn state_bytes(&self) -> Vec<u8> {
        std::fs::read(self.state_path()).expect("the state file exists")
    }

    /// The state as flexform reads it: the file with any journaled updates applied.
    pub fn state(&self) -> State {
        State::load(&self.state_path())
            .expect("the state parses")
            .expect("a state exists")
    }

    /// The audit trail, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        std::fs::read_to_string(self.path("flexform.state.json.history.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("each history line is an entry"))
            .collect()
    }

    /// Every file in the folder with its bytes.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&self.dir)
            .expect("the project folder is readable")
            .map(|entry| {
                let entry = entry.expect("a folder entry");
                (
                    entry.file_name().to_string_lossy().into_owned(),
                    std::fs::read(entry.path()).expect("a readable file"),
                )
            })
            .collect()
    }

    /// Runs a command that must leave every file in the folder exactly as it was.
    pub async fn run_read_only(&self, args: &[&str]) -> Outcome {
        self.run_read_only_with_env(args, &[]).await
    }

    /// [`Test::run_read_only`] with `vars` set (`Some`) or removed (`None`) for this run only.
    pub async fn run_read_only_with_env(
        &self,
        args: &[&str],
        vars: &[(&str, Option<&str>)],
    ) -> Outcome {
        let before = self.files();
        let outcome = self.run_with_env(args, vars).await;
        let after = self.files();
        assert_eq!(
            before.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>(),
            "a read-only command created or removed files: {outcome:?}"
        );
        for (name, bytes) in &before {
            assert!(
                after[name] == *bytes,
                "a read-only command changed {name}: {outcome:?}"
            );
        }
        outcome
    }

    /// The SID of the simulator's only instance on `account`.
    pub fn sim_sid(&self, account: &str) -> String {
        let found: Vec<_> = self
            .sim()
            .instances()
            .into_iter()
            .filter(|i| i.account_sid == account)
            .collect();
        assert_eq!(found.len(), 1, "instances on {account}: {found:?}");
        found[0].flex_instance_sid.clone()
    }

    /// Creates an instance on `account` through the simulator's API, behind flexform's back as
    /// someone else would (with [`KEY`] and [`SECRET`], which a simulator that checks
    /// credentials accepts), with `conversations.default` when given; its SID.
    pub async fn create_directly(
        &self,
        account: &str,
        conversations_default: Option<bool>,
    ) -> String {
        let body = match conversations_default {
            Some(default) => serde_json::json!({"conversations": {"default": default}}),
            None => serde_json::json!({}),
        };
        let http = self.http.get_or_init(http_client);
        let response = http
            .post(format!("{}/v2/Instances", self.sim().url()))
            .basic_auth(KEY, Some(SECRET))
            .header("I-Twilio-Auth-Account", account)
            .json(&body)
            .send()
            .await
            .expect("the simulator answers");
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        let body: serde_json::Value = response.json().await.expect("a JSON answer");
        body["flex_instance_sid"]
            .as_str()
            .expect("the answer names the instance")
            .to_owned()
    }

    /// Runs `apply --auto-approve`, lets the simulator create the instance but hold the answer,
    /// and kills flexform (SIGKILL) meanwhile: the instance exists, flexform never learned its
    /// SID. The simulator's faults are cleared afterwards.
    pub async fn crash_during_held_create(&self) {
        self.sim().set_faults(Faults {
            hold_create_response_ms: Some(30_000),
            ..Faults::default()
        });
        let mut child = self.spawn(&["apply", "--auto-approve"]);
        self.wait_until("the simulator to create an instance", || {
            self.stats().creates >= 1
        })
        .await;
        child.kill();
        let _ = child.output().await;
        self.sim().set_faults(Faults::default());
    }

    /// Waits until `condition` holds (15 s at most).
    pub async fn wait_until(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

/// What one run of the binary did.
pub struct Outcome {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Stdout as text.
    pub stdout: String,
    /// Stderr as text.
    pub stderr: String,
    /// The raw output.
    pub output: Output,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            output,
        }
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Outcome {
    /// Asserts the exit code, showing both streams when it is wrong.
    #[track_caller]
    pub fn assert_exit(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "{self:?}");
        self
    }

    /// Asserts that stdout holds `text`.
    #[track_caller]
    pub fn assert_stdout_contains(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}: {self:?}"
        );
        self
    }

    /// Asserts that stderr holds `text`.
    #[track_caller]
    pub fn assert_stderr_contains(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}: {self:?}"
        );
        self
    }

    /// Stdout decoded as one JSON document (the whole of it).
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:?}"))
    }
}

/// A flexform process started in the background; killed if a test ends before it does.
pub struct Running(Option<Child>);

impl Running {
    /// Its process ID.
    pub fn id(&self) -> u32 {
        self.0.as_ref().expect("not yet waited for").id()
    }

    /// Takes the read end of its stderr (piped by [`Test::command`]); dropping it closes it.
    pub fn take_stderr(&mut self) -> std::process::ChildStderr {
        self.0
            .as_mut()
            .expect("not yet waited for")
            .stderr
            .take()
            .expect("stderr is piped and not yet taken")
    }

    /// Takes the read end of its stdout (piped by [`Test::command`]).
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.0
            .as_mut()
            .expect("not yet waited for")
            .stdout
            .take()
            .expect("stdout is piped and not yet taken")
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        self.0.as_mut().expect("not yet waited for").kill().unwrap();
    }

    /// Waits for the end, off the runtime's worker threads.
    pub async fn output(self) -> Outcome {
        tokio::task::spawn_blocking(move || self.output_blocking())
            .await
            .expect("the waiting thread ends")
    }

    /// Waits for the end from a plain (non-async) test.
    pub fn output_blocking(mut self) -> Outcome {
        let child = self.0.take().expect("not yet waited for");
        Outcome::from(child.wait_with_output().expect("flexform ends"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
