//! The audit: every Machine, MachineSet, AWSMachine and AWSMachineTemplate already in
//! the cluster, judged by the core as a CREATE would be (`/mutate`, then `/validate`),
//! for the objects that slipped in while the webhook was down or the table differed.
//! Lists are read a page at a time and only what was found is kept, so memory follows
//! the findings, not the cluster. `audit` prints it (`cli/audit.rs`), `--report` writes
//! PolicyReports (`policy_report`), `serve --audit-interval` runs it in the background
//! (`background`).

pub mod background;
mod list;
pub mod policy_report;

use crate::capabilities::{self, CapabilityStore, Load, loads_for, snapshot};
use crate::cluster;
use crate::core::{self, CapabilityTable, FieldError, Policy, TargetKind};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

pub use list::{ListError, resource_name};

/// Objects asked for per list request.
pub const PAGE_SIZE: u32 = 500;

/// The object a finding is about, as a PolicyReport refers to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub kind: TargetKind,
    pub namespace: String,
    pub name: String,
    pub api_version: String,
    pub uid: String,
}

impl ObjectRef {
    /// `namespace/Kind/name`, as every output line starts.
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.kind.as_str(), self.name)
    }
}

/// One object with something to say: the errors a CREATE would be denied for (the
/// findings) and its warnings.
#[derive(Debug)]
pub struct Audited {
    pub object: ObjectRef,
    pub errors: Vec<FieldError>,
    pub warnings: Vec<String>,
}

/// A resource that could not be read (forbidden, unreachable): the audit is incomplete.
#[derive(Debug)]
pub struct Unreadable {
    pub kind: TargetKind,
    pub error: String,
}

/// What an audit keeps of the objects it judged: memory follows this, not the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Every object with findings or warnings (`-o json`).
    Everything,
    /// Objects with findings, without their warnings (reports, metrics, logs).
    Findings,
    /// Nothing: each object is seen once, as it is judged (text output).
    Nothing,
}

#[derive(Debug, Default)]
pub struct Audit {
    /// The objects kept (see [`Keep`]), in the order read.
    pub objects: Vec<Audited>,
    /// Objects a CREATE would be denied for, their findings, and the warnings of all.
    pub with_findings: usize,
    pub findings: usize,
    pub warnings: usize,
    /// Objects judged, per kind, in [`TargetKind::ALL`]'s order.
    pub audited: [usize; 4],
    /// Per namespace, how many objects were judged there (for PolicyReport summaries).
    pub audited_in: HashMap<String, usize>,
    /// Kinds whose resource this cluster does not serve (its CRD is not installed).
    pub not_served: Vec<TargetKind>,
    pub unreadable: Vec<Unreadable>,
}

impl Audit {
    /// Every kind was read (or is not served): an absent finding means a cleared one.
    pub fn is_complete(&self) -> bool {
        self.unreadable.is_empty()
    }

    pub fn kind_was_read(&self, kind: TargetKind) -> bool {
        !self.unreadable.iter().any(|u| u.kind == kind)
    }

    /// The findings of the objects kept.
    pub fn kept_findings(&self) -> impl Iterator<Item = (&ObjectRef, &FieldError)> {
        self.objects
            .iter()
            .flat_map(|audited| audited.errors.iter().map(move |e| (&audited.object, e)))
    }
}

/// Where an audit reads the capability table: a store, as admissions do (`serve`'s own,
/// whose misses are loaded in the background, or a fixed one); with `audit
/// --capabilities ec2`, what each object needs is read from EC2 before it is judged,
/// once per run.
pub struct AuditTable {
    store: Arc<CapabilityStore>,
    ec2: Option<Box<Ec2Reads>>,
}

struct Ec2Reads {
    sdk: aws_config::SdkConfig,
    loaded: HashSet<Load>,
}

impl AuditTable {
    pub fn of(store: Arc<CapabilityStore>) -> Self {
        AuditTable { store, ec2: None }
    }

    pub fn fixed(table: CapabilityTable) -> Self {
        Self::of(Arc::new(CapabilityStore::fixed(table)))
    }

    /// Live data over the embedded table, which answers for what EC2 does not (a
    /// CronJob without credentials still finds what the snapshot can).
    pub fn ec2(sdk: aws_config::SdkConfig) -> Self {
        AuditTable {
            store: Arc::new(CapabilityStore::fixed(snapshot::embedded_table())),
            ec2: Some(Box::new(Ec2Reads {
                sdk,
                loaded: HashSet::new(),
            })),
        }
    }

    /// Reads what `loads` name and this run has not read yet, when reading EC2. What
    /// cannot be read is logged; the checks that need it skip it.
    async fn prepare(&mut self, loads: Vec<Load>) {
        let Some(reads) = &mut self.ec2 else {
            return;
        };
        for load in loads {
            if reads.loaded.insert(load.clone())
                && let Err(err) =
                    capabilities::load(&self.store, &reads.sdk, &load, Duration::ZERO).await
            {
                tracing::warn!(
                    kind = load.kind(),
                    region = load.region(),
                    error = %err,
                    "not read from EC2, so not checked"
                );
            }
        }
    }

    fn decide(&self, request: &core::Request<'_>, policy: &Policy) -> core::Decision {
        core::check_as_create(request, policy, &self.store.view())
    }
}

/// The region of each Cluster API cluster, read from its AWSCluster as `serve` reads it,
/// once per audit.
struct AwsClusterRegions {
    client: kube::Client,
    known: HashMap<(String, String), Option<String>>,
}

impl AwsClusterRegions {
    async fn region(&mut self, namespace: &str, cluster: &str) -> Option<&str> {
        let key = (namespace.to_owned(), cluster.to_owned());
        if !self.known.contains_key(&key) {
            let region = match cluster::aws_cluster_region(self.client.clone(), namespace, cluster)
                .await
            {
                Ok(region) => region,
                Err(err) => {
                    tracing::warn!(namespace, cluster, error = %err, "could not read the cluster's AWSCluster");
                    None
                }
            };
            self.known.insert(key.clone(), region);
        }
        self.known[&key].as_deref()
    }
}

/// What an audit reads and how it judges.
pub struct Auditor {
    pub client: kube::Client,
    /// One namespace, or all.
    pub namespace: Option<String>,
    pub policy: Policy,
    pub page_size: u32,
}

impl Auditor {
    /// Reads every object of the four kinds, a page at a time, and judges each; `seen`
    /// is shown each object with findings or warnings as it is judged.
    pub async fn run(
        &self,
        table: &mut AuditTable,
        keep: Keep,
        mut seen: impl FnMut(&Audited),
    ) -> Audit {
        let mut audit = Audit::default();
        let mut regions = AwsClusterRegions {
            client: self.client.clone(),
            known: HashMap::new(),
        };
        for (index, kind) in TargetKind::ALL.into_iter().enumerate() {
            let mut pages = list::Pages::new(
                &self.client,
                kind,
                self.namespace.as_deref(),
                self.page_size,
            );
            loop {
                let page = match pages.next().await {
                    Ok(Some(page)) => page,
                    Ok(None) => break,
                    Err(ListError::NotServed) => {
                        audit.not_served.push(kind);
                        break;
                    }
                    Err(err) => {
                        audit.unreadable.push(Unreadable {
                            kind,
                            error: err.to_string(),
                        });
                        break;
                    }
                };
                for object in &page {
                    if object.pointer("/metadata/deletionTimestamp").is_some() {
                        // On its way out: nothing to launch.
                        continue;
                    }
                    let reference = object_ref(object, kind);
                    let cluster_region = match core::object::cluster_name(object) {
                        Some(cluster) if kind.is_cluster_api() => regions
                            .region(&reference.namespace, cluster)
                            .await
                            .map(str::to_owned),
                        _ => None,
                    };
                    table
                        .prepare(loads_for(
                            object,
                            kind,
                            cluster_region
                                .as_deref()
                                .unwrap_or(&self.policy.default_region),
                        ))
                        .await;
                    let request = core::Request::create(kind, object, cluster_region.as_deref());
                    let decision = table.decide(&request, &self.policy);
                    audit.audited[index] += 1;
                    *audit
                        .audited_in
                        .entry(reference.namespace.clone())
                        .or_default() += 1;
                    if !decision.errors.is_empty() || !decision.warnings.is_empty() {
                        let mut audited = Audited {
                            object: reference,
                            errors: decision.errors,
                            warnings: decision.warnings,
                        };
                        seen(&audited);
                        audit.with_findings += usize::from(!audited.errors.is_empty());
                        audit.findings += audited.errors.len();
                        audit.warnings += audited.warnings.len();
                        match keep {
                            Keep::Everything => audit.objects.push(audited),
                            Keep::Findings if !audited.errors.is_empty() => {
                                audited.warnings = Vec::new();
                                audit.objects.push(audited);
                            }
                            Keep::Findings | Keep::Nothing => {}
                        }
                    }
                }
            }
        }
        audit
    }
}

fn object_ref(object: &Value, kind: TargetKind) -> ObjectRef {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    ObjectRef {
        kind,
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name"),
        api_version: text("/apiVersion"),
        uid: text("/metadata/uid"),
    }
}
