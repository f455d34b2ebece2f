//! Faults of the EC2 endpoint while the real server answers reviews: killed mid-run,
//! answering 500, answering slowly. Answers stay those of the last good table, a
//! warning says the data is stale, the refresh-error metric counts it, and readiness
//! is unaffected.

use crate::common;

use common::{
    ANSWER_500, HEALTHY, SLOW, TestServer, ensure_placement_group, eventually, fixture, policy,
    sdk_config_with_timeout, switchable_endpoint,
};
use machine_efa_webhook::capabilities::{
    CapabilityStore, RefreshSettings, snapshot, spawn_refresher,
};
use machine_efa_webhook::core::SourceKind;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

async fn validate(server: &TestServer, name: &str) -> Value {
    let body = serde_json::to_vec(&fixture(name)).unwrap();
    let response = server
        .client(true)
        .post(server.url("/validate"))
        .body(body)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["response"].clone()
}

/// Loads us-east-1 through the endpoint, breaks it with `fault`, and checks what a
/// user and an operator see.
async fn survive(
    fault: &str,
    break_it: impl FnOnce(&Arc<AtomicU8>, &tokio::task::JoinHandle<()>),
    error_kind: &str,
) {
    // The p4d fixture's placement group, as its cluster would have made it.
    ensure_placement_group("us-east-1", "prod-7x2kq-efa-p4d-cluster", "cluster").await;
    let mode = Arc::new(AtomicU8::new(HEALTHY));
    let (endpoint, endpoint_task) = switchable_endpoint(mode.clone()).await;
    let (store, requests) = CapabilityStore::refreshed(snapshot::embedded_table());
    let store = Arc::new(store);
    let server = TestServer::start(policy(), store.clone()).await;
    let settings = RefreshSettings {
        interval: Duration::from_secs(2),
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        stale_after: Duration::ZERO,
        ..RefreshSettings::with_interval(Duration::from_secs(60))
    };
    let sdk = sdk_config_with_timeout(&endpoint, Duration::from_secs(10)).await;
    let refresher = spawn_refresher(
        store.clone(),
        sdk,
        vec!["us-east-1".into()],
        settings,
        requests,
        server.state.metrics.clone(),
    );
    eventually("us-east-1 from EC2", async || {
        let table = store.current();
        table.regions["us-east-1"].provenance.source == SourceKind::Ec2
            && table.zone_names.contains_key("us-east-1")
            && table.placement_groups.contains_key("us-east-1")
    })
    .await;
    let denied_before = validate(&server, "machineset-create-efa-m5.json").await;
    assert_eq!(denied_before["allowed"], false);
    let zone_denied_before = validate(&server, "machineset-create-efa-p4d-us-east-1e.json").await;
    assert_eq!(zone_denied_before["allowed"], false, "{zone_denied_before}");

    break_it(&mode, &endpoint_task);
    let counted = format!(
        r#"machine_efa_webhook_capability_refreshes_total{{kind="instance_types",result="{error_kind}"}}"#
    );
    eventually(&format!("{fault}: {counted}"), async || {
        server.state.metrics.encode().contains(&counted)
    })
    .await;
    eventually(&format!("{fault}: the stale-data warning"), async || {
        validate(&server, "machineset-create-efa-p4d.json").await["warnings"]
            .to_string()
            .contains("capability data for us-east-1 is from the EC2 of")
    })
    .await;

    // Answers are those of the last good table; readiness is unaffected.
    let allowed = validate(&server, "machineset-create-efa-p4d.json").await;
    assert_eq!(allowed["allowed"], true, "{fault}: {allowed}");
    assert!(
        allowed["warnings"]
            .to_string()
            .contains("refreshing from EC2 failed at"),
        "{fault}: {allowed}"
    );
    let denied = validate(&server, "machineset-create-efa-m5.json").await;
    assert_eq!(
        denied["status"]["message"], denied_before["status"]["message"],
        "{fault}"
    );
    // This account's zone names, too, are the last ones read.
    let zone_denied = validate(&server, "machineset-create-efa-p4d-us-east-1e.json").await;
    assert_eq!(
        zone_denied["status"]["message"], zone_denied_before["status"]["message"],
        "{fault}"
    );
    let ready = server
        .client(true)
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "{fault}");

    refresher.abort();
    endpoint_task.abort();
    server.stop().await;
}

#[tokio::test]
async fn ec2_killed_mid_run() {
    survive("killed", |_, task| task.abort(), "network").await;
}

#[tokio::test]
async fn ec2_answering_500() {
    survive(
        "answering 500",
        |mode, _| mode.store(ANSWER_500, Ordering::SeqCst),
        "other",
    )
    .await;
}

#[tokio::test]
async fn ec2_answering_slowly() {
    survive(
        "answering slowly",
        |mode, _| mode.store(SLOW, Ordering::SeqCst),
        "network",
    )
    .await;
}
