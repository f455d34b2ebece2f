//! The four kinds read a page at a time (`limit` and `continue`), as `kubectl get
//! --chunk-size` does: a cluster with thousands of Machines is never in memory at once.

use crate::core::TargetKind;
use crate::core::object::{
    CLUSTER_API_AWS_GROUP, CLUSTER_API_AWS_VERSION, MACHINE_GROUP, MACHINE_VERSION,
};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The resource's CRD is not installed: nothing of that kind to audit.
    #[error("not served by this cluster")]
    NotServed,
    #[error("listing {resource}: {reason}")]
    Read { resource: String, reason: String },
}

/// The resource of `kind`, as the API serves it.
pub fn resource(kind: TargetKind) -> ApiResource {
    let (group, version) = if kind.is_cluster_api() {
        (CLUSTER_API_AWS_GROUP, CLUSTER_API_AWS_VERSION)
    } else {
        (MACHINE_GROUP, MACHINE_VERSION)
    };
    ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: kind.as_str().into(),
        plural: format!("{}s", kind.as_str().to_lowercase()),
    }
}

/// `machinesets.machine.openshift.io`: how RBAC and errors name the resource.
pub fn resource_name(kind: TargetKind) -> String {
    let resource = resource(kind);
    format!("{}.{}", resource.plural, resource.group)
}

/// The pages of one kind's list.
pub struct Pages {
    api: Api<DynamicObject>,
    kind: TargetKind,
    page_size: u32,
    /// `None` before the first page; `Some("")` once the last was read.
    next: Option<String>,
}

impl Pages {
    pub fn new(
        client: &kube::Client,
        kind: TargetKind,
        namespace: Option<&str>,
        page_size: u32,
    ) -> Self {
        let resource = resource(kind);
        let api = match namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        Pages {
            api,
            kind,
            page_size,
            next: None,
        }
    }

    /// The next page's objects, each with its `apiVersion` and `kind`; `None` after the
    /// last.
    pub async fn next(&mut self) -> Result<Option<Vec<Value>>, ListError> {
        if self.next.as_deref() == Some("") {
            return Ok(None);
        }
        let mut params = ListParams::default().limit(self.page_size);
        if let Some(token) = &self.next {
            params = params.continue_token(token);
        }
        let list = self.api.list(&params).await.map_err(|error| match &error {
            kube::Error::Api(status) if status.code == 404 => ListError::NotServed,
            // The API server's own sentence, not kube's dump of the whole Status.
            kube::Error::Api(status) => ListError::Read {
                resource: resource_name(self.kind),
                reason: status.message.clone(),
            },
            _ => ListError::Read {
                resource: resource_name(self.kind),
                reason: error.to_string(),
            },
        })?;
        self.next = Some(list.metadata.continue_.unwrap_or_default());
        let (_, _, kind) = self.kind.gvk();
        let api_version = resource(self.kind).api_version;
        Ok(Some(
            list.items
                .into_iter()
                .map(|item| {
                    let mut object = serde_json::to_value(item).unwrap_or_default();
                    // Lists may leave out each item's type: the core reads it.
                    if let Some(map) = object.as_object_mut() {
                        map.entry("apiVersion")
                            .or_insert_with(|| api_version.clone().into());
                        map.entry("kind").or_insert_with(|| kind.into());
                    }
                    object
                })
                .collect(),
        ))
    }
}
