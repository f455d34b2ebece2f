//! What the webhook reads from its own cluster: at start, the AWS region of an
//! OpenShift cluster (the `Infrastructure` object named `cluster`); in the background,
//! the region of each Cluster API cluster (its AWSCluster).

use crate::core::object::{CLUSTER_API_AWS_GROUP, CLUSTER_API_AWS_VERSION, CLUSTER_NAME_LABEL};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

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

/// Cluster API: the region of each cluster's AWSCluster, read in the background and
/// kept here, so that admission only ever looks at memory.
pub struct ClusterRegions {
    known: Mutex<HashMap<ClusterKey, Lookup>>,
    lookups: mpsc::Sender<ClusterKey>,
}

/// `(namespace, cluster name)`.
pub type ClusterKey = (String, String);

struct Lookup {
    region: Option<Arc<str>>,
    /// When the last lookup was asked for.
    asked: Instant,
}

/// A known region is read again after this long (kept and used meanwhile).
const REGION_TTL: Duration = Duration::from_secs(600);
/// A cluster whose AWSCluster could not be read is asked for again after this long.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Lookups that may wait; more are dropped and asked for again by a later review.
const LOOKUP_QUEUE: usize = 64;
/// One lookup may take this long before it counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Clusters remembered at most: bounded memory whatever the requests name.
const MAX_CLUSTERS: usize = 4096;

impl ClusterRegions {
    /// The cache and the receiver of the lookups it asks for; give the receiver to
    /// [`ClusterRegions::spawn_lookups`].
    pub fn new() -> (Arc<Self>, mpsc::Receiver<ClusterKey>) {
        let (lookups, rx) = mpsc::channel(LOOKUP_QUEUE);
        let regions = ClusterRegions {
            known: Mutex::new(HashMap::new()),
            lookups,
        };
        (Arc::new(regions), rx)
    }

    /// The region of `cluster` in `namespace` if it is known; never waits. An unknown or
    /// old entry is looked up in the background.
    pub fn region(&self, namespace: &str, cluster: &str) -> Option<Arc<str>> {
        let now = Instant::now();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let key = (namespace.to_owned(), cluster.to_owned());
        let (region, ask) = match known.get(&key) {
            Some(entry) => {
                let wait = if entry.region.is_some() {
                    REGION_TTL
                } else {
                    RETRY_AFTER
                };
                (
                    entry.region.clone(),
                    now.duration_since(entry.asked) >= wait,
                )
            }
            None => (None, known.len() < MAX_CLUSTERS),
        };
        if ask && self.lookups.try_send(key.clone()).is_ok() {
            known.insert(
                key,
                Lookup {
                    region: region.clone(),
                    asked: now,
                },
            );
        }
        region
    }

    fn record(&self, key: ClusterKey, region: Option<String>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = known.get_mut(&key) {
            // A failed lookup keeps what was known before.
            if region.is_some() {
                entry.region = region.map(Arc::from);
            }
        }
    }

    /// Answers the lookups asked for, one at a time, with `client`.
    pub fn spawn_lookups(
        self: &Arc<Self>,
        client: kube::Client,
        mut rx: mpsc::Receiver<ClusterKey>,
    ) -> tokio::task::JoinHandle<()> {
        let regions = self.clone();
        tokio::spawn(async move {
            while let Some((namespace, cluster)) = rx.recv().await {
                let read = aws_cluster_region(client.clone(), &namespace, &cluster);
                let region = match tokio::time::timeout(LOOKUP_TIMEOUT, read).await {
                    Ok(Ok(Some(region))) => Some(region),
                    Ok(Ok(None)) => {
                        tracing::warn!(
                            namespace,
                            cluster,
                            "no AWSCluster with a spec.region found for this cluster"
                        );
                        None
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(namespace, cluster, error = %err, "could not read the cluster's AWSCluster");
                        None
                    }
                    Err(_) => {
                        tracing::warn!(
                            namespace,
                            cluster,
                            "reading the cluster's AWSCluster timed out"
                        );
                        None
                    }
                };
                regions.record((namespace, cluster), region);
            }
        })
    }
}

fn aws_clusters() -> ApiResource {
    ApiResource {
        group: CLUSTER_API_AWS_GROUP.into(),
        version: CLUSTER_API_AWS_VERSION.into(),
        api_version: format!("{CLUSTER_API_AWS_GROUP}/{CLUSTER_API_AWS_VERSION}"),
        kind: "AWSCluster".into(),
        plural: "awsclusters".into(),
    }
}

fn spec_region(cluster: &DynamicObject) -> Option<String> {
    cluster
        .data
        .pointer("/spec/region")
        .and_then(Value::as_str)
        .filter(|region| !region.is_empty())
        .map(str::to_owned)
}

/// `spec.region` of the AWSCluster of `cluster` in `namespace`: the one labelled with
/// the cluster's name, else the one named like the cluster (clusterctl's templates).
/// Needs `list` and `get` on awsclusters.
pub async fn aws_cluster_region(
    client: kube::Client,
    namespace: &str,
    cluster: &str,
) -> Result<Option<String>, kube::Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &aws_clusters());
    let labelled = api
        .list(&ListParams::default().labels(&format!("{CLUSTER_NAME_LABEL}={cluster}")))
        .await?;
    if let Some(region) = labelled.items.iter().find_map(spec_region) {
        return Ok(Some(region));
    }
    Ok(api.get_opt(cluster).await?.as_ref().and_then(spec_region))
}
