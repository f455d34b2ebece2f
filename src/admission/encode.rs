//! The answer: kube-core's `AdmissionResponse` for a decision, serialised by serde,
//! and the body of a 4xx answer.

use super::decode::ADMISSION_API_VERSION;
use crate::core::{Decision, FieldError};
use base64::Engine;
use kube_core::Status;
use kube_core::admission::AdmissionResponse;
use kube_core::response::{StatusCause, StatusDetails};

/// The response AdmissionReview for `decision`: kube-core's `AdmissionResponse`,
/// serialised by serde. A denial is 403 Forbidden, as OpenShift's machine webhooks
/// answer, so that kubectl names the webhook that refused, with one cause per field
/// error.
pub(super) fn encode(uid: &str, decision: &Decision) -> Vec<u8> {
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
    use crate::core::FieldPath;
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
}
