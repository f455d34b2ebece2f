//! Cluster API AWS: the AWSCluster region lookup against a loopback server that answers
//! as the API server does, and AWSMachine/AWSMachineTemplate reviews over HTTPS, with
//! the region arriving in the background while admission never waits for it.

use crate::common;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::get;
use common::{TestServer, admit, denial, embedded_store, fixture, patched, policy, warnings};
use machine_efa_webhook::admission::Webhook;
use machine_efa_webhook::cluster::{ClusterRegions, aws_cluster_region};
use machine_efa_webhook::server::AppState;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn aws_cluster(name: &str, labels: Value, region: &str) -> Value {
    json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSCluster",
        "metadata": {"name": name, "namespace": "default", "labels": labels,
                     "uid": "6b1d2c3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "resourceVersion": "48213"},
        "spec": {"region": region, "sshKeyName": "capi-prod",
                 "controlPlaneEndpoint": {"host": "capi-prod-apiserver-1234.elb.amazonaws.com", "port": 6443}},
        "status": {"ready": true}
    })
}

fn not_found(name: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
           "message": format!("awsclusters.infrastructure.cluster.x-k8s.io \"{name}\" not found")})
}

/// The AWSClusters the loopback API server knows, per namespace:
/// - default: `capi-prod-x9k2m`, labelled for cluster `capi-prod` (us-east-2);
/// - team-b: `legacy`, unlabelled, named like its cluster (eu-west-1);
/// - locked: every request is refused (403).
struct FakeApi {
    client: kube::Client,
    requests: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

async fn fake_api() -> FakeApi {
    let requests = Arc::new(AtomicUsize::new(0));
    let (list_count, get_count) = (requests.clone(), requests.clone());
    let app = axum::Router::new()
        .route(
            "/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/{ns}/awsclusters",
            get(move |Path(ns): Path<String>, Query(query): Query<HashMap<String, String>>| async move {
                list_count.fetch_add(1, Ordering::SeqCst);
                let selector = query.get("labelSelector").cloned().unwrap_or_default();
                let items = match (ns.as_str(), selector.as_str()) {
                    ("locked", _) => return (StatusCode::FORBIDDEN, axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403, "message": "awsclusters.infrastructure.cluster.x-k8s.io is forbidden"}))),
                    ("default", "cluster.x-k8s.io/cluster-name=capi-prod") => vec![aws_cluster(
                        "capi-prod-x9k2m",
                        json!({"cluster.x-k8s.io/cluster-name": "capi-prod"}),
                        "us-east-2",
                    )],
                    _ => vec![],
                };
                (StatusCode::OK, axum::Json(json!({
                    "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSClusterList",
                    "metadata": {"resourceVersion": "48220"}, "items": items
                })))
            }),
        )
        .route(
            "/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/{ns}/awsclusters/{name}",
            get(move |Path((ns, name)): Path<(String, String)>| async move {
                get_count.fetch_add(1, Ordering::SeqCst);
                match (ns.as_str(), name.as_str()) {
                    ("team-b", "legacy") => (StatusCode::OK, axum::Json(aws_cluster("legacy", json!({}), "eu-west-1"))),
                    _ => (StatusCode::NOT_FOUND, axum::Json(not_found(&name))),
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    FakeApi {
        client,
        requests,
        task,
    }
}

#[tokio::test]
async fn the_region_comes_from_the_labelled_or_the_same_named_awscluster() {
    let api = fake_api().await;
    let region = |ns: &'static str, cluster: &'static str| {
        aws_cluster_region(api.client.clone(), ns, cluster)
    };
    assert_eq!(
        region("default", "capi-prod").await.unwrap().as_deref(),
        Some("us-east-2")
    );
    assert_eq!(
        region("team-b", "legacy").await.unwrap().as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(region("default", "ghost").await.unwrap(), None);
    let refused = region("locked", "capi-prod").await.unwrap_err();
    assert!(refused.to_string().contains("forbidden"), "{refused}");
    api.task.abort();
}

#[tokio::test]
async fn the_cache_answers_from_memory_and_looks_up_in_the_background() {
    let api = fake_api().await;
    let (regions, lookups) = ClusterRegions::new();
    regions.spawn_lookups(api.client.clone(), lookups);
    // The first ask answers at once, unknown, and starts one lookup.
    assert_eq!(regions.region("default", "capi-prod"), None);
    let region = wait_for(|| regions.region("default", "capi-prod")).await;
    assert_eq!(region.as_deref(), Some("us-east-2"));
    // Known: no more requests to the API server, however often it is asked.
    let before = api.requests.load(Ordering::SeqCst);
    for _ in 0..1000 {
        assert_eq!(
            regions.region("default", "capi-prod").as_deref(),
            Some("us-east-2")
        );
    }
    assert_eq!(api.requests.load(Ordering::SeqCst), before);
    // An unknown cluster is looked up once, then not again for a while.
    assert_eq!(regions.region("default", "ghost"), None);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_ghost = api.requests.load(Ordering::SeqCst);
    assert_eq!(after_ghost, before + 2, "one list, one get");
    assert_eq!(regions.region("default", "ghost"), None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(api.requests.load(Ordering::SeqCst), after_ghost);
    api.task.abort();
}

async fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..100 {
        if let Some(found) = probe() {
            return Some(found);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn validate(server: &TestServer, http2: bool, review: &Value) -> Value {
    admit(server, http2, "validate", review).await
}

#[tokio::test]
async fn cluster_api_reviews_use_the_awscluster_region_once_known() {
    let api = fake_api().await;
    let (regions, lookups) = ClusterRegions::new();
    regions.spawn_lookups(api.client.clone(), lookups);
    // The webhook's own region is us-east-1; the cluster's is us-east-2, where hpc6a is offered.
    let state = AppState::new(
        Webhook::new(policy(), embedded_store()).with_cluster_regions(regions),
        Default::default(),
    );
    let server = TestServer::start_state(state).await;
    let template = fixture("awsmachinetemplate-create-efa-hpc6a.json");

    // Not known yet: checked against us-east-1, said in a warning, answered without waiting.
    let first = validate(&server, true, &template).await;
    assert_eq!(first["allowed"], true, "{first}");
    let said = warnings(&first);
    assert!(said.contains(r#"the region of cluster "capi-prod" (its AWSCluster's spec.region) is not known: EFA support was checked in us-east-1, the default region"#), "{said}");
    assert!(
        said.contains(
            r#"instance type "hpc6a.48xlarge" supports EFA but is not offered in us-east-1"#
        ),
        "{said}"
    );

    // Once the lookup has landed, the AWSCluster's region decides, over both protocols.
    let mut settled = Value::Null;
    for _ in 0..100 {
        settled = validate(&server, false, &template).await;
        if !warnings(&settled).contains("is not known") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(settled["allowed"], true, "{settled}");
    assert!(
        warnings(&settled).starts_with(r#"EFA on "hpc6a.48xlarge" needs a security group"#)
            && !warnings(&settled).contains('\n'),
        "{settled}"
    );

    // An AWSMachine on a type without EFA is denied in the cluster's region.
    let machine = validate(&server, true, &fixture("awsmachine-create-efa-m5.json")).await;
    assert_eq!(machine["status"]["code"], 403);
    let message = denial(&machine);
    assert!(message.starts_with(r#"spec.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-2; EFA-capable types offered in us-east-2, closest first: "#), "{message}");
    server.stop().await;
    api.task.abort();
}

#[tokio::test]
async fn cluster_api_defaults_use_interface_whatever_the_spelling() {
    let server = TestServer::start(policy(), embedded_store()).await;
    for http2 in [true, false] {
        let review = fixture("awsmachinetemplate-create-default.json");
        let response = admit(&server, http2, "mutate", &review).await;
        let object = patched(&review, &response);
        assert_eq!(
            object["spec"]["template"]["spec"]["networkInterfaceType"],
            "interface"
        );
        let patch = response["patch"].clone();
        let patch: Value = serde_json::from_slice(
            &base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                patch.as_str().unwrap(),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            patch,
            json!([{"op": "add", "path": "/spec/template/spec/networkInterfaceType", "value": "interface"}])
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_skip_annotation_is_a_warning_logged_and_counted() {
    let server = TestServer::start(policy(), embedded_store()).await;
    let response = validate(
        &server,
        true,
        &fixture("machineset-create-efa-m5-skip.json"),
    )
    .await;
    assert_eq!(response["allowed"], true, "{response}");
    let said = warnings(&response);
    assert!(said.contains(r#"EFA interfaces are not supported on m5.2xlarge in us-east-1 (allowed: annotation machine-efa-webhook.io/skip-capability-check is "true")"#), "{said}");
    // Without the annotation the same MachineSet is denied.
    let denied = validate(&server, true, &fixture("machineset-create-efa-m5.json")).await;
    assert_eq!(denied["allowed"], false);
    let metrics = server.state.metrics.encode();
    assert!(
        metrics
            .contains(r#"machine_efa_webhook_capability_check_skips_total{kind="MachineSet"} 1"#),
        "{metrics}"
    );
    server.stop().await;
}
