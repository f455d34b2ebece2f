//! Where the AWS provider config lives in each kind, and reading its fields without
//! ever deserialising it into a typed struct.

use super::capability::SecurityGroupRef;
use super::field_error::{FieldError, FieldPath};
use serde_json::Value;

pub const MACHINE_GROUP: &str = "machine.openshift.io";
pub const MACHINE_VERSION: &str = "v1beta1";
pub const AWS_PROVIDER_KIND: &str = "AWSMachineProviderConfig";
pub const AWS_PROVIDER_API_VERSIONS: [&str; 2] = [
    "machine.openshift.io/v1beta1",
    "awsproviderconfig.openshift.io/v1beta1",
];
pub const ROLE_LABEL: &str = "machine.openshift.io/cluster-api-machine-role";

pub const CLUSTER_API_AWS_GROUP: &str = "infrastructure.cluster.x-k8s.io";
pub const CLUSTER_API_AWS_VERSION: &str = "v1beta2";
/// Names the Cluster an AWSMachine or AWSMachineTemplate belongs to.
pub const CLUSTER_NAME_LABEL: &str = "cluster.x-k8s.io/cluster-name";
/// Present (with any value) on Cluster API control-plane machines.
pub const CONTROL_PLANE_LABEL: &str = "cluster.x-k8s.io/control-plane";

/// The kinds this webhook decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Machine,
    MachineSet,
    /// Cluster API AWS (CAPA).
    AwsMachine,
    /// Cluster API AWS (CAPA); immutable once created.
    AwsMachineTemplate,
}

impl TargetKind {
    pub const ALL: [TargetKind; 4] = [
        TargetKind::Machine,
        TargetKind::MachineSet,
        TargetKind::AwsMachine,
        TargetKind::AwsMachineTemplate,
    ];

    /// The kind named by an AdmissionRequest's `kind`, if it is one of ours.
    pub fn from_gvk(group: &str, version: &str, kind: &str) -> Option<Self> {
        TargetKind::ALL
            .into_iter()
            .find(|target| target.gvk() == (group, version, kind))
    }

    pub fn gvk(self) -> (&'static str, &'static str, &'static str) {
        let (group, version) = if self.is_cluster_api() {
            (CLUSTER_API_AWS_GROUP, CLUSTER_API_AWS_VERSION)
        } else {
            (MACHINE_GROUP, MACHINE_VERSION)
        };
        (group, version, self.as_str())
    }

    /// The Kubernetes kind, also a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Machine => "Machine",
            TargetKind::MachineSet => "MachineSet",
            TargetKind::AwsMachine => "AWSMachine",
            TargetKind::AwsMachineTemplate => "AWSMachineTemplate",
        }
    }

    pub fn is_cluster_api(self) -> bool {
        matches!(
            self,
            TargetKind::AwsMachine | TargetKind::AwsMachineTemplate
        )
    }

    /// The path of the map holding `networkInterfaceType` and `instanceType`: the
    /// provider config's value for the Machine API, the machine spec for Cluster API.
    pub fn provider_config_path(self) -> FieldPath {
        match self {
            TargetKind::Machine => FieldPath::fixed(&["spec", "providerSpec", "value"]),
            TargetKind::MachineSet => {
                FieldPath::fixed(&["spec", "template", "spec", "providerSpec", "value"])
            }
            TargetKind::AwsMachine => FieldPath::fixed(&["spec"]),
            TargetKind::AwsMachineTemplate => FieldPath::fixed(&["spec", "template", "spec"]),
        }
    }

    /// Where the machines' labels are, most telling first: a template's labels are
    /// what its machines get.
    fn label_paths(self) -> &'static [&'static [&'static str]] {
        match self {
            TargetKind::Machine | TargetKind::AwsMachine => &[&["metadata", "labels"]],
            TargetKind::MachineSet | TargetKind::AwsMachineTemplate => &[
                &["spec", "template", "metadata", "labels"],
                &["metadata", "labels"],
            ],
        }
    }
}

/// The AWS provider config of an object, with the fields the rules read.
#[derive(Debug)]
pub struct ProviderConfig<'a> {
    pub path: FieldPath,
    pub network_interface_type: Option<&'a Value>,
    pub instance_type: Option<&'a Value>,
    pub region: Option<&'a Value>,
    /// The availability zone's name, where the object gives it.
    pub zone: Option<Field<'a>>,
    pub placement_group: Option<&'a Value>,
    /// Machine API only: the instance's security groups (for Cluster API, the cluster
    /// adds its own, which the object does not show).
    pub security_groups: Option<&'a Value>,
}

/// A field's value and where it is.
#[derive(Debug, PartialEq)]
pub struct Field<'a> {
    pub path: FieldPath,
    pub value: &'a Value,
}

impl ProviderConfig<'_> {
    pub fn field_path(&self, field: &'static str) -> FieldPath {
        self.path.child(field)
    }
}

/// Finds the AWS provider config in `object`. `Ok(None)`: there is none, or it belongs to
/// another provider; `Err`: the object is malformed on the way to it.
pub fn find_provider_config(
    object: &Value,
    kind: TargetKind,
) -> Result<Option<ProviderConfig<'_>>, FieldError> {
    let path = kind.provider_config_path();
    let mut current = object;
    for (depth, segment) in path.segments().iter().enumerate() {
        if !current.is_object() {
            let walked = FieldPath::new(path.segments()[..depth].iter().copied());
            return Err(FieldError::invalid(walked, current, "must be an object"));
        }
        match present(current, segment) {
            Some(next) => current = next,
            None => return Ok(None),
        }
    }
    let config = current;
    if !config.is_object() {
        return Err(FieldError::invalid(path, config, "must be an object"));
    }
    if kind.is_cluster_api() {
        // The spec is the AWS machine itself; the region is the AWSCluster's.
        return Ok(Some(ProviderConfig {
            network_interface_type: present(config, "networkInterfaceType"),
            instance_type: present(config, "instanceType"),
            region: None,
            zone: cluster_api_zone(config, &path),
            placement_group: present(config, "placementGroupName"),
            security_groups: None,
            path,
        }));
    }
    let is_aws = config["kind"] == AWS_PROVIDER_KIND
        && config["apiVersion"]
            .as_str()
            .is_some_and(|v| AWS_PROVIDER_API_VERSIONS.contains(&v));
    if !is_aws {
        return Ok(None);
    }
    let (region, zone) = match present(config, "placement") {
        None => (None, None),
        Some(placement) if placement.is_object() => (
            present(placement, "region"),
            present(placement, "availabilityZone").map(|value| Field {
                path: path.child("placement").child("availabilityZone"),
                value,
            }),
        ),
        Some(other) => {
            return Err(FieldError::invalid(
                path.child("placement"),
                other,
                "must be an object",
            ));
        }
    };
    Ok(Some(ProviderConfig {
        network_interface_type: present(config, "networkInterfaceType"),
        instance_type: present(config, "instanceType"),
        region,
        zone,
        placement_group: present(config, "placementGroupName"),
        security_groups: present(config, "securityGroups"),
        path,
    }))
}

/// The zone of a Cluster API machine, where the object itself says it: `failureDomain`
/// (older AWSMachines), else a subnet filter on the zone with one value.
fn cluster_api_zone<'a>(spec: &'a Value, path: &FieldPath) -> Option<Field<'a>> {
    if let Some(value) = present(spec, "failureDomain") {
        return Some(Field {
            path: path.child("failureDomain"),
            value,
        });
    }
    let filters = member(spec, &["subnet", "filters"])?.as_array()?;
    filters.iter().find_map(|filter| {
        let names_zone = matches!(
            filter["name"].as_str(),
            Some("availability-zone" | "availabilityZone")
        );
        match filter["values"].as_array()?.as_slice() {
            [value] if names_zone => Some(Field {
                path: path.child("subnet").child("filters"),
                value,
            }),
            _ => None,
        }
    })
}

/// The security groups a provider config names, as the machine controller reads each
/// entry: its `id` if it has one, else its `filters`. `None` when the list is not one
/// the controller could read.
pub fn security_group_refs(value: &Value) -> Option<Vec<SecurityGroupRef>> {
    let mut refs = Vec::new();
    for entry in value.as_array()? {
        if let Some(id) = present(entry, "id") {
            refs.push(SecurityGroupRef::Id(id.as_str()?.to_owned()));
        } else if let Some(filters) = present(entry, "filters") {
            let mut pairs = Vec::new();
            for filter in filters.as_array()? {
                let name = filter.get("name")?.as_str()?.to_owned();
                let values = filter
                    .get("values")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|value| value.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?;
                pairs.push((name, values));
            }
            refs.push(SecurityGroupRef::Filters(pairs));
        }
    }
    Some(refs)
}

/// A present, non-null member of an object.
pub fn present<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key).filter(|member| !member.is_null())
}

/// The member at `path`.
pub fn member<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(key))
}

/// Reads an optional string field: `Ok(None)` when absent, null or empty.
pub fn optional_string(
    value: Option<&Value>,
    path: impl FnOnce() -> FieldPath,
) -> Result<Option<&str>, FieldError> {
    match value {
        None => Ok(None),
        Some(value) => match value.as_str() {
            Some("") => Ok(None),
            Some(text) => Ok(Some(text)),
            None => Err(FieldError::invalid(path(), value, "must be a string")),
        },
    }
}

/// The object's name, or its `generateName` when the name is still to be made.
pub fn display_name(object: &Value) -> Option<&str> {
    let metadata = object.get("metadata")?;
    metadata
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| metadata.get("generateName").and_then(Value::as_str))
}

pub fn namespace(object: &Value) -> Option<&str> {
    member(object, &["metadata", "namespace"])?.as_str()
}

pub fn is_being_deleted(object: &Value) -> bool {
    member(object, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}

fn label<'a>(object: &'a Value, kind: TargetKind, name: &str) -> Option<&'a Value> {
    kind.label_paths()
        .iter()
        .find_map(|labels| member(object, labels)?.get(name))
}

/// How the object says it is a control-plane machine, if it does: the Machine API's
/// role label `master`, or Cluster API's control-plane label.
pub fn control_plane_marker(object: &Value, kind: TargetKind) -> Option<&'static str> {
    if kind.is_cluster_api() {
        label(object, kind, CONTROL_PLANE_LABEL).map(|_| "label cluster.x-k8s.io/control-plane")
    } else {
        (label(object, kind, ROLE_LABEL)?.as_str() == Some("master")).then_some("role master")
    }
}

/// The Cluster API cluster an object belongs to, from its own labels.
pub fn cluster_name(object: &Value) -> Option<&str> {
    member(object, &["metadata", "labels"])?
        .get(CLUSTER_NAME_LABEL)?
        .as_str()
        .filter(|name| !name.is_empty())
}

/// An annotation of the object itself.
pub fn annotation<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    member(object, &["metadata", "annotations"])?.get(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aws(value: Value) -> Value {
        let mut config = json!({"apiVersion": "machine.openshift.io/v1beta1", "kind": "AWSMachineProviderConfig"});
        config
            .as_object_mut()
            .unwrap()
            .extend(value.as_object().unwrap().clone());
        json!({"spec": {"providerSpec": {"value": config}}})
    }

    #[test]
    fn finds_fields_of_an_aws_config() {
        let object = aws(
            json!({"instanceType": "p4d.24xlarge", "networkInterfaceType": "EFA", "placement": {"region": "us-east-1"}}),
        );
        let config = find_provider_config(&object, TargetKind::Machine)
            .unwrap()
            .unwrap();
        assert_eq!(config.instance_type, Some(&json!("p4d.24xlarge")));
        assert_eq!(config.region, Some(&json!("us-east-1")));
        assert_eq!(
            config.field_path("instanceType").to_string(),
            "spec.providerSpec.value.instanceType"
        );
    }

    #[test]
    fn other_providers_and_missing_configs_are_not_ours() {
        let gcp = json!({"spec": {"providerSpec": {"value": {"apiVersion": "machine.openshift.io/v1beta1", "kind": "GCPMachineProviderSpec"}}}});
        assert!(
            find_provider_config(&gcp, TargetKind::Machine)
                .unwrap()
                .is_none()
        );
        assert!(
            find_provider_config(&json!({"spec": {}}), TargetKind::Machine)
                .unwrap()
                .is_none()
        );
        assert!(
            find_provider_config(&json!({}), TargetKind::MachineSet)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn malformed_containers_are_named() {
        let err =
            find_provider_config(&json!({"spec": {"providerSpec": "x"}}), TargetKind::Machine)
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"spec.providerSpec: Invalid value: "x": must be an object"#
        );
        let err = find_provider_config(
            &json!({"spec": {"providerSpec": {"value": 3}}}),
            TargetKind::Machine,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.providerSpec.value: Invalid value: 3: must be an object"
        );
        let err =
            find_provider_config(&aws(json!({"placement": []})), TargetKind::Machine).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"spec.providerSpec.value.placement: Invalid value: "array": must be an object"#
        );
    }
}
