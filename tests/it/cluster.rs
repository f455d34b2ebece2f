//! The cluster's region from OpenShift's Infrastructure object, read with the kube
//! client from the real API server; a client without RBAC for it is refused there.

use crate::common::apiserver;
use machine_efa_webhook::cluster::infrastructure_region;
use serde_json::json;

/// One test, in steps: `infrastructures/cluster` is a singleton of the shared server.
#[tokio::test]
async fn reads_the_aws_region_of_an_openshift_cluster_and_nothing_elsewhere() {
    let server = apiserver::shared();
    server.apply(&[json!({
        "apiVersion": "config.openshift.io/v1", "kind": "Infrastructure",
        "metadata": {"name": "cluster"},
        "spec": {"cloudConfig": {"name": ""}, "platformSpec": {"type": "AWS", "aws": {}}}
    })]);
    let set_platform = |platform_status: serde_json::Value| {
        let status = json!({"status": {"infrastructureName": "prod-7x2kq", "platform": "AWS",
            "platformStatus": platform_status, "apiServerURL": "https://api.prod.example.com:6443",
            "controlPlaneTopology": "HighlyAvailable"}});
        apiserver::run(server.kubectl().args([
            "patch",
            "infrastructure",
            "cluster",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status.to_string(),
        ]));
    };

    set_platform(json!({"type": "AWS", "aws": {"region": "eu-west-3"}}));
    assert_eq!(
        infrastructure_region(server.client().await)
            .await
            .unwrap()
            .as_deref(),
        Some("eu-west-3")
    );

    set_platform(json!({"type": "GCP", "aws": null, "gcp": {"region": "europe-west1"}}));
    assert_eq!(
        infrastructure_region(server.client().await).await.unwrap(),
        None,
        "a cluster elsewhere names no region"
    );

    // A ServiceAccount with no role: the API server's RBAC refuses, and that is an
    // error, not "no region".
    let namespace = server.namespace("no-rbac").await;
    let nobody = server.client_without_roles(&namespace).await;
    let err = infrastructure_region(nobody).await.unwrap_err();
    assert!(
        err.to_string().contains("forbidden")
            && err
                .to_string()
                .contains(&format!("system:serviceaccount:{namespace}:nobody")),
        "{err}"
    );
}

/// An API server of a test's own stops on drop: the API server first, then etcd, both
/// waited for; their ports are free again and the scratch directory is gone.
#[test]
fn an_api_server_stops_on_drop_and_leaves_nothing_behind() {
    let server = apiserver::ApiServer::start();
    let port: u16 = server.url.rsplit(':').next().unwrap().parse().unwrap();
    let dir = server.dir.clone();
    let pids = server.pids();
    assert_eq!(pids.len(), 2);
    drop(server);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} still there"
        );
    }
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "port {port} still held"
    );
    assert!(!dir.exists(), "{} still there", dir.display());
}
