//! The cluster's region from OpenShift's Infrastructure object, read with the kube
//! client from the real API server; a client without RBAC for it is refused there.

use crate::common::apiserver;
use machine_efa_webhook::cluster::infrastructure_region;
use serde_json::json;

/// One test, in steps: `infrastructures/cluster` is a singleton of the shared server.
#[tokio::test]
async fn reads_the_aws_region_of_an_openshift_cluster_and_nothing_elsewhere() {
    let server = apiserver::shared();
    server.apply_yaml(
        &json!({
            "apiVersion": "config.openshift.io/v1", "kind": "Infrastructure",
            "metadata": {"name": "cluster"},
            "spec": {"cloudConfig": {"name": ""}, "platformSpec": {"type": "AWS", "aws": {}}}
        })
        .to_string(),
    );
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
