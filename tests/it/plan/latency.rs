//! The latency figure of issue 4: a plan over 1,000 recorded instances against a simulator at
//! 20 ms a request, printed (not asserted).

use std::time::{Duration, Instant};

use flexform::sim::SimConfig;
use serde_json::Value;

use super::support::{record, with_sim, write_state, NO_CHANGES};
use crate::common::{account, ConfigBuilder};

/// Issue 4: with the simulator at 20 ms latency, a plan over 1,000 recorded instances at
/// `--parallelism 50` should take under 2x the bound 1,000 x 20 ms / 50 = 0.4 s. Timing asserts
/// flake, so the figure is printed (run with `--nocapture`), not asserted.
#[tokio::test(flavor = "multi_thread")]
async fn plan_over_1000_recorded_instances_at_20ms_latency() {
    const N: u32 = 1000;
    const LATENCY: Duration = Duration::from_millis(20);
    const PARALLELISM: u32 = 50;
    let t = with_sim(SimConfig {
        ready_after: Duration::ZERO,
        latency: LATENCY,
        ..SimConfig::default()
    })
    .await;
    let accounts: Vec<String> = (1..=N).map(|i| account(0x1000 + i)).collect();
    let sids: Vec<String> = {
        use futures::StreamExt;
        let creates = accounts.iter().map(|a| t.create_directly(a, None));
        futures::stream::iter(creates).buffered(100).collect().await
    };
    let mut config = ConfigBuilder::new();
    let mut records = Vec::new();
    for (i, (a, sid)) in accounts.iter().zip(&sids).enumerate() {
        config = config.instance(&format!("i{i:04}"), a);
        records.push((format!("i{i:04}"), record(a, sid, "ready", "created", None)));
    }
    t.write_config(&config);
    let refs: Vec<(&str, Value)> = records
        .iter()
        .map(|(n, r)| (n.as_str(), r.clone()))
        .collect();
    write_state(&t, &refs);
    let before = t.stats();

    let parallelism = PARALLELISM.to_string();
    let url = t.sim().url();
    let args = [
        "plan",
        "--endpoint",
        &url,
        "--parallelism",
        &parallelism,
        "--detailed-exitcode",
    ];
    let started = Instant::now();
    let r = t.run_read_only(&args).await;
    let wall = started.elapsed();
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(r.stdout, format!("{NO_CHANGES}\n"));
    let after = t.stats();
    assert_eq!(
        after.gets - before.gets,
        u64::from(N),
        "one GET per instance"
    );
    assert_eq!(after.create_requests, before.create_requests);

    let bound = LATENCY * N / PARALLELISM;
    println!(
        "plan over {N} recorded instances, simulator latency {} ms, --parallelism {PARALLELISM}: \
         {:.3} s wall (process included); bound {:.3} s; ratio {:.2}x (target < 2x){}",
        LATENCY.as_millis(),
        wall.as_secs_f64(),
        bound.as_secs_f64(),
        wall.as_secs_f64() / bound.as_secs_f64(),
        if cfg!(debug_assertions) {
            " [debug build]"
        } else {
            " [release build]"
        }
    );
}
