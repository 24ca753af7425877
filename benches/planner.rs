//! Criterion micro-benchmarks: the pure planner, and state load/save, at 10,000 instances.

use std::collections::BTreeMap;

use criterion::{criterion_group, criterion_main, Criterion};
use flexform::client::{Fetched, Instance, InstanceStatus};
use flexform::config::sid::{AccountSid, InstanceSid};
use flexform::config::Config;
use flexform::observe::Observation;
use flexform::plan::plan;
use flexform::state::{InstanceRecord, Origin, State};

const N: usize = 10_000;

fn inputs() -> (Config, State, BTreeMap<String, Observation>) {
    let mut text = String::from("version: 1\ninstances:\n");
    for i in 0..N {
        text.push_str(&format!("  i{i}:\n    account_sid: AC{i:032x}\n"));
    }
    let config = Config::parse(&text).unwrap();
    let mut state = State::empty();
    let mut observed = BTreeMap::new();
    for (i, (name, spec)) in config.instances.iter().enumerate() {
        let sid = InstanceSid::parse(&format!("GO{i:032x}")).unwrap();
        state.instances.insert(
            name.clone(),
            InstanceRecord {
                account_sid: spec.account_sid.clone(),
                conversations_default: None,
                date_created: None,
                date_updated: None,
                flex_instance_sid: sid.clone(),
                observed_at: None,
                origin: Origin::Created,
                status: InstanceStatus::Ready,
                configuration: None,
                plugins: None,
            },
        );
        observed.insert(
            name.clone(),
            Observation::Fetched(Fetched::Found(Instance {
                flex_instance_sid: sid,
                account_sid: AccountSid::parse(spec.account_sid.as_str()).unwrap(),
                status: if i % 10 == 0 {
                    InstanceStatus::CreationFailed
                } else {
                    InstanceStatus::Ready
                },
                date_created: None,
                date_updated: None,
            })),
        );
    }
    (config, state, observed)
}

fn bench(c: &mut Criterion) {
    let (config, state, observed) = inputs();
    c.bench_function("plan 10k instances", |b| {
        b.iter(|| plan(&config, &state, &observed))
    });
    let bytes = state.to_bytes();
    let path = std::path::Path::new("state.json");
    c.bench_function("state parse 10k", |b| {
        b.iter(|| State::from_bytes(path, &bytes).unwrap())
    });
    c.bench_function("state serialize 10k", |b| b.iter(|| state.to_bytes()));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
