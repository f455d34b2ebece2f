//! The pure decision on realistic MachineSet reviews, the whole review as the server
//! answers it (parse, decide, encode; and with its log line), and the parse alone: time
//! per review from criterion, and heap allocations per review from a counting global
//! allocator.
//!
//! `cargo bench --bench core` runs it; the allocation counts are written to
//! `target/bench/allocations.json` for `bench/run.py` to put in BENCHMARKS.md.

use criterion::{Criterion, criterion_group};
use machine_efa_webhook::admission::{Endpoint, Webhook, prune};
use machine_efa_webhook::capabilities::{CapabilityStore, snapshot};
use machine_efa_webhook::core::{
    self, CapabilityTable, Operation, Policy, Spelling, UnknownInstanceType,
};
use serde_json::Value;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The reviews measured: (label, fixture, endpoint).
const CASES: [(&str, &str, Endpoint); 3] = [
    (
        "efa_allowed",
        "machineset-create-efa-p4d.json",
        Endpoint::Validate,
    ),
    (
        "efa_denied_with_suggestions",
        "machineset-create-efa-m5.json",
        Endpoint::Validate,
    ),
    (
        "defaulting",
        "machineset-create-default.json",
        Endpoint::Mutate,
    ),
];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

fn policy() -> Policy {
    Policy {
        spelling: Spelling::OpenShift,
        unknown_instance_type: UnknownInstanceType::Warn,
        default_region: "us-east-1".into(),
    }
}

/// The core's decision on an already-parsed review.
fn decide(
    endpoint: Endpoint,
    review: &Value,
    policy: &Policy,
    table: &CapabilityTable,
) -> core::Decision {
    let request = &review["request"];
    let kind = &request["kind"];
    let request = core::Request {
        group: kind["group"].as_str().unwrap(),
        version: kind["version"].as_str().unwrap(),
        kind: kind["kind"].as_str().unwrap(),
        operation: Operation::Create,
        object: request.get("object"),
        old_object: None,
        cluster_region: None,
    };
    match endpoint {
        Endpoint::Mutate => core::mutate(&request, policy),
        Endpoint::Validate => core::validate(&request, policy, table),
    }
}

fn allocations(mut run: impl FnMut()) -> (usize, usize) {
    run(); // warm: lazily built state is not the review's cost
    let region = Region::new(ALLOCATOR);
    run();
    let stats = region.change();
    (
        stats.allocations + stats.reallocations,
        stats.bytes_allocated,
    )
}

fn benches(c: &mut Criterion) {
    let policy = policy();
    let table = snapshot::embedded_table();
    let webhook = Webhook::new(
        policy.clone(),
        Arc::new(CapabilityStore::fixed(table.clone())),
    );
    let mut counts = serde_json::Map::new();
    for (label, file, endpoint) in CASES {
        let body = fixture(file);
        let review: Value = serde_json::from_slice(&body).unwrap();
        c.bench_function(&format!("core/{label}"), |b| {
            b.iter(|| decide(endpoint, black_box(&review), &policy, &table))
        });
        c.bench_function(&format!("review/{label}"), |b| {
            b.iter(|| webhook.answer(endpoint, black_box(&body)).unwrap())
        });
        let (core_allocs, core_bytes) = allocations(|| {
            black_box(decide(endpoint, &review, &policy, &table));
        });
        let (review_allocs, review_bytes) = allocations(|| {
            black_box(webhook.answer(endpoint, &body).unwrap());
        });
        counts.insert(
            label.to_owned(),
            serde_json::json!({
                "fixture": file,
                "body_bytes": body.len(),
                "core": {"allocations": core_allocs, "bytes": core_bytes},
                "review": {"allocations": review_allocs, "bytes": review_bytes},
            }),
        );
    }
    // As served: each review with its admission log line, in the Deployment's JSON
    // format, written to a sink. After the counts above: while a subscriber is set,
    // reviews build their log fields.
    let logging = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(std::io::sink)
        .json()
        .flatten_event(true)
        .finish();
    tracing::subscriber::with_default(logging, || {
        for (label, file, endpoint) in CASES {
            let body = fixture(file);
            c.bench_function(&format!("logged/{label}"), |b| {
                b.iter(|| webhook.answer(endpoint, black_box(&body)).unwrap())
            });
        }
    });
    // The pruned parse alone, on the denial's review in the forms it arrives in.
    let indented = fixture("machineset-create-efa-m5.json");
    let compact = serde_json::to_vec(&serde_json::from_slice::<Value>(&indented).unwrap()).unwrap();
    let applied = fixture("machineset-create-efa-m5-applied.json");
    for (label, body) in [
        ("indented", &indented),
        ("compact", &compact),
        ("applied", &applied),
    ] {
        c.bench_function(&format!("parse/{label}"), |b| {
            b.iter(|| prune::review_from_slice(black_box(body)).unwrap())
        });
    }
    c.bench_function("table/embedded_parse", |b| b.iter(snapshot::embedded_table));
    // `cargo test --all-targets` runs each bench once as a smoke test: its counts, from
    // a debug build, are not the ones to report.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("allocations.json"),
        serde_json::to_string_pretty(&Value::Object(counts)).unwrap(),
    )
    .unwrap();
}

criterion_group!(core_benches, benches);

fn main() {
    core_benches();
    Criterion::default().configure_from_args().final_summary();
}
