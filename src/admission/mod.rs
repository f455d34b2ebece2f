//! Where bytes become a decision and a decision becomes bytes. An AdmissionReview body
//! is pruned to what the rules read (`prune`), its envelope decoded into a
//! `core::Request` (`decode`), the core decides, and the decision is answered with
//! kube-core's response (`encode`) and logged (`log`). A malformed envelope is a
//! [`BadRequest`] (HTTP 400); a well-formed review with a malformed object is a denial
//! that echoes the uid.

mod decode;
mod encode;
mod log;
pub mod prune;

pub use decode::{ADMISSION_API_VERSION, BadRequest};
pub use encode::error_body;

use crate::capabilities::CapabilityStore;
use crate::cluster::ClusterRegions;
use crate::core::{self, Decision, FieldError, FieldPath, Operation, Policy, TargetKind};
use decode::Envelope;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Mutate,
    Validate,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Mutate => "mutate",
            Endpoint::Validate => "validate",
        }
    }
}

/// How a review was answered, as logs and metrics name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    Denied,
    Patched,
    Warned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Patched => "patched",
            Outcome::Warned => "warned",
        }
    }

    fn of(decision: &Decision) -> Outcome {
        if !decision.allowed() {
            Outcome::Denied
        } else if !decision.patch.0.is_empty() {
            Outcome::Patched
        } else if !decision.warnings.is_empty() {
            Outcome::Warned
        } else {
            Outcome::Allowed
        }
    }
}

/// An answered review, and what it was in bounded terms fit for metric labels.
pub struct Answer {
    pub body: Vec<u8>,
    /// `None` for another kind.
    pub kind: Option<TargetKind>,
    /// `None` for an operation the API does not name.
    pub operation: Option<Operation>,
    pub outcome: Outcome,
    /// Time to decode, decide and encode.
    pub duration: Duration,
    /// The skip annotation turned a capability denial into a warning.
    pub capability_check_skipped: bool,
}

/// What the webhook decides with: the operator's policy, the capability table and,
/// with `--cluster-api-regions`, the regions of Cluster API clusters. Every lookup is
/// in memory: an answer never waits on AWS or the kube API.
pub struct Webhook {
    pub policy: Policy,
    pub store: Arc<CapabilityStore>,
    pub cluster_regions: Option<Arc<ClusterRegions>>,
}

impl Webhook {
    pub fn new(policy: Policy, store: Arc<CapabilityStore>) -> Self {
        Webhook {
            policy,
            store,
            cluster_regions: None,
        }
    }

    /// Cluster API objects take their region from `regions` when it knows it.
    pub fn with_cluster_regions(mut self, regions: Arc<ClusterRegions>) -> Self {
        self.cluster_regions = Some(regions);
        self
    }

    /// Answers one AdmissionReview body: the response review, or why there is none.
    pub fn answer(&self, endpoint: Endpoint, body: &[u8]) -> Result<Answer, BadRequest> {
        let started = Instant::now();
        let review = prune::review_from_slice(body).map_err(BadRequest::NotJson)?;
        let envelope = decode::decode(&review)?;
        let kind = TargetKind::from_gvk(envelope.group, envelope.version, envelope.kind);
        let operation = envelope.operation.and_then(Operation::from_api);
        let decision = match (kind, operation) {
            // Another kind is none of our business, whatever its operation.
            (None, _) => Decision::default(),
            (Some(_), None) => Decision {
                errors: vec![FieldError::unsupported(
                    FieldPath::new(["request", "operation"]),
                    envelope.operation.unwrap_or(""),
                    &Operation::ALL.map(Operation::as_str),
                )],
                ..Decision::default()
            },
            (Some(kind), Some(operation)) => self.decide(endpoint, &envelope, kind, operation),
        };
        let outcome = Outcome::of(&decision);
        let body = encode::encode(envelope.uid, &decision);
        let duration = started.elapsed();
        log::log_decision(endpoint, &envelope, &decision, outcome, duration);
        Ok(Answer {
            body,
            kind,
            operation,
            outcome,
            duration,
            capability_check_skipped: decision.capability_check_skipped,
        })
    }

    fn decide(
        &self,
        endpoint: Endpoint,
        envelope: &Envelope<'_>,
        kind: TargetKind,
        operation: Operation,
    ) -> Decision {
        let cluster_region = match &self.cluster_regions {
            Some(regions) if kind.is_cluster_api() && endpoint == Endpoint::Validate => {
                let namespace = Some(envelope.namespace)
                    .filter(|namespace| !namespace.is_empty())
                    .or_else(|| envelope.object.and_then(core::object::namespace));
                let cluster = envelope.object.and_then(core::object::cluster_name);
                namespace
                    .zip(cluster)
                    .and_then(|(namespace, cluster)| regions.region(namespace, cluster))
            }
            _ => None,
        };
        let request = core::Request {
            group: envelope.group,
            version: envelope.version,
            kind: envelope.kind,
            operation,
            object: envelope.object,
            old_object: envelope.old_object,
            cluster_region: cluster_region.as_deref(),
        };
        match endpoint {
            Endpoint::Mutate => core::mutate(&request, &self.policy),
            Endpoint::Validate => core::validate(&request, &self.policy, &self.store.view()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Spelling;
    use base64::Engine;

    /// The webhook with an OpenShift policy and the embedded table, and the folder of
    /// review fixtures.
    fn openshift_setup() -> (Webhook, std::path::PathBuf) {
        let policy = Policy {
            spelling: Spelling::OpenShift,
            unknown_instance_type: crate::core::UnknownInstanceType::Warn,
            default_region: "us-east-1".into(),
        };
        let store = CapabilityStore::fixed(crate::capabilities::snapshot::embedded_table());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        (Webhook::new(policy, Arc::new(store)), dir)
    }

    fn answer(webhook: &Webhook, endpoint: Endpoint, body: &[u8]) -> Vec<u8> {
        webhook.answer(endpoint, body).unwrap().body
    }

    #[test]
    fn every_fixture_is_answered_with_a_review_kube_core_reads() {
        let (webhook, dir) = openshift_setup();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
                let answer = answer(&webhook, endpoint, &body);
                let mut answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
                // kube-core reads `patch` as an array of numbers (kube-rs/kube#1781); the
                // API server sends and wants base64.
                if let Some(patch) = answer["response"].as_object_mut().unwrap().remove("patch") {
                    let patch = base64::engine::general_purpose::STANDARD
                        .decode(patch.as_str().unwrap())
                        .unwrap();
                    serde_json::from_slice::<json_patch::Patch>(&patch).unwrap();
                }
                let read: kube_core::admission::AdmissionReview<kube_core::DynamicObject> =
                    serde_json::from_value(answer).unwrap();
                let response = read.response.unwrap();
                let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
                assert_eq!(response.uid, sent["request"]["uid"], "{}", path.display());
            }
        }
    }

    #[test]
    fn a_review_as_oc_apply_sends_it_is_answered_as_the_indented_fixture() {
        let (webhook, dir) = openshift_setup();
        let indented = std::fs::read(dir.join("machineset-create-efa-m5.json")).unwrap();
        let applied = std::fs::read(dir.join("machineset-create-efa-m5-applied.json")).unwrap();
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            assert_eq!(
                String::from_utf8(answer(&webhook, endpoint, &applied)).unwrap(),
                String::from_utf8(answer(&webhook, endpoint, &indented)).unwrap()
            );
        }
    }
}
