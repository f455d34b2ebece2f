//! The cluster's region from OpenShift's Infrastructure object, read with the kube client
//! from a local server that answers as the API server does.

use axum::http::StatusCode;
use axum::routing::get;
use machine_efa_webhook::cluster::infrastructure_region;
use serde_json::{Value, json};

/// A loopback API server that answers the Infrastructure GET with `status` and `body`.
async fn api_server(
    status: StatusCode,
    body: Value,
) -> (kube::Client, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/apis/config.openshift.io/v1/infrastructures/cluster",
        get(move || async move { (status, axum::Json(body)) }),
    );
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = kube::Config::new(url.parse().unwrap());
    (kube::Client::try_from(config).unwrap(), task)
}

fn infrastructure(platform_status: Value) -> Value {
    json!({
        "apiVersion": "config.openshift.io/v1", "kind": "Infrastructure",
        "metadata": {"name": "cluster", "uid": "7f1c9a52-0d55-4b8e-9d0f-3c1a2b4c5d6e", "resourceVersion": "512"},
        "spec": {"cloudConfig": {"name": ""}, "platformSpec": {"type": "AWS", "aws": {}}},
        "status": {"infrastructureName": "prod-7x2kq", "platform": "AWS", "platformStatus": platform_status,
                   "apiServerURL": "https://api.prod.example.com:6443", "controlPlaneTopology": "HighlyAvailable"}
    })
}

#[tokio::test]
async fn reads_the_aws_region_of_an_openshift_cluster() {
    let (client, server) = api_server(
        StatusCode::OK,
        infrastructure(json!({"type": "AWS", "aws": {"region": "eu-west-3"}})),
    )
    .await;
    assert_eq!(
        infrastructure_region(client).await.unwrap().as_deref(),
        Some("eu-west-3")
    );
    server.abort();
}

#[tokio::test]
async fn a_cluster_elsewhere_names_no_region() {
    let (client, server) = api_server(
        StatusCode::OK,
        infrastructure(json!({"type": "GCP", "gcp": {"region": "europe-west1"}})),
    )
    .await;
    assert_eq!(infrastructure_region(client).await.unwrap(), None);
    server.abort();
}

#[tokio::test]
async fn a_refusal_is_an_error_not_a_region() {
    let forbidden = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": "infrastructures.config.openshift.io \"cluster\" is forbidden: User \"system:serviceaccount:machine-efa-webhook:machine-efa-webhook\" cannot get resource \"infrastructures\""});
    let (client, server) = api_server(StatusCode::FORBIDDEN, forbidden).await;
    let err = infrastructure_region(client).await.unwrap_err();
    assert!(err.to_string().contains("forbidden"), "{err}");
    server.abort();
}
