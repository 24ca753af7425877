//! flexform where users' networks, databases and pipelines are: a company CA in the trust
//! store (`SSL_CERT_FILE`), an HTTPS simulator, a real proxy (tinyproxy), and PostgreSQL over
//! TLS with libpq's `sslmode` semantics and `PG*` variables.
//!
//! The proxy tests need `tinyproxy` on the PATH and the PostgreSQL ones a database with TLS
//! (`FLEXFORM_TEST_DATABASE_URL` and `FLEXFORM_TEST_PG_CA`, as `.ci/run` starts it); each says
//! it was skipped where its component is missing.

mod common;

use std::io::BufRead;
use std::time::Duration;

use common::{account, database_url, workspace, ConfigBuilder, Test, TestCa};
use flexform::sim::SimConfig;

/// A project whose simulator serves HTTPS with a certificate of `ca`.
async fn https_project(ca: &TestCa) -> Test {
    Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        tls: Some(ca.server()),
        ..SimConfig::default()
    })
    .await
    .config(&ConfigBuilder::new().instance("a", &account(1)))
}

/// Why a test did not run: a failure in CI, a line on stderr elsewhere.
fn skipped(test: &str, why: &str) {
    common::unavailable(test, why);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_an_untrusted_ca_is_a_clear_error_and_ssl_cert_file_makes_it_work() {
    let ca = TestCa::new();
    let t = https_project(&ca).await;
    assert!(t.url().starts_with("https://127.0.0.1:"), "{}", t.url());

    let untrusted = t.run_read_only(&["plan", "--max-attempts", "1"]).await;
    untrusted.assert_exit(1);
    untrusted.assert_stderr_contains("cannot verify the TLS certificate of 127.0.0.1");
    untrusted.assert_stderr_contains("SSL_CERT_FILE");
    assert_eq!(t.stats().requests, 0, "no request got through");

    let trusted = t
        .run_read_only_with_env(
            &["plan", "--detailed-exitcode"],
            &[("SSL_CERT_FILE", Some(ca.ca().to_str().unwrap()))],
        )
        .await;
    trusted.assert_exit(2);
    trusted.assert_stdout_contains("flex_instance.a will be created");
    let applied = t
        .run_with_env(
            &["apply", "--auto-approve"],
            &[("SSL_CERT_FILE", Some(ca.ca().to_str().unwrap()))],
        )
        .await;
    applied.assert_exit(0);
    assert_eq!(
        t.state().instances["a"].flex_instance_sid.as_str(),
        t.sim_sid(&account(1))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flexform_sim_serves_https_from_the_command_line() {
    let ca = TestCa::new();
    let files = ca.server();
    let t = Test::new().config(&ConfigBuilder::new().instance("a", &account(1)));
    let mut sim = t.spawn(&[
        "sim",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        files.cert.to_str().unwrap(),
        "--tls-key",
        files.key.to_str().unwrap(),
    ]);
    let output = sim.take_stdout();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(output)
            .read_line(&mut line)
            .unwrap();
        line
    })
    .await
    .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_owned();
    assert!(url.starts_with("https://"), "{url}");
    let t = t.endpoint(&url);
    let plan = t
        .run_read_only_with_env(
            &["plan", "--detailed-exitcode"],
            &[("SSL_CERT_FILE", Some(ca.ca().to_str().unwrap()))],
        )
        .await;
    plan.assert_exit(2);
    sim.kill();
}

/// A tinyproxy on a free loopback port, logging to a file; killed when dropped.
struct Tinyproxy {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    fn start() -> Option<Self> {
        let binary = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let log = dir.path().join("tinyproxy.log");
        let conf = dir.path().join("tinyproxy.conf");
        // No ConnectPort line: CONNECT is allowed to any port (the simulator's is random).
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 60\nLogFile \"{}\"\nLogLevel Connect\nMaxClients 50\nAllow 127.0.0.1\n",
                log.display()
            ),
        )
        .unwrap();
        let child = std::process::Command::new(binary)
            .args(["-d", "-c"])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "tinyproxy did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn https_goes_through_a_real_proxy_with_connect_and_v_says_which() {
    let Some(proxy) = Tinyproxy::start() else {
        skipped("proxy", "tinyproxy is not installed (.ci/run installs it)");
        return;
    };
    let ca = TestCa::new();
    let t = https_project(&ca).await;
    let proxy_url = format!("http://someone:proxy-secret@127.0.0.1:{}", proxy.port);
    let ca_file = ca.ca();
    let vars = [
        ("HTTPS_PROXY", Some(proxy_url.as_str())),
        ("SSL_CERT_FILE", Some(ca_file.to_str().unwrap())),
    ];
    let plan = t
        .run_read_only_with_env(&["plan", "--detailed-exitcode", "-v"], &vars)
        .await;
    plan.assert_exit(2);
    plan.assert_stderr_contains(&format!("via proxy http://127.0.0.1:{}", proxy.port));
    assert!(
        !plan.stderr.contains("proxy-secret"),
        "the proxy's credentials leaked: {plan:?}"
    );
    let sim_port = t.url().rsplit(':').next().unwrap().to_owned();
    let log = proxy.log();
    assert!(
        log.contains("CONNECT") && log.contains(&sim_port),
        "the proxy did not tunnel the request: {log}"
    );
    // NO_PROXY: straight to the simulator, the proxy unused.
    let before = proxy.log().matches("CONNECT").count();
    let direct = t
        .run_read_only_with_env(
            &["plan", "--detailed-exitcode", "-v"],
            &[vars[0], vars[1], ("NO_PROXY", Some("127.0.0.1"))],
        )
        .await;
    direct.assert_exit(2);
    assert!(!direct.stderr.contains("via proxy"), "{direct:?}");
    assert_eq!(proxy.log().matches("CONNECT").count(), before);
}

#[tokio::test(flavor = "multi_thread")]
async fn state_pull_of_an_empty_state_prints_an_empty_document_and_exits_0() {
    let t = Test::new().config(&ConfigBuilder::new().instance("a", &account(1)));
    let pull = t.run_read_only(&["state", "pull"]).await;
    pull.assert_exit(0);
    let doc = pull.json();
    assert_eq!(doc["serial"], 0);
    assert_eq!(doc["instances"], serde_json::json!({}));
    pull.assert_stderr_contains("no state yet");
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL over TLS, as libpq does it
// ---------------------------------------------------------------------------------------------

/// The TLS-enabled test database and the CA that signed its certificate.
fn pg_with_tls(test: &str) -> Option<(String, String)> {
    let url = database_url(test)?;
    match std::env::var("FLEXFORM_TEST_PG_CA") {
        Ok(ca) if !ca.is_empty() => Some((url, ca)),
        _ => {
            skipped(test, "FLEXFORM_TEST_PG_CA is not set (.ci/run sets it)");
            None
        }
    }
}

/// `url` with `extra` query parameters.
fn with_params(url: &str, extra: &str) -> String {
    let joiner = if url.contains('?') { '&' } else { '?' };
    format!("{url}{joiner}{extra}")
}

/// Runs `state pull` on a fresh workspace with FLEXFORM_DATABASE_URL=`url` and `vars`.
async fn pull_with(url: &str, vars: &[(&str, Option<&str>)]) -> common::Outcome {
    let t = Test::new()
        .env("FLEXFORM_DATABASE_URL", url)
        .config(&ConfigBuilder::new().postgres(&workspace()));
    t.run_with_env(&["state", "pull"], vars).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sslmode_means_what_it_means_to_libpq() {
    let Some((url, ca)) = pg_with_tls("sslmodes") else {
        return;
    };
    // prefer (the default), require and disable work with the server's own certificate,
    // which nothing on this machine trusts, as with psql.
    for mode in ["", "sslmode=prefer", "sslmode=require", "sslmode=disable"] {
        let url = if mode.is_empty() {
            url.clone()
        } else {
            with_params(&url, mode)
        };
        pull_with(&url, &[]).await.assert_exit(0);
    }
    // verify-full needs the CA: without it, a clear error naming what to set.
    let out = pull_with(&with_params(&url, "sslmode=verify-full"), &[]).await;
    out.assert_exit(1);
    out.assert_stderr_contains("sslrootcert");
    assert!(!out.stderr.contains("flexform-ci"), "the password leaked");
    // With the CA, verify-full and verify-ca pass, by URL or by PGSSLROOTCERT.
    let verified = with_params(&url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    pull_with(&verified, &[]).await.assert_exit(0);
    let verify_ca = with_params(&url, &format!("sslmode=verify-ca&sslrootcert={ca}"));
    pull_with(&verify_ca, &[]).await.assert_exit(0);
    pull_with(
        &with_params(&url, "sslmode=verify-full"),
        &[("PGSSLROOTCERT", Some(&ca))],
    )
    .await
    .assert_exit(0);
    // Another CA: the server is not trusted, and the error says so.
    let other = TestCa::new();
    let wrong = with_params(
        &url,
        &format!("sslmode=verify-full&sslrootcert={}", other.ca().display()),
    );
    let out = pull_with(&wrong, &[]).await;
    out.assert_exit(1);
    out.assert_stderr_contains("sslmode=verify-full");
}

#[tokio::test(flavor = "multi_thread")]
async fn pg_variables_fill_a_url_that_omits_the_password() {
    let Some((url, _)) = pg_with_tls("pg variables") else {
        return;
    };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let password = parsed
        .password()
        .expect("the test URL has a password")
        .to_owned();
    let mut bare = parsed.clone();
    bare.set_password(None).unwrap();
    let bare = bare.to_string();
    pull_with(&bare, &[("PGPASSWORD", Some(&password))])
        .await
        .assert_exit(0);
    // The password file works too.
    let dir = tempfile::tempdir().unwrap();
    let pgpass = dir.path().join("pgpass");
    std::fs::write(&pgpass, format!("*:*:*:*:{password}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    pull_with(&bare, &[("PGPASSFILE", Some(pgpass.to_str().unwrap()))])
        .await
        .assert_exit(0);
    // Without either: an authentication error that never shows a password.
    let out = pull_with(&bare, &[]).await;
    out.assert_exit(1);
    assert!(!out.stderr.contains(&password), "{out:?}");
}
