//! Faults of the EC2 endpoint while the real server answers reviews: killed mid-run,
//! answering 500, answering slowly. Answers stay those of the last good table, a
//! warning says the data is stale, the refresh-error metric counts it, and readiness
//! is unaffected.

mod common;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use common::{TestServer, fixture, moto_endpoint, policy, sdk_config_with_timeout};
use machine_efa_webhook::capabilities::{
    CapabilityStore, RefreshSettings, snapshot, spawn_refresher,
};
use machine_efa_webhook::core::SourceKind;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

const HEALTHY: u8 = 0;
const ANSWER_500: u8 = 1;
const SLOW: u8 = 2;

/// A loopback stand-in for EC2 that forwards to moto while healthy and misbehaves on
/// demand; aborting its task kills it.
async fn switchable_endpoint(mode: Arc<AtomicU8>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let (mode, client) = (mode.clone(), client.clone());
        async move {
            match mode.load(Ordering::SeqCst) {
                ANSWER_500 => {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "<Response><Errors><Error><Code>InternalError</Code></Error></Errors></Response>".to_owned());
                }
                SLOW => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                _ => {}
            }
            let mut request = client.request(method, format!("{}{uri}", moto_endpoint())).body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            let response = request.send().await.unwrap();
            let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
            (status, response.text().await.unwrap())
        }
    });
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, task)
}

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

async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Loads us-east-1 through the endpoint, breaks it with `fault`, and checks what a
/// user and an operator see.
async fn survive(
    fault: &str,
    break_it: impl FnOnce(&Arc<AtomicU8>, &tokio::task::JoinHandle<()>),
    error_kind: &str,
) {
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
        store.current().regions["us-east-1"].provenance.source == SourceKind::Ec2
    })
    .await;
    let denied_before = validate(&server, "machineset-create-efa-m5.json").await;
    assert_eq!(denied_before["allowed"], false);

    break_it(&mode, &endpoint_task);
    let counted =
        format!(r#"machine_efa_webhook_capability_refreshes_total{{result="{error_kind}"}}"#);
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
