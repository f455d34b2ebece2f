//! kube-apiserver's wire format, as far as the stand-in speaks it: the paths it serves,
//! its `Status` errors, and its continue tokens.

use super::cluster::RESOURCES;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

/// A path under `/apis/{group}/{version}/`.
pub(super) struct Route<'a> {
    pub(super) api_version: &'static str,
    pub(super) plural: &'static str,
    pub(super) namespace: Option<&'a str>,
    pub(super) name: Option<&'a str>,
}

impl<'a> Route<'a> {
    pub(super) fn parse(path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (group, version, namespace, plural, name) = match segments.as_slice() {
            ["apis", group, version, plural] => (*group, *version, None, *plural, None),
            ["apis", group, version, "namespaces", ns, plural] => {
                (*group, *version, Some(*ns), *plural, None)
            }
            ["apis", group, version, "namespaces", ns, plural, name] => {
                (*group, *version, Some(*ns), *plural, Some(*name))
            }
            _ => return None,
        };
        let (api_version, plural, _) = RESOURCES.iter().find(|(api_version, known, _)| {
            *api_version == format!("{group}/{version}") && *known == plural
        })?;
        Some(Route {
            api_version,
            plural,
            namespace,
            name,
        })
    }
}

pub(super) fn group_of(api_version: &str) -> &str {
    api_version.split('/').next().unwrap()
}

pub(super) fn status_error(code: StatusCode, reason: &str, message: &str) -> Response {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16()
    });
    (code, axum::Json(status)).into_response()
}

pub(super) fn not_found(resource: &str, name: &str) -> Response {
    status_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{resource} \"{name}\" not found"),
    )
}

/// RBAC's refusal, worded as kube-apiserver words it.
pub(super) fn forbidden(method: &Method, route: &Route<'_>) -> Response {
    let verb = match (method.as_str(), route.name) {
        ("GET", None) => "list",
        ("GET", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        _ => "patch",
    };
    let group = group_of(route.api_version);
    let scope = match route.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_owned(),
    };
    status_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "{}.{group} is forbidden: User \"system:serviceaccount:machine-efa-webhook:machine-efa-webhook\" cannot {verb} resource \"{}\" in API group \"{group}\" {scope}",
            route.plural, route.plural
        ),
    )
}

/// kube-apiserver's continue token: base64 of the version and the key to start after.
pub(super) fn continue_token(
    resource_version: &str,
    (namespace, name): &(String, String),
) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": resource_version.parse::<u64>().unwrap(),
                       "start": format!("{namespace}/{name}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token.to_string())
}

pub(super) fn continue_key(token: &str) -> (String, String) {
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("a token we handed out");
    let token: Value = serde_json::from_slice(&decoded).unwrap();
    let start = token["start"].as_str().unwrap().trim_end_matches('\u{0}');
    let (namespace, name) = start.split_once('/').unwrap();
    (namespace.to_owned(), name.to_owned())
}
