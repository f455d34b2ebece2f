//! AdmissionReview in and out: decode the request tolerantly, call the core, encode
//! the answer. A malformed request envelope is a [`BadRequest`] (HTTP 400); a
//! well-formed review with a malformed object is a denial that echoes the uid.

use crate::capabilities::CapabilityStore;
use crate::cluster::ClusterRegions;
use crate::core::field_error::display_value;
use crate::core::object::present;
use crate::core::{self, Decision, FieldError, FieldPath, Operation, Policy, TargetKind};
use base64::Engine;
use kube_core::Status;
use kube_core::admission::AdmissionResponse;
use kube_core::response::{StatusCause, StatusDetails};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, Instant};

pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

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

/// Why a body could not be answered with an AdmissionReview at all.
#[derive(Debug, thiserror::Error)]
pub enum BadRequest {
    #[error("the body is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the body is not an AdmissionReview object")]
    NotObject,
    #[error("apiVersion {0} is not supported: send {ADMISSION_API_VERSION} AdmissionReviews")]
    Version(String),
    #[error("the body has no apiVersion: send {ADMISSION_API_VERSION} AdmissionReviews")]
    NoVersion,
    #[error("kind {0} is not AdmissionReview")]
    Kind(String),
    #[error("request.kind must be an object with group, version and kind strings")]
    NoKind,
    #[error("the AdmissionReview has no request")]
    NoRequest,
    #[error("request.uid must be a non-empty string")]
    NoUid,
}

impl BadRequest {
    /// A short, fixed label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            BadRequest::NotJson(_) => "not_json",
            BadRequest::NotObject => "not_object",
            BadRequest::Version(_) | BadRequest::NoVersion => "version",
            BadRequest::Kind(_) => "kind",
            BadRequest::NoKind => "no_kind",
            BadRequest::NoRequest => "no_request",
            BadRequest::NoUid => "no_uid",
        }
    }
}

/// The parts of `request` the answer needs, read without trusting their types.
struct Envelope<'a> {
    uid: &'a str,
    group: &'a str,
    version: &'a str,
    kind: &'a str,
    operation: Option<Operation>,
    name: &'a str,
    namespace: &'a str,
    object: Option<&'a Value>,
    old_object: Option<&'a Value>,
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn decode(review: &Value) -> Result<Envelope<'_>, BadRequest> {
    if !review.is_object() {
        return Err(BadRequest::NotObject);
    }
    match review.get("apiVersion") {
        Some(version) if version.as_str() == Some(ADMISSION_API_VERSION) => {}
        Some(other) => return Err(BadRequest::Version(display_value(other))),
        None => return Err(BadRequest::NoVersion),
    }
    match review.get("kind") {
        Some(kind) if kind.as_str() == Some("AdmissionReview") => {}
        Some(other) => return Err(BadRequest::Kind(display_value(other))),
        None => return Err(BadRequest::Kind("(missing)".to_owned())),
    }
    let Some(request) = review.get("request").filter(|r| r.is_object()) else {
        return Err(BadRequest::NoRequest);
    };
    let uid = str_at(request, "uid")
        .filter(|u| !u.is_empty())
        .ok_or(BadRequest::NoUid)?;
    let kind = request.get("kind");
    let (Some(group), Some(version), Some(kind)) = (
        kind.and_then(|kind| str_at(kind, "group")),
        kind.and_then(|kind| str_at(kind, "version")),
        kind.and_then(|kind| str_at(kind, "kind")),
    ) else {
        return Err(BadRequest::NoKind);
    };
    let operation = match str_at(request, "operation") {
        Some("CREATE") => Some(Operation::Create),
        Some("UPDATE") => Some(Operation::Update),
        Some("DELETE") => Some(Operation::Delete),
        Some("CONNECT") => Some(Operation::Connect),
        _ => None,
    };
    Ok(Envelope {
        uid,
        group,
        version,
        kind,
        operation,
        name: str_at(request, "name").unwrap_or(""),
        namespace: str_at(request, "namespace").unwrap_or(""),
        object: present(request, "object"),
        old_object: present(request, "oldObject"),
    })
}

/// Answers one AdmissionReview body with the serialized response review.
pub fn review(
    endpoint: Endpoint,
    body: &[u8],
    policy: &Policy,
    store: &CapabilityStore,
) -> Result<Vec<u8>, BadRequest> {
    answer(endpoint, body, policy, store, None).map(|answered| answered.body)
}

/// An answered review and what it was, in bounded terms fit for metric labels.
pub struct Answered {
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

/// Like [`review`], with what the review was and how it was decided. Cluster API
/// objects take their region from `cluster_regions` when it knows it.
pub fn answer(
    endpoint: Endpoint,
    body: &[u8],
    policy: &Policy,
    store: &CapabilityStore,
    cluster_regions: Option<&ClusterRegions>,
) -> Result<Answered, BadRequest> {
    let started = Instant::now();
    // Only the members the webhook reads are built; the rest is validated and skipped.
    let review = crate::pruned::review_from_slice(body).map_err(BadRequest::NotJson)?;
    let envelope = decode(&review)?;
    let target = TargetKind::from_gvk(envelope.group, envelope.version, envelope.kind);
    let decision = match envelope.operation {
        // Another kind is none of our business, whatever its operation.
        None if target.is_none() => Decision::default(),
        None => Decision {
            errors: vec![FieldError::unsupported(
                FieldPath::new(["request", "operation"]),
                review["request"]["operation"].as_str().unwrap_or(""),
                &["CONNECT", "CREATE", "DELETE", "UPDATE"],
            )],
            ..Decision::default()
        },
        Some(operation) => {
            let cluster_region = match (target, cluster_regions) {
                (Some(kind), Some(regions))
                    if kind.is_cluster_api() && endpoint == Endpoint::Validate =>
                {
                    let namespace = if envelope.namespace.is_empty() {
                        envelope.object.and_then(core::object::namespace)
                    } else {
                        Some(envelope.namespace)
                    };
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
                Endpoint::Mutate => core::mutate(&request, policy),
                Endpoint::Validate => core::validate(&request, policy, &store.view()),
            }
        }
    };
    let outcome = outcome(&decision);
    let capability_check_skipped = decision.capability_check_skipped;
    let body = encode(envelope.uid, &decision);
    let duration = started.elapsed();
    log_decision(
        endpoint,
        &envelope,
        &decision.errors,
        outcome,
        capability_check_skipped,
        duration,
    );
    Ok(Answered {
        kind: target,
        operation: envelope.operation,
        outcome,
        duration,
        capability_check_skipped,
        body,
    })
}

/// The kind as a metric label: one of [`TargetKind::as_str`], or `other`.
pub fn kind_label(kind: Option<TargetKind>) -> &'static str {
    kind.map_or("other", TargetKind::as_str)
}

/// The operation as the API names it, or `unknown`: a log field and a metric label.
pub fn operation_label(operation: Option<Operation>) -> &'static str {
    match operation {
        Some(Operation::Create) => "CREATE",
        Some(Operation::Update) => "UPDATE",
        Some(Operation::Delete) => "DELETE",
        Some(Operation::Connect) => "CONNECT",
        None => "unknown",
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
    pub const ALL: [Outcome; 4] = [
        Outcome::Allowed,
        Outcome::Denied,
        Outcome::Patched,
        Outcome::Warned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied => "denied",
            Outcome::Patched => "patched",
            Outcome::Warned => "warned",
        }
    }
}

fn outcome(decision: &Decision) -> Outcome {
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

/// Object names are at most 253 bytes.
const MAX_LOGGED_BYTES: usize = 253;

/// `value`, cut to [`MAX_LOGGED_BYTES`] at a character boundary: the API server sends
/// short values, a direct caller might not. Logged as a `&str`, it is escaped by the
/// log format (quoted in text, a JSON string in JSON) without a copy.
fn bounded(value: &str) -> &str {
    let mut end = value.len().min(MAX_LOGGED_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

fn log_decision(
    endpoint: Endpoint,
    envelope: &Envelope<'_>,
    errors: &[FieldError],
    outcome: Outcome,
    capability_check_skipped: bool,
    duration: Duration,
) {
    let name = if envelope.name.is_empty() {
        envelope
            .object
            .and_then(core::object::display_name)
            .unwrap_or("")
    } else {
        envelope.name
    };
    tracing::info!(
        endpoint = endpoint.as_str(),
        uid = bounded(envelope.uid),
        kind = bounded(envelope.kind),
        namespace = bounded(envelope.namespace),
        name = bounded(name),
        operation = operation_label(envelope.operation),
        decision = outcome.as_str(),
        duration_us = duration.as_micros() as u64,
        errors = %ErrorList(errors),
        "admission"
    );
    if capability_check_skipped {
        tracing::warn!(
            uid = bounded(envelope.uid),
            kind = bounded(envelope.kind),
            namespace = bounded(envelope.namespace),
            name = bounded(name),
            annotation = core::SKIP_CAPABILITY_CHECK_ANNOTATION,
            "EFA capability denial skipped by annotation"
        );
    }
}

/// The errors as a JSON array of strings, each as Kubernetes prints a field error.
struct ErrorList<'a>(&'a [FieldError]);

impl fmt::Display for ErrorList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&serde_json::to_string(&messages).map_err(|_| fmt::Error)?)
    }
}

/// The response AdmissionReview for `decision`: kube-core's `AdmissionResponse`,
/// serialised by serde. A denial is 403 Forbidden, as OpenShift's machine webhooks
/// answer, so that kubectl names the webhook that refused, with one cause per field
/// error.
fn encode(uid: &str, decision: &Decision) -> Vec<u8> {
    let allowed = decision.allowed();
    // kube-core builds a response from a typed request, or as `invalid`; the request is
    // read leniently here, so the response starts as `invalid` and is filled in.
    let mut response = AdmissionResponse::invalid("");
    response.uid = uid.to_owned();
    response.allowed = allowed;
    response.result = if allowed {
        Status::default()
    } else {
        denial(&decision.errors)
    };
    if !decision.warnings.is_empty() {
        response.warnings = Some(decision.warnings.clone());
    }
    let mut patch = None;
    if allowed && !decision.patch.0.is_empty() {
        response = response
            .with_patch(decision.patch.clone())
            .expect("a JSON patch always serialises");
        patch = response
            .patch
            .take()
            .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    serde_json::to_vec(&ResponseReview {
        api_version: ADMISSION_API_VERSION,
        kind: "AdmissionReview",
        response: Base64Patch {
            response: &response,
            patch,
        },
    })
    .expect("an AdmissionReview always serialises")
}

/// The status of a denial: the one error, or all of them as the API server lists
/// several, and a cause per error.
fn denial(errors: &[FieldError]) -> Status {
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let message = match messages.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    Status::failure(&message, "Forbidden")
        .with_code(403)
        .with_details(StatusDetails {
            name: String::new(),
            group: String::new(),
            kind: String::new(),
            uid: String::new(),
            causes: errors
                .iter()
                .map(|error| StatusCause {
                    reason: error.cause_reason().to_owned(),
                    message: error.body().to_string(),
                    field: error.path.to_string(),
                })
                .collect(),
            retry_after_seconds: 0,
        })
}

#[derive(serde::Serialize)]
struct ResponseReview<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    response: Base64Patch<'a>,
}

/// kube-core serialises `patch` as an array of numbers (kube-rs/kube#1781); the API
/// server wants base64 (a Go `[]byte`), so the patch is written here instead.
#[derive(serde::Serialize)]
struct Base64Patch<'a> {
    #[serde(flatten)]
    response: &'a AdmissionResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<String>,
}

/// The JSON body of a 4xx answer.
pub fn error_body(message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message })).expect("always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Spelling;
    use json_patch::{AddOperation, PatchOperation};
    #[test]
    fn answers_are_written_as_the_api_server_reads_them() {
        let error = |field: &'static str, value: &str| {
            FieldError::unsupported(FieldPath::new([field]), value, &["EFA", "ENA"])
                .with_hint(Some("did you mean \"EFA\"?".into()))
        };
        let patch = json_patch::Patch(vec![PatchOperation::Add(AddOperation {
            path: FieldPath::new(["spec", "networkInterfaceType"]).to_pointer(),
            value: "ENA".into(),
        })]);
        let warning = "EFA needs a security group\tthat allows all traffic".to_owned();
        let uid = "q\"uote\\ é";
        let cases = [
            (
                Decision::default(),
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"q\"uote\\ é","allowed":true,"status":{}}}"#,
            ),
            (
                Decision {
                    patch: patch.clone(),
                    warnings: vec![warning.clone(), "é \u{1} \\".into()],
                    ..Decision::default()
                },
                // The patch is base64 of [{"op":"add","path":"/spec/networkInterfaceType","value":"ENA"}].
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"q\"uote\\ é","allowed":true,"status":{},"patchType":"JSONPatch","warnings":["EFA needs a security group\tthat allows all traffic","é \u0001 \\"],"patch":"W3sib3AiOiJhZGQiLCJwYXRoIjoiL3NwZWMvbmV0d29ya0ludGVyZmFjZVR5cGUiLCJ2YWx1ZSI6IkVOQSJ9XQ=="}}"#,
            ),
            (
                Decision {
                    errors: vec![error("networkInterfaceType", "efa")],
                    ..Decision::default()
                },
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"q\"uote\\ é","allowed":false,"status":{"status":"Failure","code":403,"message":"networkInterfaceType: Unsupported value: \"efa\": supported values: \"EFA\", \"ENA\"; did you mean \"EFA\"?","reason":"Forbidden","details":{"causes":[{"reason":"FieldValueNotSupported","message":"Unsupported value: \"efa\": supported values: \"EFA\", \"ENA\"; did you mean \"EFA\"?","field":"networkInterfaceType"}]}}}}"#,
            ),
            (
                // A denial carries no patch, but keeps its warnings; several errors are
                // listed as the API server lists them.
                Decision {
                    patch,
                    errors: vec![error("a", "x\"y"), error("q\"b", "\n")],
                    warnings: vec![warning],
                    ..Decision::default()
                },
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"q\"uote\\ é","allowed":false,"status":{"status":"Failure","code":403,"message":"[a: Unsupported value: \"x\\\"y\": supported values: \"EFA\", \"ENA\"; did you mean \"EFA\"?, q\"b: Unsupported value: \"\\n\": supported values: \"EFA\", \"ENA\"; did you mean \"EFA\"?]","reason":"Forbidden","details":{"causes":[{"reason":"FieldValueNotSupported","message":"Unsupported value: \"x\\\"y\": supported values: \"EFA\", \"ENA\"; did you mean \"EFA\"?","field":"a"},{"reason":"FieldValueNotSupported","message":"Unsupported value: \"\\n\": supported values: \"EFA\", \"ENA\"; did you mean \"EFA\"?","field":"q\"b"}]}},"warnings":["EFA needs a security group\tthat allows all traffic"]}}"#,
            ),
        ];
        for (decision, want) in cases {
            assert_eq!(String::from_utf8(encode(uid, &decision)).unwrap(), want);
        }
    }

    #[test]
    fn the_log_lines_error_list_is_a_json_array_of_the_errors_as_kubernetes_prints_them() {
        let errors = [
            FieldError::unsupported(FieldPath::new(["spec", "q\"uote\\"]), "x\"y\n", &["EFA"]),
            FieldError::unsupported(FieldPath::new(["b"]), "é\u{1}", &["ENA"]),
        ];
        let listed: Vec<String> = serde_json::from_str(&ErrorList(&errors).to_string()).unwrap();
        let printed: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.body()))
            .collect();
        assert_eq!(listed, printed);
    }

    /// An OpenShift policy, the embedded table, and the folder of review fixtures.
    fn openshift_setup() -> (Policy, CapabilityStore, std::path::PathBuf) {
        let policy = Policy {
            spelling: Spelling::OpenShift,
            unknown_instance_type: crate::core::UnknownInstanceType::Warn,
            default_region: "us-east-1".into(),
        };
        let store = CapabilityStore::fixed(crate::capabilities::snapshot::embedded_table());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        (policy, store, dir)
    }

    #[test]
    fn every_fixture_is_answered_with_a_review_kube_core_reads() {
        let (policy, store, dir) = openshift_setup();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
                let answer = review(endpoint, &body, &policy, &store).unwrap();
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
        let (policy, store, dir) = openshift_setup();
        let indented = std::fs::read(dir.join("machineset-create-efa-m5.json")).unwrap();
        let applied = std::fs::read(dir.join("machineset-create-efa-m5-applied.json")).unwrap();
        for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
            let answer = review(endpoint, &applied, &policy, &store).unwrap();
            assert_eq!(
                String::from_utf8(answer).unwrap(),
                String::from_utf8(review(endpoint, &indented, &policy, &store).unwrap()).unwrap()
            );
        }
    }

    #[test]
    fn logged_values_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("prod-7x2kq-efa"), "prod-7x2kq-efa");
        let long = "é".repeat(200); // 400 bytes
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_LOGGED_BYTES && cut.len() >= MAX_LOGGED_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
