//! Cluster API AWS: the AWSCluster region lookup against the real API server (stand-in
//! CRDs for CAPA's kinds), AWSMachine/AWSMachineTemplate reviews over HTTPS with the
//! region arriving in the background while admission never waits for it, and
//! `serve --cluster-api-regions` registered by the cluster-api overlay's webhook
//! configurations, driven through kubectl.
//!
//! One loopback stand-in is kept: the test that the cache makes no request once it
//! knows a region counts requests, which a shared real server cannot count per test.

use crate::common;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::routing::get;
use common::apiserver::{self, ApiServer};
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

/// The stand-in for the cache test: it knows AWSCluster `capi-prod-x9k2m`, labelled
/// for cluster `capi-prod` in namespace default (us-east-2), and counts requests.
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
                    ("default", "cluster.x-k8s.io/cluster-name=capi-prod") => vec![aws_cluster(
                        "capi-prod-x9k2m",
                        json!({"cluster.x-k8s.io/cluster-name": "capi-prod"}),
                        "us-east-2",
                    )],
                    _ => vec![],
                };
                axum::Json(json!({
                    "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSClusterList",
                    "metadata": {"resourceVersion": "48220"}, "items": items
                }))
            }),
        )
        .route(
            "/apis/infrastructure.cluster.x-k8s.io/v1beta2/namespaces/{ns}/awsclusters/{name}",
            get(move |Path((_ns, name)): Path<(String, String)>| async move {
                get_count.fetch_add(1, Ordering::SeqCst);
                (StatusCode::NOT_FOUND, axum::Json(not_found(&name)))
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

/// AWSClusters in the real API server: `capi-prod-x9k2m` labelled for cluster
/// `capi-prod` (us-east-2) in `namespace`, and `legacy`, unlabelled, named like its
/// cluster (eu-west-1).
fn create_aws_clusters(api: &ApiServer, namespace: &str) {
    let labelled = aws_cluster(
        "capi-prod-x9k2m",
        json!({"cluster.x-k8s.io/cluster-name": "capi-prod"}),
        "us-east-2",
    );
    let legacy = aws_cluster("legacy", json!({}), "eu-west-1");
    api.apply(&[
        apiserver::for_create(labelled, namespace),
        apiserver::for_create(legacy, namespace),
    ]);
}

#[tokio::test]
async fn the_region_comes_from_the_labelled_or_the_same_named_awscluster() {
    let api = apiserver::shared();
    let namespace = api.namespace("capa").await;
    create_aws_clusters(api, &namespace);
    let client = api.client().await;
    let region = |cluster: &'static str| aws_cluster_region(client.clone(), &namespace, cluster);
    assert_eq!(
        region("capi-prod").await.unwrap().as_deref(),
        Some("us-east-2")
    );
    assert_eq!(
        region("legacy").await.unwrap().as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(region("ghost").await.unwrap(), None);

    // A ServiceAccount without the overlay's role is refused by RBAC: an error, not "no region".
    let nobody = api.client_without_roles(&namespace).await;
    let refused = aws_cluster_region(nobody, &namespace, "capi-prod")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("forbidden"), "{refused}");
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
    // The reviews name namespace default, where these AWSClusters go.
    let api = apiserver::shared();
    create_aws_clusters(api, "default");
    let (regions, lookups) = ClusterRegions::new();
    regions.spawn_lookups(api.client().await, lookups);
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

/// `serve --cluster-api-regions` as a process, reading AWSClusters through the API server
/// with a kubeconfig, and registered by the cluster-api overlay's webhook
/// configurations: the AWSMachineTemplate is checked on CREATE in its cluster's region.
#[tokio::test(flavor = "multi_thread")]
async fn serve_with_cluster_api_regions_checks_templates_and_machines_in_their_region() {
    use machine_efa_webhook::cli::certs;
    let _registrations = apiserver::registering_admission().await;
    let api = apiserver::shared();
    let namespace = api.namespace("capa-serve").await;
    let ns = namespace.as_str();
    create_aws_clusters(api, ns);

    let dir = tempfile::tempdir().unwrap();
    let generated =
        certs::generate(&["localhost".into()], &["127.0.0.1".parse().unwrap()], 1).unwrap();
    generated.write_to(dir.path()).unwrap();
    let (port, metrics_port) = (common::free_port(), common::free_port());
    let path = |file: &str| dir.path().join(file).to_str().unwrap().to_owned();
    let _serve = tokio::process::Command::new(env!("CARGO_BIN_EXE_machine-efa-webhook"))
        .args([
            "serve",
            "--cluster-api-regions",
            "--capabilities",
            "embedded",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .args([
            "--tls-cert",
            &path(certs::CERT_FILE),
            "--tls-key",
            &path(certs::KEY_FILE),
        ])
        .args(["--region", "us-east-1"])
        .env("KUBECONFIG", &api.kubeconfig)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let _registered = api.register_webhooks(
        "manifests/overlays/cluster-api",
        &format!("https://127.0.0.1:{port}"),
        &generated.ca_pem,
    );
    let object = |fixture_name: &str, name: &str| common::fixture_object(fixture_name, ns, name);

    // The AWSMachine on m5.2xlarge: refused in us-east-2 once the region is known
    // (before that, the webhook checks in us-east-1 and says so in a warning).
    let machine = object("awsmachine-create-efa-m5.json", "efa-m5");
    let refusal = common::eventually_some("the AWSMachine refused in us-east-2", async || {
        let output = api.kubectl_output(&["create", "--dry-run=server", "-f", "-"], &machine);
        let printed = apiserver::printed(&output);
        printed.contains("in us-east-2;").then_some(printed)
    })
    .await;
    assert!(
        refusal.contains(r#"admission webhook "validate.machines.machine-efa-webhook.io" denied the request: spec.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-2; EFA-capable types offered in us-east-2, closest first: "#),
        "{refusal}"
    );

    // The template on hpc6a.48xlarge (offered in us-east-2, not us-east-1): stored, the
    // alias in CAPA's spelling, advice only.
    let template = object("awsmachinetemplate-create-efa-hpc6a.json", "md-efa");
    let said = api.create(&template);
    assert!(
        said.contains(r#"Warning: EFA on "hpc6a.48xlarge" needs a security group"#)
            && !said.contains("not offered"),
        "{said}"
    );
    let stored = api.get("awsmachinetemplate", ns, "md-efa");
    assert_eq!(
        stored["spec"]["template"]["spec"]["networkInterfaceType"],
        "efa"
    );

    // A template on a type without EFA: refused on CREATE.
    let mut bad = object("awsmachinetemplate-create-efa-hpc6a.json", "md-efa-m5");
    bad["spec"]["template"]["spec"]["instanceType"] = "m5.2xlarge".into();
    let refused = api.kubectl_output(&["create", "-f", "-"], &bad);
    let said = apiserver::printed(&refused);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains(r#"spec.template.spec.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-2"#),
        "{said}"
    );
}
