//! flexform where users' networks, databases and pipelines are: a company CA in the trust
//! store (`SSL_CERT_FILE`), an HTTPS simulator, a real proxy (tinyproxy), and PostgreSQL over
//! TLS with libpq's `sslmode` semantics and `PG*` variables.
//!
//! The proxy tests need `tinyproxy` on the PATH and the PostgreSQL ones a database with TLS
//! (`FLEXFORM_TEST_DATABASE_URL` and `FLEXFORM_TEST_PG_CA`, plus `FLEXFORM_TEST_PG_CLIENT_CERT`
//! and `FLEXFORM_TEST_PG_CLIENT_KEY` for the user `flexform_cert`, as `scripts/components.sh`
//! starts it for `.ci/run`); each says it was skipped where its component is missing.

use std::io::BufRead;
use std::time::Duration;

use crate::common::{self, account, database_url, workspace, ConfigBuilder, Test, TestCa};
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

/// A folder laid out as OpenSSL's `c_rehash`/`openssl rehash` and update-ca-certificates lay
/// out /etc/ssl/certs: `<subject hash>.0` symbolic links to the PEM files (the hash from
/// openssl where it is installed; rustls-native-certs reads every file in the folder, whatever
/// its name).
#[cfg(unix)]
fn hashed_cert_dir(cas: &[&std::path::Path]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    std::fs::create_dir(dir.path().join("pem")).unwrap();
    for (i, ca) in cas.iter().enumerate() {
        let pem = dir.path().join("pem").join(format!("ca-{i}.pem"));
        std::fs::copy(ca, &pem).unwrap();
        let hash = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject_hash", "-in"])
            .arg(&pem)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| format!("{i:08x}"));
        let mut n = 0;
        while dir
            .path()
            .join("certs")
            .join(format!("{hash}.{n}"))
            .exists()
        {
            n += 1;
        }
        std::os::unix::fs::symlink(&pem, dir.path().join("certs").join(format!("{hash}.{n}")))
            .unwrap();
    }
    dir
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn https_trusts_a_ca_found_only_in_the_folder_ssl_cert_dir_names() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let t = https_project(&ca).await;
    let with_ca = hashed_cert_dir(&[&other.ca(), &ca.ca()]);
    let without = hashed_cert_dir(&[&other.ca()]);
    let dir = |d: &tempfile::TempDir| d.path().join("certs").to_str().unwrap().to_owned();
    let (with_ca, without) = (dir(&with_ca), dir(&without));

    let trusted = t
        .run_read_only_with_env(
            &["plan", "--detailed-exitcode"],
            &[("SSL_CERT_FILE", None), ("SSL_CERT_DIR", Some(&with_ca))],
        )
        .await;
    trusted.assert_exit(2);
    trusted.assert_stdout_contains("flex_instance.a will be created");
    // A folder without the CA: its certificates, and only they, are trusted.
    let untrusted = t
        .run_read_only_with_env(
            &["plan", "--max-attempts", "1"],
            &[("SSL_CERT_FILE", None), ("SSL_CERT_DIR", Some(&without))],
        )
        .await;
    untrusted.assert_exit(1);
    untrusted.assert_stderr_contains("cannot verify the TLS certificate of 127.0.0.1");
    untrusted.assert_stderr_contains("SSL_CERT_DIR");
    // Several folders, as OpenSSL reads them: separated by `:`.
    let both = format!("{without}:{with_ca}");
    t.run_read_only_with_env(
        &["plan", "--detailed-exitcode"],
        &[("SSL_CERT_FILE", None), ("SSL_CERT_DIR", Some(&both))],
    )
    .await
    .assert_exit(2);
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
pub(crate) struct Tinyproxy {
    child: std::process::Child,
    pub(crate) port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    pub(crate) fn start() -> Option<Self> {
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

    pub(crate) fn log(&self) -> String {
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
    // The endpoint by host name, as Twilio's is: the proxy resolves it and tunnels to it.
    let sim_port = t.url().rsplit(':').next().unwrap().to_owned();
    let by_name = format!("https://localhost:{sim_port}");
    let vars = [
        ("HTTPS_PROXY", Some(proxy_url.as_str())),
        ("SSL_CERT_FILE", Some(ca_file.to_str().unwrap())),
        ("FLEXFORM_ENDPOINT", Some(by_name.as_str())),
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
    let log = proxy.log();
    assert!(
        log.contains(&format!("CONNECT localhost:{sim_port}")),
        "the proxy did not tunnel the request: {log}"
    );
    // NO_PROXY: straight to the simulator, the proxy unused.
    let before = proxy.log().matches("CONNECT").count();
    let direct = t
        .run_read_only_with_env(
            &["plan", "--detailed-exitcode", "-v"],
            &[vars[0], vars[1], vars[2], ("NO_PROXY", Some("localhost"))],
        )
        .await;
    direct.assert_exit(2);
    assert!(!direct.stderr.contains("via proxy"), "{direct:?}");
    assert_eq!(proxy.log().matches("CONNECT").count(), before);
}

/// Twilio is HTTPS-only and every connection costs a TLS handshake: a whole plan and apply open
/// no more connections than their parallelism, however many requests they send (hyper's pool
/// alone opens a few more, racing connections that are on their way back to the pool).
#[tokio::test(flavor = "multi_thread")]
async fn tls_handshakes_of_a_whole_run_never_exceed_the_parallelism() {
    let ca = TestCa::new();
    let t = Test::with_sim(SimConfig {
        ready_after: Duration::ZERO,
        latency: Duration::from_millis(2),
        tls: Some(ca.server()),
        ..SimConfig::default()
    })
    .await;
    let mut config = ConfigBuilder::new();
    for n in 1..=400 {
        config = config.instance(&format!("i{n}"), &account(n));
    }
    t.write_config(&config);
    let ca_file = ca.ca();
    let trust = [("SSL_CERT_FILE", Some(ca_file.to_str().unwrap()))];
    for (parallelism, args) in [
        (
            "4",
            &["plan", "--detailed-exitcode", "--out", "plan.json"][..],
        ),
        ("4", &["apply", "plan.json", "--no-wait"][..]),
        ("16", &["plan", "--detailed-exitcode"][..]),
    ] {
        let before = t.stats();
        let mut args = args.to_vec();
        args.extend(["--parallelism", parallelism]);
        let run = t.run_with_env(&args, &trust).await;
        assert!(matches!(run.code, Some(0 | 2)), "{args:?}: {run:?}");
        let after = t.stats();
        let (requests, handshakes) = (
            after.requests - before.requests,
            after.connections - before.connections,
        );
        assert!(requests >= 400, "{args:?}: {requests} requests");
        assert!(
            handshakes <= parallelism.parse().unwrap(),
            "{args:?}: {handshakes} TLS handshakes for {requests} requests at parallelism \
             {parallelism}"
        );
    }
    assert_eq!(t.state().instances.len(), 400);
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
    // prefer (the default), allow, require and disable work with the server's own certificate,
    // which nothing on this machine trusts, as with psql.
    for mode in [
        "",
        "sslmode=prefer",
        "sslmode=allow",
        "sslmode=require",
        "sslmode=disable",
    ] {
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

/// `vars` on top of an environment with no `PG*`, `SSL_CERT_*` or `HOME` of the test's own:
/// what the run uses is what the test sets.
fn only<'a>(vars: &[(&'a str, Option<&'a str>)], home: &'a str) -> Vec<(&'a str, Option<&'a str>)> {
    let mut all: Vec<(&str, Option<&str>)> = [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ]
    .into_iter()
    .map(|name| (name, None))
    .collect();
    all.push(("HOME", Some(home)));
    all.extend_from_slice(vars);
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn sslrootcert_system_trusts_what_the_system_trusts() {
    let Some((url, ca)) = pg_with_tls("sslrootcert=system") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    // The test CA in the system's trust (SSL_CERT_FILE): verify-full passes, and
    // sslrootcert=system alone means verify-full, as in libpq.
    for params in [
        "sslmode=verify-full&sslrootcert=system",
        "sslrootcert=system",
    ] {
        pull_with(
            &with_params(&url, params),
            &only(&[("SSL_CERT_FILE", Some(&ca))], home),
        )
        .await
        .assert_exit(0);
    }
    // Not in it (another CA; then the machine's own store): a clear error.
    let other = TestCa::new();
    let other_ca = other.ca();
    let system = with_params(&url, "sslmode=verify-full&sslrootcert=system");
    for vars in [
        vec![("SSL_CERT_FILE", Some(other_ca.to_str().unwrap()))],
        vec![],
    ] {
        let out = pull_with(&system, &only(&vars, home)).await;
        out.assert_exit(1);
        out.assert_stderr_contains("sslmode=verify-full");
        out.assert_stderr_contains("not signed by a CA this machine trusts");
        out.assert_stderr_contains("SSL_CERT_FILE");
        assert!(!out.stderr.contains("flexform-ci"), "the password leaked");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn require_with_a_root_certificate_verifies_the_chain_as_libpq_does() {
    let Some((url, ca)) = pg_with_tls("require with sslrootcert") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    let other = TestCa::new();
    let wrong = with_params(
        &url,
        &format!("sslmode=require&sslrootcert={}", other.ca().display()),
    );
    let out = pull_with(&wrong, &only(&[], home_str)).await;
    out.assert_exit(1);
    out.assert_stderr_contains("sslmode=require");
    out.assert_stderr_contains("not signed by a CA this machine trusts");
    let right = with_params(&url, &format!("sslmode=require&sslrootcert={ca}"));
    pull_with(&right, &only(&[], home_str)).await.assert_exit(0);
    // libpq's default root certificate, ~/.postgresql/root.crt, counts too.
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::copy(other.ca(), home.path().join(".postgresql/root.crt")).unwrap();
    let require = with_params(&url, "sslmode=require");
    pull_with(&require, &only(&[], home_str))
        .await
        .assert_exit(1);
    std::fs::copy(&ca, home.path().join(".postgresql/root.crt")).unwrap();
    pull_with(&require, &only(&[], home_str))
        .await
        .assert_exit(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_are_presented_and_bad_ones_named() {
    let Some((url, ca)) = pg_with_tls("client certificates") else {
        return;
    };
    let files = [
        "FLEXFORM_TEST_PG_CLIENT_CERT",
        "FLEXFORM_TEST_PG_CLIENT_KEY",
    ]
    .map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
    let [Some(cert), Some(key)] = files else {
        skipped(
            "client certificates",
            "FLEXFORM_TEST_PG_CLIENT_CERT and FLEXFORM_TEST_PG_CLIENT_KEY are not set (scripts/components.sh sets them)",
        );
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    // The user flexform_cert signs in with its certificate only (pg_hba `cert`, no password).
    let mut as_cert_user = reqwest::Url::parse(&url).unwrap();
    as_cert_user.set_username("flexform_cert").unwrap();
    as_cert_user.set_password(None).unwrap();
    as_cert_user.set_path("/flexform_cert");
    let base = with_params(
        as_cert_user.as_str(),
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let with_files =
        |cert: &str, key: &str| with_params(&base, &format!("sslcert={cert}&sslkey={key}"));

    pull_with(&with_files(&cert, &key), &only(&[], home_str))
        .await
        .assert_exit(0);
    // By PGSSLCERT and PGSSLKEY, and with prefer (the certificate is sent all the same).
    pull_with(
        &base,
        &only(
            &[("PGSSLCERT", Some(&cert)), ("PGSSLKEY", Some(&key))],
            home_str,
        ),
    )
    .await
    .assert_exit(0);
    let mut prefer = as_cert_user.clone();
    prefer.set_query(Some(&format!("sslcert={cert}&sslkey={key}")));
    pull_with(prefer.as_str(), &only(&[], home_str))
        .await
        .assert_exit(0);
    // Without a certificate the server turns flexform away.
    let out = pull_with(&base, &only(&[], home_str)).await;
    out.assert_exit(1);
    out.assert_stderr_contains("certificate");
    // libpq's default files, ~/.postgresql/postgresql.crt and .key, are used when present.
    std::fs::create_dir(home.path().join(".postgresql")).unwrap();
    std::fs::copy(&cert, home.path().join(".postgresql/postgresql.crt")).unwrap();
    std::fs::copy(&key, home.path().join(".postgresql/postgresql.key")).unwrap();
    pull_with(&base, &only(&[], home_str)).await.assert_exit(0);

    // A missing key file, and a key that is not the certificate's: errors naming the files.
    let missing = home.path().join("missing.key");
    let out = pull_with(
        &with_files(&cert, missing.to_str().unwrap()),
        &only(&[], home_str),
    )
    .await;
    out.assert_exit(1);
    out.assert_stderr_contains(&format!("sslkey: cannot use {}", missing.display()));
    let stranger = rcgen::KeyPair::generate().unwrap();
    let stranger_key = home.path().join("stranger.key");
    std::fs::write(&stranger_key, stranger.serialize_pem()).unwrap();
    let out = pull_with(
        &with_files(&cert, stranger_key.to_str().unwrap()),
        &only(&[], home_str),
    )
    .await;
    out.assert_exit(1);
    out.assert_stderr_contains(&cert);
    out.assert_stderr_contains("stranger.key");
    out.assert_stderr_contains("the key is not the certificate's");
    // A certificate for the right user from a CA the server does not trust: refused.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "flexform_cert");
    let forged = params.self_signed(&stranger).unwrap();
    let forged_cert = home.path().join("forged.pem");
    std::fs::write(&forged_cert, forged.pem()).unwrap();
    let out = pull_with(
        &with_files(
            forged_cert.to_str().unwrap(),
            stranger_key.to_str().unwrap(),
        ),
        &only(&[], home_str),
    )
    .await;
    out.assert_exit(1);
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_name_the_host_the_pg_variables_lead_to() {
    // A closed port on a loopback address that is not 127.0.0.1 (nothing listens there).
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let home = tempfile::tempdir().unwrap();
    let vars = [
        ("PGHOST", Some("127.0.0.2")),
        ("PGPORT", Some(port.as_str())),
        ("PGUSER", Some("flexform")),
    ];
    let out = pull_with(
        "postgres:///flexform_test",
        &only(&vars, home.path().to_str().unwrap()),
    )
    .await;
    out.assert_exit(1);
    out.assert_stderr_contains(&format!(
        "postgres host 127.0.0.2:{port} (database flexform_test)"
    ));
    assert!(!out.stderr.contains("localhost"), "{out:?}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_url_without_a_host_goes_through_the_default_unix_socket_as_with_psql() {
    let Some((url, _)) = pg_with_tls("default unix socket") else {
        return;
    };
    let parsed = reqwest::Url::parse(&url).unwrap();
    let port = parsed.port().unwrap_or(5432).to_string();
    let socket = flexform_socket_dirs()
        .into_iter()
        .map(|dir| std::path::Path::new(dir).join(format!(".s.PGSQL.{port}")))
        .find(|path| path.exists());
    let Some(socket) = socket else {
        skipped(
            "default unix socket",
            "the test database has no socket where flexform looks (scripts/components.sh puts it in /var/run/postgresql)",
        );
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path().to_str().unwrap();
    // No password: the socket's own authentication (trust, as initdb sets it up for local
    // connections) lets the user in, where TCP would ask for a password. sslmode does not
    // apply to a socket, as in libpq.
    let vars = [
        ("PGUSER", Some("flexform")),
        ("PGPORT", Some(port.as_str())),
    ];
    for url in [
        "postgresql:///flexform_test",
        "postgres:///flexform_test?sslmode=verify-full",
    ] {
        pull_with(url, &only(&vars, home)).await.assert_exit(0);
    }
    // Errors name the socket.
    let out = pull_with("postgresql:///no_such_database", &only(&vars, home)).await;
    out.assert_exit(1);
    out.assert_stderr_contains(&format!("postgres socket {}", socket.display()));
    out.assert_stderr_contains("(Unix socket, no TLS)");
}

/// Where flexform looks for the default socket: the first of libpq's folders that exists.
fn flexform_socket_dirs() -> Vec<&'static str> {
    ["/var/run/postgresql", "/tmp"]
        .into_iter()
        .filter(|dir| std::path::Path::new(dir).is_dir())
        .take(1)
        .collect()
}

/// A user and password in the endpoint (`FLEXFORM_ENDPOINT=http://user:pw@host`) never reach
/// an error or a log, even at `-vv`, whether the endpoint answers, cannot be reached or does
/// not parse; requests still authenticate with the instance's credentials.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_in_the_endpoint_is_never_printed() {
    const SECRET: &str = "Endp0intS3cret";
    let t = Test::with_sim_ready_after(Duration::ZERO)
        .await
        .config(&ConfigBuilder::new().instance("a", &account(1)));
    let with_password = t.url().replacen("://", &format!("://jsmith:{SECRET}@"), 1);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("http://jsmith:{SECRET}@127.0.0.1:{closed}");
    let unparsable = format!("http://jsmith:{SECRET}@exa mple.com");
    for (endpoint, code) in [(&with_password, 0), (&unreachable, 1), (&unparsable, 1)] {
        let outcome = t
            .run_with_env(
                &["-vv", "plan", "--max-attempts", "1"],
                &[("FLEXFORM_ENDPOINT", Some(endpoint))],
            )
            .await;
        outcome.assert_exit(code);
        assert!(
            !outcome.stderr.contains(SECRET) && !outcome.stdout.contains(SECRET),
            "{endpoint}: {outcome:?}"
        );
        if code == 0 {
            outcome.assert_stderr_contains("the user and password in the endpoint are ignored");
            outcome.assert_stdout_contains("will be created");
        } else {
            assert!(
                outcome.stderr.contains("jsmith")
                    || outcome.stderr.contains("[redacted]")
                    || outcome.stderr.contains("127.0.0.1"),
                "{outcome:?}"
            );
        }
    }
}
