//! kube-apiserver's view of the cluster: the objects it stores, what it refuses or does
//! not serve, and how it answers each request (paged lists, label selectors, create,
//! replace and delete with resourceVersions).

use super::wire::{
    Route, continue_key, continue_token, forbidden, group_of, not_found, status_error,
};
use super::{Hold, Measured, Recorded};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const MACHINE_API: &str = "machine.openshift.io/v1beta1";
pub(crate) const CLUSTER_API: &str = "infrastructure.cluster.x-k8s.io/v1beta2";
pub(crate) const POLICY_REPORTS: &str = "wgpolicyk8s.io/v1alpha2";

/// The resources the stand-in serves: `(apiVersion, plural, list kind)`.
pub(super) const RESOURCES: [(&str, &str, &str); 6] = [
    (MACHINE_API, "machines", "MachineList"),
    (MACHINE_API, "machinesets", "MachineSetList"),
    (CLUSTER_API, "awsmachines", "AWSMachineList"),
    (CLUSTER_API, "awsmachinetemplates", "AWSMachineTemplateList"),
    (CLUSTER_API, "awsclusters", "AWSClusterList"),
    (POLICY_REPORTS, "policyreports", "PolicyReportList"),
];

/// How a resource whose CRD is not installed answers: kube-apiserver sends a `Status`;
/// a proxy or an older server in front of it may send Go's plain-text 404.
#[derive(Clone, Copy)]
pub(crate) enum NotInstalled {
    Status,
    PlainText,
}

/// kube-apiserver's view of the cluster, as far as these tests need it.
#[derive(Default)]
pub(crate) struct Cluster {
    /// Objects by resource, keyed as etcd keys them (namespace, then name), which is
    /// also the order lists are served in.
    objects: BTreeMap<&'static str, BTreeMap<(String, String), Value>>,
    /// Resources whose every request is refused, as when RBAC grants no `list`.
    pub(crate) forbidden: BTreeSet<&'static str>,
    pub(crate) not_installed: BTreeMap<&'static str, NotInstalled>,
    /// How many resourceVersions were handed out (see [`Cluster::resource_version`]).
    versions: u64,
    pub(super) requests: Vec<Recorded>,
    pub(crate) measured: Option<Measured>,
    pub(super) hold: Option<Hold>,
}

impl Cluster {
    /// The cluster's current resourceVersion, as a list carries it.
    fn resource_version(&self) -> String {
        (4_200_000 + self.versions).to_string()
    }

    fn next_resource_version(&mut self) -> String {
        self.versions += 1;
        self.resource_version()
    }

    /// Stores `object` as the API server would have: with a uid, a resourceVersion and
    /// a creation time (an AdmissionReview's object has none of them yet).
    pub(crate) fn add(&mut self, mut object: Value) {
        let plural = plural_of(&object);
        let (namespace, name) = key_of(&object);
        let metadata = &mut object["metadata"];
        if metadata["uid"].is_null() {
            metadata["uid"] = uid_for(&format!("{plural}/{namespace}/{name}")).into();
        }
        if metadata["creationTimestamp"].is_null() {
            metadata["creationTimestamp"] = "2026-10-14T09:12:44Z".into();
        }
        if metadata["generation"].is_null() {
            metadata["generation"] = 1.into();
        }
        metadata["resourceVersion"] = self.next_resource_version().into();
        self.objects
            .entry(plural)
            .or_default()
            .insert((namespace, name), object);
    }

    pub(super) fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(plural)?
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Changes a stored object as an update through the API would.
    pub(crate) fn edit(
        &mut self,
        plural: &str,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) {
        let version = self.next_resource_version();
        let object = self
            .objects
            .get_mut(plural)
            .and_then(|objects| objects.get_mut(&(namespace.to_owned(), name.to_owned())))
            .unwrap_or_else(|| panic!("no {plural} {namespace}/{name}"));
        change(object);
        object["metadata"]["resourceVersion"] = version.into();
    }

    /// The answer to one request.
    pub(super) fn respond(
        &mut self,
        method: &Method,
        path: &str,
        query: &BTreeMap<String, String>,
        body: Option<Value>,
    ) -> Response {
        let Some(route) = Route::parse(path) else {
            return status_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        };
        if let Some(missing) = self.not_installed.get(route.plural) {
            return match missing {
                NotInstalled::Status => status_error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource",
                ),
                NotInstalled::PlainText => {
                    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
                }
            };
        }
        if self.forbidden.contains(route.plural) {
            return forbidden(method, &route);
        }
        let resource = format!("{}.{}", route.plural, group_of(route.api_version));
        match (method.clone(), route.name) {
            (Method::GET, None) => self.list(&route, query),
            (Method::GET, Some(name)) => {
                match self.get(route.plural, route.namespace.unwrap_or_default(), name) {
                    Some(object) => (StatusCode::OK, axum::Json(object.clone())).into_response(),
                    None => not_found(&resource, name),
                }
            }
            (Method::POST, None) => {
                let mut object = body.expect("a create carries the object");
                let namespace = route.namespace.expect("created in a namespace");
                object["metadata"]["namespace"] = namespace.into();
                let name = object["metadata"]["name"].as_str().unwrap().to_owned();
                if self.get(route.plural, namespace, &name).is_some() {
                    return status_error(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        &format!("{resource} \"{name}\" already exists"),
                    );
                }
                self.add(object);
                let stored = self.get(route.plural, namespace, &name).unwrap().clone();
                (StatusCode::CREATED, axum::Json(stored)).into_response()
            }
            (Method::PUT, Some(name)) => {
                let mut object = body.expect("a replace carries the object");
                let namespace = route.namespace.expect("replaced in a namespace");
                let Some(stored) = self.get(route.plural, namespace, name) else {
                    return not_found(&resource, name);
                };
                // Optimistic concurrency: a replace must name the version it replaces.
                if object["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"] {
                    return status_error(
                        StatusCode::CONFLICT,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                        ),
                    );
                }
                for kept in ["uid", "creationTimestamp"] {
                    object["metadata"][kept] = stored["metadata"][kept].clone();
                }
                self.edit(route.plural, namespace, name, |stored| *stored = object);
                let stored = self.get(route.plural, namespace, name).unwrap().clone();
                (StatusCode::OK, axum::Json(stored)).into_response()
            }
            (Method::DELETE, Some(name)) => {
                let namespace = route.namespace.expect("deleted in a namespace");
                let key = (namespace.to_owned(), name.to_owned());
                let Some(gone) = self.objects.entry(route.plural).or_default().remove(&key) else {
                    return not_found(&resource, name);
                };
                let status = json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "group": group_of(route.api_version),
                                "kind": route.plural, "uid": gone["metadata"]["uid"]}
                });
                (StatusCode::OK, axum::Json(status)).into_response()
            }
            _ => status_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            ),
        }
    }

    /// One page of a list: `limit` objects after the `continue` token's key, with a
    /// token for the rest when there is more.
    fn list(&mut self, route: &Route<'_>, query: &BTreeMap<String, String>) -> Response {
        let selector: Vec<(&str, &str)> = query
            .get("labelSelector")
            .map(|s| {
                s.split(',')
                    .filter_map(|term| term.split_once('='))
                    .collect()
            })
            .unwrap_or_default();
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(usize::MAX);
        let after = query.get("continue").map(|token| continue_key(token));
        let resource_version = self.resource_version();
        let empty = BTreeMap::new();
        let mut matching = self
            .objects
            .get(route.plural)
            .unwrap_or(&empty)
            .iter()
            .filter(|((namespace, _), _)| route.namespace.is_none_or(|ns| ns == namespace))
            .filter(|(key, _)| after.as_ref().is_none_or(|after| *key > after))
            .filter(|(_, object)| {
                selector
                    .iter()
                    .all(|(label, value)| object["metadata"]["labels"][*label] == *value)
            });
        let page: Vec<(&(String, String), &Value)> = matching.by_ref().take(limit).collect();
        let more = matching.next().is_some();
        let mut metadata = json!({"resourceVersion": resource_version});
        if more {
            let (last, _) = page.last().expect("a full page before more");
            metadata["continue"] = continue_token(&resource_version, last).into();
        }
        let list_kind = RESOURCES
            .iter()
            .find(|(_, plural, _)| *plural == route.plural)
            .map(|(_, _, kind)| *kind)
            .unwrap();
        let body = json!({
            "apiVersion": route.api_version,
            "kind": list_kind,
            "metadata": metadata,
            "items": page.iter().map(|(_, object)| *object).collect::<Vec<_>>(),
        });
        if route.plural == "machines" && !more {
            self.measure(|m, kib| m.at_last_machine_page_kib = Some(kib));
        }
        (StatusCode::OK, axum::Json(body)).into_response()
    }

    pub(super) fn measure(&mut self, record: impl FnOnce(&mut Measured, u64)) {
        if let Some(measured) = &mut self.measured
            && let Some(kib) = peak_rss_kib(measured.pid)
        {
            record(measured, kib);
        }
    }
}

/// `VmHWM` of `/proc/<pid>/status`: the peak resident set of the process so far.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn plural_of(object: &Value) -> &'static str {
    let kind = object["kind"].as_str().expect("an object has a kind");
    let plural = format!("{}s", kind.to_lowercase());
    RESOURCES
        .iter()
        .map(|(_, plural, _)| *plural)
        .find(|known| *known == plural)
        .unwrap_or_else(|| panic!("not served here: {kind}"))
}

fn key_of(object: &Value) -> (String, String) {
    let text = |field: &str| object["metadata"][field].as_str().unwrap().to_owned();
    (text("namespace"), text("name"))
}

/// A stable uid for `seed`, shaped as the API server's (version 4).
pub(crate) fn uid_for(seed: &str) -> String {
    // FNV-1a, twice with different bases, for 128 bits.
    let hash = |basis: u64| {
        seed.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x6c62_272e_07bb_0142));
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}
