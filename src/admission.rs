//! AdmissionReview in and out: decode the request tolerantly, call the core, encode
//! the answer. A malformed request envelope is a [`BadRequest`] (HTTP 400); a
//! well-formed review with a malformed object is a denial that echoes the uid.

use crate::capabilities::CapabilityStore;
use crate::cluster::ClusterRegions;
use crate::core::field_error::display_value;
use crate::core::object::present;
use crate::core::{self, Decision, FieldError, FieldPath, Operation, Policy, TargetKind};
use crate::jsontext::{write_json_escaped, write_json_str};
use base64::Engine;
use serde_json::Value;
use std::fmt::{self, Write};
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
    let errors: Vec<RenderedError> = decision.errors.iter().map(RenderedError::new).collect();
    let body = encode(envelope.uid, &decision, &errors);
    let duration = started.elapsed();
    log_decision(
        endpoint,
        &envelope,
        &errors,
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
    errors: &[RenderedError],
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

/// The errors as a JSON array of strings (JSON's escaping reads like `Debug`'s here and
/// costs a fraction of it), written as the log line is.
struct ErrorList<'a>(&'a [RenderedError]);

impl fmt::Display for ErrorList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_bracketed(f, self.0, ",", |f, error| {
            write!(f, "\"{}\"", error.escaped)
        })
    }
}

/// `items` in square brackets, each written by `each`, `separator` between them.
fn write_bracketed<W: Write + ?Sized, T>(
    out: &mut W,
    items: impl IntoIterator<Item = T>,
    separator: &str,
    mut each: impl FnMut(&mut W, T) -> fmt::Result,
) -> fmt::Result {
    out.write_char('[')?;
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.write_str(separator)?;
        }
        each(out, item)?;
    }
    out.write_char(']')
}

/// A field error as the answer and the log line state it, `field: body` as Kubernetes
/// prints a field error, rendered once into one buffer, already escaped as the inside
/// of a JSON string: both write it only inside JSON strings.
struct RenderedError {
    escaped: String,
    /// Where the field ends in `escaped`.
    field_end: usize,
    reason: &'static str,
}

impl RenderedError {
    fn new(error: &FieldError) -> Self {
        let mut escaped = String::with_capacity(256);
        // Writing to a String cannot fail.
        let _ = write_json_escaped(&mut escaped, &error.path);
        let field_end = escaped.len();
        escaped.push_str(": ");
        let _ = write_json_escaped(&mut escaped, error.body());
        RenderedError {
            escaped,
            field_end,
            reason: error.cause_reason(),
        }
    }

    fn escaped_field(&self) -> &str {
        &self.escaped[..self.field_end]
    }

    /// The error without its path: a cause's message.
    fn escaped_body(&self) -> &str {
        &self.escaped[self.field_end + 2..]
    }
}

/// The message of a denial, escaped: the one error, or all of them as the API server
/// lists several.
fn write_escaped_denial_message(out: &mut String, errors: &[RenderedError]) -> fmt::Result {
    match errors {
        [one] => out.push_str(&one.escaped),
        many => write_bracketed(out, many, ", ", |out, error| {
            out.push_str(&error.escaped);
            Ok(())
        })?,
    }
    Ok(())
}

/// The response AdmissionReview for `decision`, whose errors are `errors`: kube-core's
/// `AdmissionResponse` as serde writes it (a test holds the two byte for byte), written
/// straight from the decision. A denial is 403 Forbidden, as OpenShift's machine
/// webhooks answer, so that kubectl names the webhook that refused, with one cause per
/// field error.
fn encode(uid: &str, decision: &Decision, errors: &[RenderedError]) -> Vec<u8> {
    let patch = (decision.allowed() && !decision.patch.0.is_empty()).then(|| {
        let patch = serde_json::to_vec(&decision.patch).expect("a JSON patch always serialises");
        // The API server wants `patch` as base64 (a Go []byte).
        base64::engine::general_purpose::STANDARD.encode(patch)
    });
    // Room for all of it, escapes aside: one allocation.
    let room = 256
        + uid.len()
        + errors
            .iter()
            .map(|e| 2 * e.escaped.len() + 64)
            .sum::<usize>()
        + decision.warnings.iter().map(|w| w.len() + 4).sum::<usize>()
        + patch.as_ref().map_or(0, String::len);
    let mut out = String::with_capacity(room);
    // Writing to a String cannot fail.
    let _ = write_response(&mut out, uid, decision, errors, patch.as_deref());
    out.into_bytes()
}

fn write_response(
    out: &mut String,
    uid: &str,
    decision: &Decision,
    errors: &[RenderedError],
    patch: Option<&str>,
) -> fmt::Result {
    out.push_str(r#"{"apiVersion":""#);
    out.push_str(ADMISSION_API_VERSION);
    out.push_str(r#"","kind":"AdmissionReview","response":{"uid":"#);
    write_json_str(out, uid)?;
    if decision.allowed() {
        out.push_str(r#","allowed":true,"status":{}"#);
    } else {
        out.push_str(r#","allowed":false,"status":{"status":"Failure","code":403,"message":"#);
        out.push('"');
        write_escaped_denial_message(out, errors)?;
        out.push('"');
        out.push_str(r#","reason":"Forbidden","details":{"causes":"#);
        write_bracketed(out, errors, ",", |out, error| {
            out.push_str(r#"{"reason":"#);
            write_json_str(out, error.reason)?;
            out.push_str(r#","message":""#);
            out.push_str(error.escaped_body());
            out.push_str(r#"","field":""#);
            out.push_str(error.escaped_field());
            out.push_str(r#""}"#);
            Ok(())
        })?;
        out.push_str("}}");
    }
    if patch.is_some() {
        out.push_str(r#","patchType":"JSONPatch""#);
    }
    if !decision.warnings.is_empty() {
        out.push_str(r#","warnings":"#);
        write_bracketed(out, &decision.warnings, ",", |out, warning| {
            write_json_str(out, warning)
        })?;
    }
    if let Some(patch) = patch {
        out.push_str(r#","patch":"#);
        write_json_str(out, patch)?;
    }
    out.push_str("}}");
    Ok(())
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
    use kube_core::Status;
    use kube_core::admission::AdmissionResponse;
    use kube_core::response::{StatusCause, StatusDetails, StatusSummary};

    /// kube-core's `AdmissionResponse` for `decision`, serialised by serde: what
    /// [`encode`] writes, byte for byte. The messages are made here from the field
    /// errors, as Kubernetes prints them, not by the code under test.
    fn kube_core_encoding(uid: &str, decision: Decision) -> Vec<u8> {
        let messages: Vec<String> = decision
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.body()))
            .collect();
        let message = match messages.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        let mut response = AdmissionResponse::invalid("");
        response.uid = uid.to_owned();
        response.allowed = decision.allowed();
        response.result = if decision.allowed() {
            Status::default()
        } else {
            let mut status = Status::failure(&message, "Forbidden");
            status.status = Some(StatusSummary::Failure);
            status.code = 403;
            status.details = Some(StatusDetails {
                name: String::new(),
                group: String::new(),
                kind: String::new(),
                uid: String::new(),
                causes: decision
                    .errors
                    .iter()
                    .map(|e| StatusCause {
                        reason: e.cause_reason().to_owned(),
                        message: e.body().to_string(),
                        field: e.path.to_string(),
                    })
                    .collect(),
                retry_after_seconds: 0,
            });
            status
        };
        if !decision.warnings.is_empty() {
            response.warnings = Some(decision.warnings);
        }
        let mut patch = None;
        if response.allowed && !decision.patch.0.is_empty() {
            response = response.with_patch(decision.patch).unwrap();
            // kube-core writes `patch` as an array of numbers (kube-rs/kube#1781); the
            // API server wants base64.
            patch = response
                .patch
                .take()
                .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        #[derive(serde::Serialize)]
        struct Review<'a> {
            #[serde(rename = "apiVersion")]
            api_version: &'static str,
            kind: &'static str,
            response: Response<'a>,
        }
        #[derive(serde::Serialize)]
        struct Response<'a> {
            #[serde(flatten)]
            response: &'a AdmissionResponse,
            #[serde(skip_serializing_if = "Option::is_none")]
            patch: Option<String>,
        }
        serde_json::to_vec(&Review {
            api_version: ADMISSION_API_VERSION,
            kind: "AdmissionReview",
            response: Response {
                response: &response,
                patch,
            },
        })
        .unwrap()
    }

    #[test]
    fn answers_are_kube_cores_admission_response_byte_for_byte() {
        let error = |field: &'static str, value: &str| {
            FieldError::unsupported(FieldPath::new([field]), value, &["EFA", "ENA"])
                .with_hint(Some("did you mean \"EFA\"?".into()))
        };
        let patch = json_patch::Patch(vec![PatchOperation::Add(AddOperation {
            path: FieldPath::new(["spec", "networkInterfaceType"]).to_pointer(),
            value: "ENA".into(),
        })]);
        let warning =
            "EFA on \"p4d.24xlarge\" needs a security group\tthat allows all traffic".to_owned();
        let decisions = [
            Decision::default(),
            Decision {
                warnings: vec![warning.clone(), "é \u{1} \\".into()],
                ..Decision::default()
            },
            Decision {
                patch: patch.clone(),
                warnings: vec![warning.clone()],
                ..Decision::default()
            },
            Decision {
                errors: vec![error("networkInterfaceType", "efa")],
                ..Decision::default()
            },
            Decision {
                // A denial carries no patch, but keeps its warnings.
                patch,
                // A field name that JSON escapes, as the split of field and body must survive.
                errors: vec![
                    error("a", "x\"y"),
                    error("b", "\n"),
                    error("q\"uote\\ é", "\\"),
                ],
                warnings: vec![warning],
                ..Decision::default()
            },
        ];
        for uid in ["cdf6c947-b21d-4703-ae6d-29ae24454af8", "q\"uote\\ é"] {
            for decision in &decisions {
                let errors: Vec<RenderedError> =
                    decision.errors.iter().map(RenderedError::new).collect();
                let ours = encode(uid, decision, &errors);
                let theirs = kube_core_encoding(uid, decision.clone());
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    String::from_utf8(theirs).unwrap()
                );
            }
        }
    }

    #[test]
    fn the_log_lines_error_list_is_a_json_array_of_the_errors_as_kubernetes_prints_them() {
        let errors = [
            FieldError::unsupported(FieldPath::new(["spec", "q\"uote\\"]), "x\"y\n", &["EFA"]),
            FieldError::unsupported(FieldPath::new(["b"]), "é\u{1}", &["ENA"]),
        ];
        let rendered: Vec<RenderedError> = errors.iter().map(RenderedError::new).collect();
        let listed: Vec<String> = serde_json::from_str(&ErrorList(&rendered).to_string()).unwrap();
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
