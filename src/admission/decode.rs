//! The request envelope: what of a pruned AdmissionReview the answer needs, read
//! without trusting its types, and why a body cannot be answered at all.

use crate::core::field_error::display_value;
use crate::core::object::present;
use serde_json::Value;

pub const ADMISSION_API_VERSION: &str = "admission.k8s.io/v1";

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
pub(super) struct Envelope<'a> {
    pub(super) uid: &'a str,
    pub(super) group: &'a str,
    pub(super) version: &'a str,
    pub(super) kind: &'a str,
    /// As sent: `None` when it is not a string.
    pub(super) operation: Option<&'a str>,
    pub(super) name: &'a str,
    pub(super) namespace: &'a str,
    pub(super) object: Option<&'a Value>,
    pub(super) old_object: Option<&'a Value>,
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

pub(super) fn decode(review: &Value) -> Result<Envelope<'_>, BadRequest> {
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
    Ok(Envelope {
        uid,
        group,
        version,
        kind,
        operation: str_at(request, "operation"),
        name: str_at(request, "name").unwrap_or(""),
        namespace: str_at(request, "namespace").unwrap_or(""),
        object: present(request, "object"),
        old_object: present(request, "oldObject"),
    })
}
