//! Scale benchmark: plan and apply over thousands of accounts against the in-process simulator
//! at a fixed latency, compared with the physical bound N x latency / parallelism.
//!
//! `cargo bench --bench scale` runs the full table (N = 1,000 and 10,000; parallelism 10 and
//! 100; latency 20 ms) and the rate-limit case; `BENCH_QUICK=1` runs a small case for CI,
//! `BENCH_ONLY=estate` the N = 10,000 HTTP cases, `BENCH_ONLY=ambiguous` issue 25's case and
//! `BENCH_ONLY=plugins` the Flex plugins cases (issue 27; small under `BENCH_QUICK=1` too),
//! `BENCH_ONLY=s3` plan and apply with the state on S3 (issue 28; the S3 server named by
//! `FLEXFORM_TEST_S3_ENDPOINT`, e.g. moto's from `scripts/components.sh`), beside the same on a
//! local file.
//! Wall time, CPU time and peak RSS are those of the `flexform` process, measured with wait4.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flexform::client::{ClientConfig, FlexClient};
use flexform::config::credentials::Credentials;
use flexform::config::secret::Secret;
use flexform::config::Config;
use flexform::sim::{self, SimConfig};
use flexform::state::State;

/// What one run of the binary cost.
struct Measure {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
    code: i32,
}

/// Runs the flexform binary and measures it with wait4 (its own CPU time and peak RSS),
/// trusting the CA in `ca_file` (`SSL_CERT_FILE`) when given.
fn run_with(dir: &Path, endpoint: &str, args: &[&str], ca_file: Option<&Path>) -> Measure {
    run_expecting(dir, endpoint, args, ca_file, false)
}

/// [`run_with`], where exit 1 is what the case expects when `fails` (the child's stderr is then
/// dropped).
// The child is reaped by wait4 below, not by `Child::wait`, so that its rusage can be read.
#[allow(clippy::zombie_processes)]
fn run_expecting(
    dir: &Path,
    endpoint: &str,
    args: &[&str],
    ca_file: Option<&Path>,
    fails: bool,
) -> Measure {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_flexform"));
    if let Some(ca) = ca_file {
        command.env("SSL_CERT_FILE", ca);
    }
    let child = command
        .current_dir(dir)
        .args(args)
        .args(["--endpoint", endpoint, "-q"])
        .env("TWILIO_API_KEY", "SKbench")
        .env("TWILIO_API_SECRET", "bench-secret")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("flexform starts");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain FFI call with valid out-pointers; the child has not been waited for.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let wall = started.elapsed();
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    if (code == 1 && !fails) || code == -1 {
        use std::io::Read;
        let mut err = String::new();
        let _ = child.stderr.map(|mut e| e.read_to_string(&mut err));
        panic!("flexform {args:?} failed ({code}): {err}");
    }
    Measure {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        code,
    }
}

fn account(i: usize) -> String {
    format!("AC{i:032x}")
}

fn write_config(dir: &Path, n: usize) {
    let mut text = String::with_capacity(n * 64);
    text.push_str("version: 1\ninstances:\n");
    for i in 0..n {
        text.push_str(&format!("  i{i}:\n    account_sid: {}\n", account(i)));
    }
    std::fs::write(dir.join("flexform.yaml"), text).unwrap();
}

struct Row {
    case: String,
    n: usize,
    /// Requests per instance in the bound (N x this x latency / parallelism).
    per_instance: usize,
    parallelism: usize,
    latency: Duration,
    m: Measure,
    extra: String,
}

fn print_table(rows: &[Row]) {
    println!(
        "\n| case | N | parallelism | latency | wall | bound | ratio | CPU/instance | peak RSS | notes |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in rows {
        let bound = r.latency.as_secs_f64() * (r.n * r.per_instance) as f64 / r.parallelism as f64;
        println!(
            "| {} | {} | {} | {} ms | {:.3} s | {:.3} s | {:.2} | {:.0} µs | {:.1} MiB | {} |",
            r.case,
            r.n,
            r.parallelism,
            r.latency.as_millis(),
            r.m.wall.as_secs_f64(),
            bound,
            r.m.wall.as_secs_f64() / bound,
            r.m.cpu.as_secs_f64() * 1e6 / r.n as f64,
            r.m.max_rss_kib as f64 / 1024.0,
            r.extra
        );
    }
}

/// A test CA and a server certificate for 127.0.0.1 it signed, as PEM files, for the HTTPS
/// case.
struct BenchCa {
    dir: tempfile::TempDir,
}

impl BenchCa {
    fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        Self { dir }
    }

    fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn server(&self) -> sim::TlsFiles {
        sim::TlsFiles {
            cert: self.dir.path().join("server.pem"),
            key: self.dir.path().join("server.key"),
        }
    }
}

/// plan (fresh), apply (saved plan, --no-wait), plan (recorded) for one case; over HTTPS with
/// a test CA when `https` is given, counting the connections (TLS handshakes) of each run.
fn estate_case(
    rt: &tokio::runtime::Runtime,
    n: usize,
    parallelism: usize,
    latency: Duration,
    https: Option<&BenchCa>,
    rows: &mut Vec<Row>,
) {
    let sim = rt
        .block_on(sim::spawn(SimConfig {
            latency,
            ready_after: Duration::ZERO,
            seed: Some(7),
            tls: https.map(BenchCa::server),
            ..SimConfig::default()
        }))
        .unwrap();
    let url = sim.url();
    let ca_file = https.map(BenchCa::ca);
    let ca = ca_file.as_deref();
    let scheme = if https.is_some() { "HTTPS: " } else { "" };
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), n);
    let p = parallelism.to_string();
    // Connections (each one a TLS handshake over HTTPS) opened by one run.
    let connections = |before: u64| {
        let opened = sim.stats().connections - before;
        let verdict = if opened as usize <= parallelism {
            "≤ parallelism"
        } else {
            "MORE than the parallelism"
        };
        format!("{opened} connections ({verdict})")
    };

    let before = sim.stats().connections;
    let fresh = run_with(
        dir.path(),
        &url,
        &[
            "plan",
            "--parallelism",
            &p,
            "--detailed-exitcode",
            "--out",
            "plan.json",
        ],
        ca,
    );
    assert_eq!(fresh.code, 2, "a fresh estate has creates");
    rows.push(Row {
        case: format!("{scheme}plan, fresh estate (N discoveries)"),
        n,
        per_instance: 1,
        parallelism,
        latency,
        m: fresh,
        extra: connections(before),
    });

    let before = sim.stats().connections;
    let apply = run_with(
        dir.path(),
        &url,
        &["apply", "plan.json", "--parallelism", &p, "--no-wait"],
        ca,
    );
    assert_eq!(apply.code, 0);
    assert_eq!(
        sim.stats().creates as usize,
        n,
        "every instance created once"
    );
    rows.push(Row {
        case: format!("{scheme}apply, saved plan (N creates, --no-wait)"),
        n,
        per_instance: 1,
        parallelism,
        latency,
        m: apply,
        extra: connections(before),
    });

    let before = sim.stats().connections;
    let recorded = run_with(
        dir.path(),
        &url,
        &["plan", "--parallelism", &p, "--detailed-exitcode"],
        ca,
    );
    assert_eq!(recorded.code, 0, "nothing left to do");
    rows.push(Row {
        case: format!("{scheme}plan, recorded estate (N GETs)"),
        n,
        per_instance: 1,
        parallelism,
        latency,
        m: recorded,
        extra: connections(before),
    });
    drop(sim);
}

/// The state on S3 (a fresh bucket on `endpoint`): a fresh plan, the apply of it (a pending
/// record before each create's POST and the SID after it, each group of updates one
/// conditional PUT of the whole state), and a plan of the recorded estate; the same on a local
/// file for comparison.
fn s3_case(
    rt: &tokio::runtime::Runtime,
    n: usize,
    parallelism: usize,
    latency: Duration,
    endpoint: &str,
    rows: &mut Vec<Row>,
) {
    let p = parallelism.to_string();
    for on_s3 in [false, true] {
        let sim = rt
            .block_on(sim::spawn(SimConfig {
                latency,
                ready_after: Duration::ZERO,
                seed: Some(7),
                ..SimConfig::default()
            }))
            .unwrap();
        let url = sim.url();
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), n);
        let place = if on_s3 {
            let bucket = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
            let created = rt
                .block_on(
                    reqwest::Client::builder()
                        .no_proxy()
                        .build()
                        .unwrap()
                        .put(format!("{endpoint}/{bucket}"))
                        .send(),
                )
                .unwrap();
            assert!(created.status().is_success(), "creating the bucket");
            let config = std::fs::read_to_string(dir.path().join("flexform.yaml")).unwrap();
            let section = format!(
                "state:\n  backend: s3\n  bucket: {bucket}\n  key: bench/flexform.state.json\n  endpoint: {endpoint}\n"
            );
            std::fs::write(
                dir.path().join("flexform.yaml"),
                config.replacen("version: 1\n", &format!("version: 1\n{section}"), 1),
            )
            .unwrap();
            "S3"
        } else {
            "local file"
        };
        let fresh = run_with(
            dir.path(),
            &url,
            &["plan", "--parallelism", &p, "--out", "plan.json"],
            None,
        );
        assert_eq!(fresh.code, 0, "plan on {place}");
        rows.push(Row {
            case: format!("{place}: plan, fresh estate"),
            n,
            per_instance: 1,
            parallelism,
            latency,
            m: fresh,
            extra: String::new(),
        });
        let before = sim.stats().creates;
        let apply = run_with(
            dir.path(),
            &url,
            &["apply", "plan.json", "--parallelism", &p, "--no-wait"],
            None,
        );
        assert_eq!(apply.code, 0, "apply on {place}");
        assert_eq!((sim.stats().creates - before) as usize, n);
        rows.push(Row {
            case: format!("{place}: apply, saved plan (N creates, --no-wait)"),
            n,
            per_instance: 1,
            parallelism,
            latency,
            m: apply,
            extra: String::new(),
        });
        let recorded = run_with(
            dir.path(),
            &url,
            &["plan", "--parallelism", &p, "--detailed-exitcode"],
            None,
        );
        assert_eq!(recorded.code, 0, "nothing left to do on {place}");
        rows.push(Row {
            case: format!("{place}: plan, recorded estate"),
            n,
            per_instance: 1,
            parallelism,
            latency,
            m: recorded,
            extra: String::new(),
        });
    }
}

/// Configuration as code: N recorded instances that each declare a configuration, so that a
/// plan sends two GETs per instance (the instance, then its configuration). Set up by one
/// apply (create, then configure: GET, POST, GET), which is measured too.
fn configuration_case(
    rt: &tokio::runtime::Runtime,
    n: usize,
    parallelism: usize,
    latency: Duration,
    rows: &mut Vec<Row>,
) {
    let sim = rt
        .block_on(sim::spawn(SimConfig {
            latency,
            ready_after: Duration::ZERO,
            seed: Some(7),
            ..SimConfig::default()
        }))
        .unwrap();
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::with_capacity(n * 200);
    text.push_str("version: 1\ninstances:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  i{i}:\n    account_sid: {}\n    configuration:\n      ui_language: en-GB\n      call_recording_enabled: true\n      ui_attributes:\n        logLevel: debug\n",
            account(i)
        ));
    }
    std::fs::write(dir.path().join("flexform.yaml"), text).unwrap();
    let p = parallelism.to_string();
    let before = sim.stats();
    let apply = run_with(
        dir.path(),
        &url,
        &["apply", "--auto-approve", "--parallelism", &p],
        None,
    );
    assert_eq!(apply.code, 0);
    let after = sim.stats();
    assert_eq!(after.configuration_updates as usize, n, "one POST each");
    rows.push(Row {
        case: "configuration: apply, fresh estate (discover, create, GET + POST + GET)".to_owned(),
        n,
        // The bound counts every request the run sent.
        per_instance: ((after.requests - before.requests) as usize).div_ceil(n),
        parallelism,
        latency,
        m: apply,
        extra: format!(
            "{} requests, {} connections",
            after.requests - before.requests,
            after.connections - before.connections
        ),
    });
    let before = sim.stats();
    let plan = run_with(
        dir.path(),
        &url,
        &["plan", "--parallelism", &p, "--detailed-exitcode"],
        None,
    );
    assert_eq!(plan.code, 0, "nothing left to do");
    let after = sim.stats();
    assert_eq!(
        (after.requests - before.requests) as usize,
        2 * n,
        "two GETs per instance"
    );
    rows.push(Row {
        case: "configuration: plan, recorded estate (2N GETs)".to_owned(),
        n,
        per_instance: 2,
        parallelism,
        latency,
        m: plan,
        extra: format!(
            "{} requests, {} connections",
            after.requests - before.requests,
            after.connections - before.connections
        ),
    });
    drop(sim);
}

/// `flexform.yaml` for the plugins case: N instances, each declaring `plugin-a` 1.0.0 and
/// `plugin-b` at `b_version`.
fn write_plugins_config(dir: &Path, n: usize, b_version: &str) {
    let plugin = |name: &str, version: &str| {
        format!(
            "      {name}:\n        version: \"{version}\"\n        url: https://assets.example.test/{name}/{version}/bundle.js\n"
        )
    };
    let block = format!(
        "    plugins:\n{}{}",
        plugin("plugin-a", "1.0.0"),
        plugin("plugin-b", b_version)
    );
    let mut text = String::with_capacity(n * (block.len() + 64));
    text.push_str("version: 1\ninstances:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  i{i}:\n    account_sid: {}\n{block}",
            account(i)
        ));
    }
    std::fs::write(dir.join("flexform.yaml"), text).unwrap();
}

/// The requests (of which Plugins API ones) and connections the simulator took since `before`.
fn requests_since(sim: &sim::SimHandle, before: &sim::SimStats) -> (u64, u64, String) {
    let now = sim.stats();
    let requests = now.requests - before.requests;
    let plugin_requests = now.plugin_requests - before.plugin_requests;
    let notes = format!(
        "{requests} requests ({plugin_requests} Plugins API), {} connections",
        now.connections - before.connections
    );
    (requests, plugin_requests, notes)
}

/// Flex plugins as code: N instances that each declare two plugins. Set up by one apply
/// (create, then two plugins, two versions, one configuration and one release each), which is
/// measured too; then a plan of the unchanged estate (the instance, the active release and its
/// plugins per instance), and a plan after a version bump of one plugin in every instance
/// (besides: that plugin and its versions). The reads per instance in each bound are those the
/// simulator counted, not assumed.
fn plugins_case(
    rt: &tokio::runtime::Runtime,
    n: usize,
    parallelism: usize,
    latency: Duration,
    rows: &mut Vec<Row>,
) {
    let sim = rt
        .block_on(sim::spawn(SimConfig {
            latency,
            ready_after: Duration::ZERO,
            seed: Some(7),
            ..SimConfig::default()
        }))
        .unwrap();
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    write_plugins_config(dir.path(), n, "1.0.0");
    let p = parallelism.to_string();
    let mut measured = |case: &str, args: &[&str], code: i32| {
        let before = sim.stats();
        let m = run_with(dir.path(), &url, args, None);
        assert_eq!(m.code, code, "{case}: exit {code} expected");
        let (requests, _, extra) = requests_since(&sim, &before);
        rows.push(Row {
            case: format!("plugins: {case}"),
            n,
            per_instance: (requests as usize).div_ceil(n),
            parallelism,
            latency,
            m,
            extra,
        });
    };
    let apply = ["apply", "--auto-approve", "--parallelism", &p];
    measured(
        "apply, fresh estate (create, 2 plugins, 2 versions, 1 release)",
        &apply,
        0,
    );
    let stats = sim.stats();
    assert_eq!(
        (
            stats.plugin_creates,
            stats.version_creates,
            stats.release_creates
        ),
        (2 * n as u64, 2 * n as u64, n as u64),
        "two plugins, two versions and one release per instance"
    );
    let plan = ["plan", "--parallelism", &p, "--detailed-exitcode"];
    measured("plan, unchanged estate", &plan, 0);
    write_plugins_config(dir.path(), n, "1.1.0");
    measured("plan, one version bump per instance", &plan, 2);
    let now = sim.stats();
    assert_eq!(
        (
            now.version_creates,
            now.configuration_creates,
            now.release_creates
        ),
        (
            stats.version_creates,
            stats.configuration_creates,
            stats.release_creates
        ),
        "a plan sends no POST"
    );
    drop(sim);
}

/// Observation of N fresh accounts against a rate-limited simulator, adaptive concurrency on
/// and off: how many 429s each draws, and how long each takes.
fn rate_limit_case(rt: &tokio::runtime::Runtime, n: usize, parallelism: usize, rate: f64) {
    println!("\nRate-limit case: N = {n}, parallelism {parallelism}, simulator --rate-limit {rate} rps, latency 20 ms");
    println!("| concurrency | wall | 429s received | retries | requests sent | final limit |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for adaptive in [false, true] {
        let sim = rt
            .block_on(sim::spawn(SimConfig {
                latency: Duration::from_millis(20),
                rate_limit: Some(rate),
                seed: Some(3),
                ..SimConfig::default()
            }))
            .unwrap();
        let mut text = String::from("version: 1\ninstances:\n");
        for i in 0..n {
            text.push_str(&format!("  i{i}:\n    account_sid: {}\n", account(i)));
        }
        let config = Config::parse(&text).unwrap();
        let credentials = config
            .instances
            .keys()
            .map(|name| {
                (
                    name.clone(),
                    Credentials {
                        username: "SKbench".into(),
                        password: Secret::new("s"),
                        source: "bench".into(),
                    },
                )
            })
            .collect();
        let client = FlexClient::new(ClientConfig {
            max_in_flight: parallelism,
            adaptive,
            retry: flexform::client::RetryPolicy {
                max_attempts: 20,
                ..Default::default()
            },
            ..ClientConfig::new(sim.url())
        })
        .unwrap();
        let started = Instant::now();
        let observed = rt.block_on(flexform::observe::observe(
            &client,
            &config,
            &State::empty(),
            &credentials,
            parallelism,
            &flexform::observe::Clocks::local(),
            &|| {},
        ));
        let wall = started.elapsed();
        let failed = observed
            .instances
            .values()
            .filter(|o| matches!(o, flexform::observe::Observation::Failed(_)))
            .count();
        let stats = client.stats();
        use std::sync::atomic::Ordering::Relaxed;
        println!(
            "| {} | {:.2} s | {} | {} | {} | {} |{}",
            if adaptive { "adaptive (AIMD)" } else { "fixed" },
            wall.as_secs_f64(),
            stats.rate_limited.load(Relaxed),
            stats.retries.load(Relaxed),
            stats.requests.load(Relaxed),
            client.limiter().current_limit(),
            if failed > 0 {
                format!(" {failed} failed")
            } else {
                String::new()
            }
        );
        drop(sim);
    }
}

/// Ambiguous answers (issue 25): N = 50 instances with 50% of create POSTs answered 503
/// (Twilio 20503, nothing created), latency 20 ms, default settle period and budget: one apply
/// must converge with exactly N instances; its wall time is printed next to the ideal (the
/// same apply with no 503). Then one instance whose every create is answered with a
/// gateway's HTML 502: the time to exit 1. Targets: under 30 s and under 60 s.
fn ambiguous_case(rt: &tokio::runtime::Runtime, seeds: &[u64]) {
    let n = 50;
    let latency = Duration::from_millis(20);
    println!("\nAmbiguous answers: N = {n}, 50% of creates answered 503, latency 20 ms, parallelism 10, settle 5 s");
    println!("| case | seed | exit | instances | create POSTs | 503s | wall | ideal (no 503) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let apply =
        |url: &str, dir: &Path| run_with(dir, url, &["apply", "--auto-approve", "--no-wait"], None);
    let ideal = {
        let sim = rt
            .block_on(sim::spawn(SimConfig {
                latency,
                ready_after: Duration::ZERO,
                ..SimConfig::default()
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), n);
        apply(&sim.url(), dir.path()).wall
    };
    for &seed in seeds {
        let sim = rt
            .block_on(sim::spawn(SimConfig {
                latency,
                ready_after: Duration::ZERO,
                create_fail_rate: 0.5,
                seed: Some(seed),
                ..SimConfig::default()
            }))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_config(dir.path(), n);
        let m = apply(&sim.url(), dir.path());
        let instances = sim.instances();
        let accounts: std::collections::BTreeSet<_> =
            instances.iter().map(|i| i.account_sid.clone()).collect();
        let stats = sim.stats();
        println!(
            "| 50% answered 503 | {seed} | {} | {}{} | {} | {} | {:.1} s | {:.2} s |",
            m.code,
            instances.len(),
            if accounts.len() == instances.len() && instances.len() == n {
                " (one per account)"
            } else {
                " (NOT one per account)"
            },
            stats.create_requests,
            stats.failed,
            m.wall.as_secs_f64(),
            ideal.as_secs_f64(),
        );
    }
    let sim = rt
        .block_on(sim::spawn(SimConfig {
            latency,
            ready_after: Duration::ZERO,
            ..SimConfig::default()
        }))
        .unwrap();
    sim.set_faults(flexform::sim::Faults {
        create_gateway_error: true,
        ..flexform::sim::Faults::default()
    });
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), 1);
    let m = run_expecting(
        dir.path(),
        &sim.url(),
        &["apply", "--auto-approve", "--no-wait"],
        None,
        true,
    );
    println!(
        "| every create an HTML 502 | - | {} | {} | {} | {} | {:.1} s to exit 1 | - |",
        m.code,
        sim.instances().len(),
        sim.stats().create_requests,
        sim.stats().failed,
        m.wall.as_secs_f64()
    );
}

/// The plugins case at each size and parallelism: N = 1,000 (a small one under `BENCH_QUICK`).
fn plugins_cases(
    rt: &tokio::runtime::Runtime,
    quick: bool,
    latency: Duration,
    rows: &mut Vec<Row>,
) {
    let cases: &[(usize, usize)] = if quick {
        &[(200, 20)]
    } else {
        &[(1_000, 10), (1_000, 100)]
    };
    for &(n, parallelism) in cases {
        eprintln!("running with plugins: N = {n}, parallelism {parallelism}…");
        plugins_case(rt, n, parallelism, latency, rows);
    }
}

/// validate of a large configuration, and state load + save, timed in-process.
fn micro(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), n);
    let started = Instant::now();
    let loaded = Config::load(&dir.path().join("flexform.yaml")).unwrap();
    let validate = started.elapsed();
    let mut state = State::empty();
    for (name, spec) in &loaded.config.instances {
        state.instances.insert(
            name.clone(),
            flexform::state::InstanceRecord {
                account_sid: spec.account_sid.clone(),
                conversations_default: None,
                date_created: Some("2026-11-24T00:00:00Z".into()),
                date_updated: Some("2026-11-24T00:00:00Z".into()),
                flex_instance_sid: flexform::config::sid::InstanceSid::parse(&format!(
                    "GO{:032x}",
                    name.len()
                ))
                .unwrap(),
                observed_at: Some("2026-11-24T00:00:00Z".into()),
                origin: flexform::state::Origin::Created,
                status: flexform::client::InstanceStatus::Ready,
                configuration: None,
                plugins: None,
            },
        );
    }
    let path = dir.path().join("s.json");
    std::fs::write(&path, state.to_bytes()).unwrap();
    let started = Instant::now();
    let loaded_state = State::load(&path).unwrap().unwrap();
    flexform::support::fs::write_atomic(&path, &loaded_state.to_bytes(), Some(0o600)).unwrap();
    let load_save = started.elapsed();
    println!(
        "\nIn-process, N = {n}: validate {:.1} ms (target < 200 ms); state load + durable save {:.1} ms (target < 100 ms); state file {:.1} MiB",
        validate.as_secs_f64() * 1e3,
        load_save.as_secs_f64() * 1e3,
        std::fs::metadata(&path).unwrap().len() as f64 / 1048576.0
    );
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| v != "0");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `BENCH_ONLY=ambiguous`: that case alone, with every seed.
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "ambiguous") {
        ambiguous_case(&rt, &[1, 2, 3, 4, 5, 6, 7, 8]);
        return;
    }
    let latency = Duration::from_millis(20);
    let mut rows = Vec::new();
    // `BENCH_ONLY=estate`: the plain HTTP cases at N = 10,000 alone (to compare two builds).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "estate") {
        for parallelism in [100, 10] {
            eprintln!("running N = 10000, parallelism {parallelism}…");
            estate_case(&rt, 10_000, parallelism, latency, None, &mut rows);
        }
        print_table(&rows);
        return;
    }
    // `BENCH_ONLY=s3`: the state on S3 beside a local file (N = 1,000, or 200 quick).
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "s3") {
        let Ok(endpoint) = std::env::var("FLEXFORM_TEST_S3_ENDPOINT") else {
            eprintln!("skipped: FLEXFORM_TEST_S3_ENDPOINT names no S3 server");
            return;
        };
        for (name, value) in [
            ("AWS_ACCESS_KEY_ID", "AKIABENCH"),
            ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ] {
            std::env::set_var(name, value);
        }
        let n = if quick { 200 } else { 1_000 };
        for parallelism in [10, 100] {
            eprintln!("running on S3: N = {n}, parallelism {parallelism}…");
            s3_case(&rt, n, parallelism, latency, &endpoint, &mut rows);
        }
        print_table(&rows);
        return;
    }
    // `BENCH_ONLY=plugins`: the plugins cases alone.
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "plugins") {
        plugins_cases(&rt, quick, latency, &mut rows);
        print_table(&rows);
        return;
    }
    let cases: &[(usize, usize)] = if quick {
        &[(200, 20)]
    } else {
        &[(1_000, 10), (1_000, 100), (10_000, 10), (10_000, 100)]
    };
    for &(n, parallelism) in cases {
        eprintln!("running N = {n}, parallelism {parallelism}…");
        estate_case(&rt, n, parallelism, latency, None, &mut rows);
    }
    // Twilio is HTTPS-only: the same over TLS, with a test CA.
    let ca = BenchCa::new();
    let https_cases: &[(usize, usize)] = if quick {
        &[(200, 20)]
    } else {
        &[(1_000, 100), (10_000, 100)]
    };
    for &(n, parallelism) in https_cases {
        eprintln!("running over HTTPS: N = {n}, parallelism {parallelism}…");
        estate_case(&rt, n, parallelism, latency, Some(&ca), &mut rows);
    }
    // Configuration as code: two GETs per instance.
    let configuration_cases: &[(usize, usize)] = if quick {
        &[(200, 20)]
    } else {
        &[(1_000, 10), (1_000, 100)]
    };
    for &(n, parallelism) in configuration_cases {
        eprintln!("running with configuration: N = {n}, parallelism {parallelism}…");
        configuration_case(&rt, n, parallelism, latency, &mut rows);
    }
    plugins_cases(&rt, quick, latency, &mut rows);
    print_table(&rows);
    micro(if quick { 1_000 } else { 10_000 });
    if quick {
        rate_limit_case(&rt, 300, 20, 50.0);
    } else {
        rate_limit_case(&rt, 2_000, 100, 200.0);
    }
    ambiguous_case(
        &rt,
        if quick {
            &[1]
        } else {
            &[1, 2, 3, 4, 5, 6, 7, 8]
        },
    );
}
