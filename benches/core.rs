//! The pure decision on realistic MachineSet reviews, the whole review as the server
//! answers it (parse, decide, encode; and with its log line), and the parse alone.
//! `cargo bench --bench core` runs it; `bench/report.py` puts the figures in
//! BENCHMARKS.md.

use criterion::{Criterion, criterion_group};
use machine_efa_webhook::admission::{Endpoint, Webhook, prune};
use machine_efa_webhook::capabilities::{CapabilityStore, snapshot};
use machine_efa_webhook::core::{
    self, CapabilityTable, Operation, Policy, Spelling, UnknownInstanceType,
};
use serde_json::Value;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

/// The server's allocator, so that the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

fn benches(c: &mut Criterion) {
    let policy = Policy {
        spelling: Spelling::OpenShift,
        unknown_instance_type: UnknownInstanceType::Warn,
        default_region: "us-east-1".into(),
    };
    let table = snapshot::embedded_table();
    let webhook = Webhook::new(
        policy.clone(),
        Arc::new(CapabilityStore::fixed(table.clone())),
    );
    for (label, file, endpoint) in CASES {
        let body = fixture(file);
        let review: Value = serde_json::from_slice(&body).unwrap();
        c.bench_function(&format!("core/{label}"), |b| {
            b.iter(|| decide(endpoint, black_box(&review), &policy, &table))
        });
        c.bench_function(&format!("review/{label}"), |b| {
            b.iter(|| webhook.answer(endpoint, black_box(&body)).unwrap())
        });
    }
    // As served: each review with its log line in the Deployment's JSON format, written
    // to a sink. While a subscriber is set, reviews build their log fields.
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
}

criterion_group!(core_benches, benches);

fn main() {
    core_benches();
    Criterion::default().configure_from_args().final_summary();
}
