//! The launch checks through the real server over HTTPS, with the capability source on
//! live EC2 (moto, started by `make test`): a zone that does not offer the type, a
//! placement group that does not exist, an EFA security group without its rule; the
//! first review of something not yet known answered at once from what is known, a later
//! one precisely; and answers that stay fast while EC2 is slow.

use crate::common;

use common::{
    SLOW, TestServer, embedded_store, ensure_placement_group, eventually, fixture, moto_endpoint,
    policy, sdk_config_with_timeout, security_group, switchable_endpoint, warnings,
};
use machine_efa_webhook::admission::Webhook;
use machine_efa_webhook::capabilities::{
    CapabilityStore, RefreshSettings, snapshot, spawn_refresher,
};
use machine_efa_webhook::core::{CapabilityTable, SourceKind};
use machine_efa_webhook::metrics::Metrics;
use machine_efa_webhook::server::AppState;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

const PROVIDER_SPEC: &str = "/request/object/spec/template/spec/providerSpec/value";

/// The server on a store kept from EC2 at `endpoint` (us-east-1 loaded at start), with
/// a placement-group list read again a second after a miss.
async fn live_server(endpoint: &str) -> (TestServer, Arc<CapabilityStore>) {
    let metrics = Arc::new(Metrics::default());
    let (store, loads) = CapabilityStore::refreshed(snapshot::embedded_table());
    let store = Arc::new(store.with_metrics(metrics.clone()));
    let webhook = Webhook::new(policy(), store.clone());
    let server = TestServer::start_state(AppState::new(webhook, metrics)).await;
    let settings = RefreshSettings {
        reread_after: Duration::from_secs(1),
        ..RefreshSettings::with_interval(Duration::from_secs(3600))
    };
    let sdk = sdk_config_with_timeout(endpoint, Duration::from_secs(60)).await;
    let refresher = spawn_refresher(
        store.clone(),
        sdk,
        vec!["us-east-1".into()],
        settings,
        loads,
        server.state.metrics.clone(),
    );
    // The refresher ends with the runtime of the test.
    drop(refresher);
    (server, store)
}

async fn us_east_1_loaded(store: &CapabilityStore) {
    eventually("us-east-1 from EC2", async || {
        let table: Arc<CapabilityTable> = store.current();
        table.regions["us-east-1"].provenance.source == SourceKind::Ec2
            && table.zone_names.contains_key("us-east-1")
            && table.placement_groups.contains_key("us-east-1")
    })
    .await;
}

/// `/validate`'s answer to `review` over HTTP/2, and how long it took.
async fn validate(server: &TestServer, review: &Value) -> (Value, Duration) {
    let started = Instant::now();
    let response = server
        .client(true)
        .post(server.url("/validate?timeout=10s"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(review).unwrap())
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let answer = serde_json::from_str::<Value>(&text).unwrap()["response"].clone();
    (answer, started.elapsed())
}

/// The p4d MachineSet with its provider config's `field` set to `value`.
fn with(mut review: Value, field: &str, value: Value) -> Value {
    *review
        .pointer_mut(&format!("{PROVIDER_SPEC}/{field}"))
        .unwrap() = value;
    review
}

#[tokio::test]
async fn a_zone_that_does_not_offer_the_type_is_denied_from_this_accounts_zone_names() {
    let (server, store) = live_server(&moto_endpoint()).await;
    us_east_1_loaded(&store).await;
    let (answer, _) = validate(
        &server,
        &fixture("machineset-create-efa-p4d-us-east-1e.json"),
    )
    .await;
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 403);
    assert_eq!(
        answer["status"]["message"],
        r#"spec.template.spec.providerSpec.value.placement.availabilityZone: Invalid value: "us-east-1e": instance type p4d.24xlarge is not offered in us-east-1e (use1-az3); offered in: us-east-1a, us-east-1b, us-east-1c, us-east-1d"#
    );
    assert_eq!(
        answer["status"]["details"]["causes"][0]["field"],
        "spec.template.spec.providerSpec.value.placement.availabilityZone"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_embedded_snapshot_names_the_zones_by_id_and_asks_for_live_data() {
    let server = TestServer::start(policy(), embedded_store()).await;
    let (answer, _) = validate(
        &server,
        &fixture("machineset-create-efa-p4d-us-east-1e.json"),
    )
    .await;
    assert_eq!(answer["allowed"], true, "{answer}");
    let said = warnings(&answer);
    assert!(
        said.contains(r#"instance type p4d.24xlarge is offered in 4 of the 6 zones of us-east-1 (by zone ID: use1-az1, use1-az2, use1-az4, use1-az6); whether "us-east-1e" is one of them needs this account's zone names: --capabilities ec2"#),
        "{said}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_placement_group_that_does_not_exist_is_denied_and_one_made_since_is_found() {
    let (server, store) = live_server(&moto_endpoint()).await;
    us_east_1_loaded(&store).await;
    let group = "launch-test-late-group";
    let review = with(
        fixture("machineset-create-efa-p4d.json"),
        "placementGroupName",
        json!(group),
    );
    let (answer, _) = validate(&server, &review).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    let message = answer["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            r#"spec.template.spec.providerSpec.value.placementGroupName: Invalid value: "{group}": there is no placement group {group} in us-east-1 (EC2 of "#
        )),
        "{message}"
    );
    // Made now, it is found once the list is read again, which the miss asked for.
    ensure_placement_group("us-east-1", group, "spread").await;
    eventually("the new group", async || {
        validate(&server, &review).await.0["allowed"] == true
    })
    .await;
    let (answer, _) = validate(&server, &review).await;
    assert!(
        warnings(&answer).contains(&format!(
            r#"placement group "{group}" has strategy spread: EFA's low latency needs the instances close together, in a cluster placement group"#
        )),
        "{answer}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_security_group_without_the_efa_rule_is_named_once_it_is_resolved() {
    let name = "launch-test-worker-sg";
    let id = security_group("us-east-1", name, false, false).await;
    ensure_placement_group("us-east-1", "prod-7x2kq-efa-p4d-cluster", "cluster").await;
    let (server, store) = live_server(&moto_endpoint()).await;
    us_east_1_loaded(&store).await;
    let review = with(
        fixture("machineset-create-efa-p4d.json"),
        "securityGroups",
        json!([{"filters": [{"name": "tag:Name", "values": [name]}]}]),
    );
    // Not resolved yet: answered at once, with the generic reminder.
    let (first, _) = validate(&server, &review).await;
    assert_eq!(first["allowed"], true, "{first}");
    assert!(
        warnings(&first).contains(r#"EFA on "p4d.24xlarge" needs a security group that allows all traffic between its members"#),
        "{first}"
    );
    // Resolved in the background: a later answer names the group and what it lacks.
    let precise = format!(
        "EFA traffic between these machines will be dropped: security group {id} ({name}) has no inbound rule allowing all traffic from itself and no outbound rule allowing all traffic to itself"
    );
    eventually("the group resolved", async || {
        warnings(&validate(&server, &review).await.0).contains(&precise)
    })
    .await;
    let metrics = server.state.metrics.encode();
    assert!(
        metrics.contains(
            r#"machine_efa_webhook_capability_lookups_total{kind="security_groups",result="miss"}"#
        ) && metrics.contains(
            r#"machine_efa_webhook_capability_lookups_total{kind="security_groups",result="hit"}"#
        ),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn answers_stay_fast_while_ec2_is_slow() {
    let mode = Arc::new(AtomicU8::new(SLOW));
    let (endpoint, endpoint_task) = switchable_endpoint(mode.clone()).await;
    // Every load hangs for 30 s: the region, the zone names, the placement groups, and
    // each security group a review names.
    let (server, _store) = live_server(&endpoint).await;
    let mut slowest = Duration::ZERO;
    for n in 0..20 {
        let review = with(
            fixture("machineset-create-efa-p4d-us-east-1e.json"),
            "securityGroups",
            json!([{"id": format!("sg-0slow{n:012}")}]),
        );
        let (answer, took) = validate(&server, &review).await;
        assert_eq!(answer["allowed"], true, "{answer}");
        slowest = slowest.max(took);
    }
    // Each answer came from memory: far inside the API server's timeout, and nowhere
    // near the 30 s each EC2 call takes.
    assert!(
        slowest < Duration::from_secs(2),
        "slowest answer {slowest:?}"
    );
    mode.store(SLOW, Ordering::SeqCst);
    endpoint_task.abort();
    server.stop().await;
}
