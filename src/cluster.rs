//! What the webhook reads from its own cluster at start: the AWS region of an
//! OpenShift cluster, from the `Infrastructure` object named `cluster`.

use kube::api::{Api, ApiResource, DynamicObject};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no kube client configuration: {0}")]
    Config(#[from] kube::config::InferConfigError),
    #[error("building the kube client: {0}")]
    Client(kube::Error),
    #[error("reading infrastructures.config.openshift.io/cluster: {0}")]
    Read(kube::Error),
}

fn infrastructures() -> ApiResource {
    ApiResource {
        group: "config.openshift.io".into(),
        version: "v1".into(),
        api_version: "config.openshift.io/v1".into(),
        kind: "Infrastructure".into(),
        plural: "infrastructures".into(),
    }
}

/// `status.platformStatus.aws.region` of the cluster's Infrastructure; `None` when the
/// cluster is not on AWS. Needs `get` on `infrastructures/cluster` and nothing else.
pub async fn infrastructure_region(client: kube::Client) -> Result<Option<String>, ClusterError> {
    let api: Api<DynamicObject> = Api::all_with(client, &infrastructures());
    let infrastructure = api.get("cluster").await.map_err(ClusterError::Read)?;
    Ok(infrastructure
        .data
        .pointer("/status/platformStatus/aws/region")
        .and_then(Value::as_str)
        .filter(|region| !region.is_empty())
        .map(str::to_owned))
}

/// The in-cluster client (or the local kubeconfig when run outside a cluster).
pub async fn client() -> Result<kube::Client, ClusterError> {
    let config = kube::Config::infer().await?;
    kube::Client::try_from(config).map_err(ClusterError::Client)
}
