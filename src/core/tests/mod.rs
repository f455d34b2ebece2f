//! The rules as tables: the Machine API cases run for Machine and MachineSet, the
//! Cluster API cases for AWSMachine and AWSMachineTemplate. This file holds the
//! builders they share.

mod check_as_create;
mod cluster_api;
mod launch;
mod mutate;
mod validate;

use super::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

fn provenance() -> Provenance {
    Provenance {
        source: SourceKind::Embedded,
        fetched_at: "2026-11-25T00:00:00Z".into(),
        stale_reason: None,
    }
}

fn instance(efa: bool, vcpus: u32) -> InstanceTypeInfo {
    InstanceTypeInfo {
        efa_supported: efa,
        maximum_efa_interfaces: u32::from(efa),
        vcpus,
        memory_mib: u64::from(vcpus) * 4096,
        network_performance: "Up to 10 Gigabit".into(),
    }
}

/// A small table shaped like the real one: us-east-1 lacks hpc6a, us-east-2 has it.
fn table() -> CapabilityTable {
    let types = [
        ("m5.2xlarge", false, 8),
        ("m5.xlarge", false, 4),
        ("m5n.24xlarge", true, 96),
        ("m5dn.24xlarge", true, 96),
        ("m5zn.12xlarge", true, 48),
        ("c5n.18xlarge", true, 72),
        ("c5n.9xlarge", true, 36),
        ("p4d.24xlarge", true, 96),
        ("hpc6a.48xlarge", true, 96),
        ("r5n.24xlarge", true, 96),
    ];
    let instance_types: HashMap<_, _> = types
        .iter()
        .map(|(name, efa, vcpus)| (name.to_string(), instance(*efa, *vcpus)))
        .collect();
    let region = |exclude: &[&str]| RegionOfferings {
        zones: BTreeMap::new(),
        offered: types
            .iter()
            .map(|t| t.0.to_string())
            .filter(|t| !exclude.contains(&t.as_str()))
            .collect::<HashSet<_>>(),
        provenance: provenance(),
    };
    CapabilityTable::new(
        instance_types,
        HashMap::from([
            ("us-east-1".to_string(), region(&["hpc6a.48xlarge"])),
            ("us-east-2".to_string(), region(&[])),
        ]),
    )
}

fn policy(spelling: Spelling) -> Policy {
    Policy {
        spelling,
        unknown_instance_type: UnknownInstanceType::Warn,
        default_region: "us-east-1".into(),
    }
}

/// Builds an object of `kind` whose AWS provider config (for Cluster API, the machine
/// spec) has `fields` merged in; a null field is removed.
fn object(kind: TargetKind, fields: Value) -> Value {
    if kind.is_cluster_api() {
        return cluster_api_object(kind, fields);
    }
    let mut config = json!({
        "apiVersion": "machine.openshift.io/v1beta1",
        "kind": "AWSMachineProviderConfig",
        "ami": {"id": "ami-0c1b6c4d7ee5f4ad8"},
        "instanceType": "m5.2xlarge",
        "placement": {"availabilityZone": "us-east-1a", "region": "us-east-1"},
        "credentialsSecret": {"name": "aws-cloud-credentials"},
        "userDataSecret": {"name": "worker-user-data"},
    });
    for (k, v) in fields.as_object().unwrap() {
        if v.is_null() {
            config.as_object_mut().unwrap().remove(k);
        } else {
            config[k] = v.clone();
        }
    }
    let labels = json!({"machine.openshift.io/cluster-api-cluster": "demo-x7k2p",
                        "machine.openshift.io/cluster-api-machine-role": "worker"});
    match kind {
        TargetKind::Machine => json!({
            "apiVersion": "machine.openshift.io/v1beta1", "kind": "Machine",
            "metadata": {"name": "demo-x7k2p-worker-a-abcde", "namespace": "openshift-machine-api", "labels": labels},
            "spec": {"providerSpec": {"value": config}}
        }),
        TargetKind::MachineSet => json!({
            "apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineSet",
            "metadata": {"name": "demo-x7k2p-worker-a", "namespace": "openshift-machine-api", "labels": labels},
            "spec": {"replicas": 1, "template": {"metadata": {"labels": labels}, "spec": {"providerSpec": {"value": config}}}}
        }),
        TargetKind::AwsMachine | TargetKind::AwsMachineTemplate => unreachable!(),
    }
}

/// A Cluster API AWSMachine or AWSMachineTemplate of cluster `capi-prod` as clusterctl
/// templates make them.
fn cluster_api_object(kind: TargetKind, fields: Value) -> Value {
    let mut spec = json!({
        "ami": {"id": "ami-0c1b6c4d7ee5f4ad8"},
        "iamInstanceProfile": "nodes.cluster-api-provider-aws.sigs.k8s.io",
        "instanceType": "m5.2xlarge",
        "sshKeyName": "default",
        "cloudInit": {"insecureSkipSecretsManager": false},
    });
    for (k, v) in fields.as_object().unwrap() {
        if v.is_null() {
            spec.as_object_mut().unwrap().remove(k);
        } else {
            spec[k] = v.clone();
        }
    }
    let labels = json!({"cluster.x-k8s.io/cluster-name": "capi-prod"});
    match kind {
        TargetKind::AwsMachine => json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSMachine",
            "metadata": {"name": "capi-prod-md-0-x7k2p-abcde", "namespace": "default", "labels": labels},
            "spec": spec
        }),
        TargetKind::AwsMachineTemplate => json!({
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSMachineTemplate",
            "metadata": {"name": "capi-prod-md-0", "namespace": "default", "labels": labels},
            "spec": {"template": {"spec": spec}}
        }),
        TargetKind::Machine | TargetKind::MachineSet => unreachable!(),
    }
}

fn prefix(kind: TargetKind) -> String {
    kind.provider_config_path().to_string()
}

fn request<'a>(
    kind: TargetKind,
    op: Operation,
    object: Option<&'a Value>,
    old: Option<&'a Value>,
) -> Request<'a> {
    let (group, version, kind) = kind.gvk();
    Request {
        group,
        version,
        kind,
        operation: op,
        object,
        old_object: old,
        cluster_region: None,
    }
}

const KINDS: [TargetKind; 2] = [TargetKind::Machine, TargetKind::MachineSet];
const CLUSTER_API_KINDS: [TargetKind; 2] = [TargetKind::AwsMachine, TargetKind::AwsMachineTemplate];

/// Applies a decision's patch, as the API server would.
fn patched(object: &Value, decision: &Decision) -> Value {
    let mut out = object.clone();
    json_patch::patch(&mut out, &decision.patch).unwrap();
    out
}

fn nit(object: &Value, kind: TargetKind) -> Option<&Value> {
    let pointer = kind
        .provider_config_path()
        .child("networkInterfaceType")
        .to_pointer();
    object.pointer(pointer.as_str())
}

/// Runs `/validate` and checks what every answer must satisfy.
fn run_validate(
    kind: TargetKind,
    op: Operation,
    obj: &Value,
    old: Option<&Value>,
    policy: &Policy,
    caps: &CapabilityTable,
) -> Decision {
    let decision = validate(&request(kind, op, Some(obj), old), policy, caps);
    // Warnings must reach kubectl whole: one line, at most 256 characters.
    for warning in &decision.warnings {
        assert!(
            warning.len() <= 256 && !warning.contains('\n'),
            "{} chars: {warning}",
            warning.len()
        );
    }
    decision
}

/// What a validate case expects.
struct Expect {
    errors: &'static [&'static str],
    /// Substrings that the warnings, joined, must contain.
    warnings: &'static [&'static str],
}

/// Checks `decision` against `expect`, with `{P}` standing for `prefix`: every error in
/// order, every expected warning, and no warning where none is expected.
fn assert_expected(label: &str, decision: &Decision, expect: &Expect, prefix: &str) {
    let errors: Vec<String> = decision.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), expect.errors.len(), "{label}: {errors:#?}");
    for (got, want) in errors.iter().zip(expect.errors) {
        let want = want.replace("{P}", prefix);
        assert!(got.contains(&want), "{label}:\n got  {got}\n want {want}");
    }
    let warnings = decision.warnings.join("\n");
    for want in expect.warnings {
        let want = want.replace("{P}", prefix);
        assert!(
            warnings.contains(&want),
            "{label}:\n got  {warnings}\n want {want}"
        );
    }
    if expect.warnings.is_empty() {
        assert!(decision.warnings.is_empty(), "{label}: {warnings}");
    }
}

/// `/validate` for a Cluster API kind, with the owning AWSCluster's region if known.
fn run_cluster_api_validate(
    kind: TargetKind,
    op: Operation,
    obj: &Value,
    old: Option<&Value>,
    cluster_region: Option<&str>,
    policy: &Policy,
) -> Decision {
    let mut req = request(kind, op, Some(obj), old);
    req.cluster_region = cluster_region;
    let decision = validate(&req, policy, &table());
    for warning in &decision.warnings {
        assert!(warning.len() <= 256 && !warning.contains('\n'), "{warning}");
    }
    decision
}
