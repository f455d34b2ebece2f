//! The rules as tables: the Machine API cases run for Machine and MachineSet, the
//! Cluster API cases for AWSMachine and AWSMachineTemplate.

use super::*;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

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

#[test]
fn mutate_table() {
    // (spelling, operation, given value (null = absent), expected value after patch, warns)
    let cases: &[(Spelling, Operation, Value, Value, bool)] = &[
        (
            Spelling::OpenShift,
            Operation::Create,
            Value::Null,
            json!("ENA"),
            false,
        ),
        (
            Spelling::OpenShift,
            Operation::Create,
            json!(""),
            json!("ENA"),
            false,
        ),
        (
            Spelling::OpenShift,
            Operation::Create,
            json!("ENA"),
            json!("ENA"),
            false,
        ),
        (
            Spelling::OpenShift,
            Operation::Create,
            json!("EFA"),
            json!("EFA"),
            false,
        ),
        (
            Spelling::OpenShift,
            Operation::Create,
            json!("efa"),
            json!("EFA"),
            true,
        ),
        (
            Spelling::OpenShift,
            Operation::Create,
            json!("interface"),
            json!("ENA"),
            true,
        ),
        (
            Spelling::OpenShift,
            Operation::Update,
            json!("efa"),
            json!("EFA"),
            true,
        ),
        (
            Spelling::OpenShift,
            Operation::Update,
            Value::Null,
            Value::Null,
            false,
        ),
        (
            Spelling::OpenShift,
            Operation::Create,
            json!("foo"),
            json!("foo"),
            false,
        ),
        (
            Spelling::OpenShift,
            Operation::Create,
            json!(7),
            json!(7),
            false,
        ),
        (
            Spelling::Proposal,
            Operation::Create,
            Value::Null,
            json!("interface"),
            false,
        ),
        (
            Spelling::Proposal,
            Operation::Create,
            json!("EFA"),
            json!("efa"),
            true,
        ),
        (
            Spelling::Proposal,
            Operation::Update,
            json!("ENA"),
            json!("interface"),
            true,
        ),
        (
            Spelling::Proposal,
            Operation::Create,
            json!("efa"),
            json!("efa"),
            false,
        ),
    ];
    for kind in KINDS {
        for (spelling, op, given, expected, warns) in cases {
            let fields = json!({"networkInterfaceType": given});
            let obj = object(kind, fields);
            let decision = mutate(
                &request(kind, *op, Some(&obj), Some(&obj)),
                &policy(*spelling),
            );
            let label = format!("{kind:?} {spelling:?} {op:?} {given}");
            assert!(decision.allowed(), "{label}");
            assert!(decision.patch.0.len() <= 1, "{label}: one op at most");
            let after = patched(&obj, &decision);
            assert_eq!(
                nit(&after, kind).unwrap_or(&Value::Null),
                expected,
                "{label}"
            );
            assert_eq!(
                !decision.warnings.is_empty(),
                *warns,
                "{label}: {:?}",
                decision.warnings
            );
            // Every other byte is preserved: undoing the one field gives the original back.
            let mut undone = after.clone();
            let pointer = kind
                .provider_config_path()
                .child("networkInterfaceType")
                .to_pointer();
            match nit(&obj, kind) {
                Some(v) => *undone.pointer_mut(pointer.as_str()).unwrap() = v.clone(),
                None => {
                    let parent = kind.provider_config_path().to_pointer();
                    if let Some(map) = undone
                        .pointer_mut(parent.as_str())
                        .and_then(Value::as_object_mut)
                    {
                        map.remove("networkInterfaceType");
                    }
                }
            }
            assert_eq!(undone, obj, "{label}");
        }
    }
}

#[test]
fn mutate_patch_targets_exactly_one_path() {
    let kind = TargetKind::MachineSet;
    let obj = object(kind, json!({"networkInterfaceType": "efa"}));
    let decision = mutate(
        &request(kind, Operation::Create, Some(&obj), None),
        &policy(Spelling::OpenShift),
    );
    let patch = serde_json::to_value(&decision.patch).unwrap();
    assert_eq!(
        patch,
        json!([{"op": "replace", "path": "/spec/template/spec/providerSpec/value/networkInterfaceType", "value": "EFA"}])
    );
    assert_eq!(
        decision.warnings,
        [
            r#"spec.template.spec.providerSpec.value.networkInterfaceType: "efa" was normalised to the canonical "EFA""#
        ]
    );
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

#[test]
fn validate_table() {
    let hostile_type = format!("evil\n{}", "x".repeat(5000));
    #[rustfmt::skip]
    let cases: &[(&str, Spelling, Value, Expect)] = &[
        ("absent is allowed", Spelling::OpenShift, json!({}), Expect { errors: &[], warnings: &[] }),
        ("ENA is allowed", Spelling::OpenShift, json!({"networkInterfaceType": "ENA"}), Expect { errors: &[], warnings: &[] }),
        ("unknown value", Spelling::OpenShift, json!({"networkInterfaceType": "foo"}),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "foo": supported values: "EFA", "ENA""#], warnings: &[] }),
        ("alias denied with hint", Spelling::OpenShift, json!({"networkInterfaceType": "efa"}),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "efa": supported values: "EFA", "ENA"; did you mean "EFA"?"#], warnings: &[] }),
        ("case slips get a hint", Spelling::OpenShift, json!({"networkInterfaceType": "Efa"}),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "Efa": supported values: "EFA", "ENA"; did you mean "EFA"?"#], warnings: &[] }),
        ("proposal alias denied", Spelling::Proposal, json!({"networkInterfaceType": "ENA"}),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "ENA": supported values: "efa", "interface"; did you mean "interface"?"#], warnings: &[] }),
        ("efa-only is not a primary interface", Spelling::OpenShift, json!({"networkInterfaceType": "efa-only"}),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "efa-only": supported values: "EFA", "ENA""#], warnings: &[] }),
        ("non-string", Spelling::OpenShift, json!({"networkInterfaceType": true}),
            Expect { errors: &["{P}.networkInterfaceType: Invalid value: true: must be a string"], warnings: &[] }),
        ("EFA on a type without EFA", Spelling::OpenShift, json!({"networkInterfaceType": "EFA"}),
            Expect { errors: &[r#"{P}.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-1; EFA-capable types offered in us-east-1, closest first: m5zn.12xlarge, m5dn.24xlarge, m5n.24xlarge, c5n.9xlarge, c5n.18xlarge"#], warnings: &[] }),
        ("proposal spelling checks EFA too", Spelling::Proposal, json!({"networkInterfaceType": "efa", "instanceType": "m5.xlarge"}),
            Expect { errors: &[r#"{P}.instanceType: Invalid value: "m5.xlarge": EFA interfaces are not supported on m5.xlarge in us-east-1"#], warnings: &[] }),
        ("EFA accepted", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "instanceType": "p4d.24xlarge"}),
            Expect { errors: &[], warnings: &[r#"EFA on "p4d.24xlarge" needs a security group that allows all traffic between its members"#, "EFA device plugin"] }),
        ("proposal spelling accepts efa", Spelling::Proposal, json!({"networkInterfaceType": "efa", "instanceType": "c5n.18xlarge"}),
            Expect { errors: &[], warnings: &[r#"EFA on "c5n.18xlarge" needs a security group"#] }),
        ("region decides: hpc6a not offered in us-east-1", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "instanceType": "hpc6a.48xlarge"}),
            Expect { errors: &[], warnings: &[r#"instance type "hpc6a.48xlarge" is not offered in us-east-1 according to the capability table (embedded snapshot of 2026-11-25T00:00:00Z): its EFA support could not be checked"#] }),
        ("region decides: hpc6a offered in us-east-2", Spelling::OpenShift,
            json!({"networkInterfaceType": "EFA", "instanceType": "hpc6a.48xlarge", "placement": {"region": "us-east-2", "availabilityZone": "us-east-2a"}}),
            Expect { errors: &[], warnings: &[r#"EFA on "hpc6a.48xlarge" needs a security group"#] }),
        ("unknown instance type warns", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "instanceType": "zz9.mega"}),
            Expect { errors: &[], warnings: &[r#"instance type "zz9.mega" is not an instance type the capability table (embedded snapshot of 2026-11-25T00:00:00Z) knows in us-east-1"#] }),
        ("proposal spelling warns on unknown types", Spelling::Proposal, json!({"networkInterfaceType": "efa", "instanceType": "zz9.mega"}),
            Expect { errors: &[], warnings: &[r#"instance type "zz9.mega" is not an instance type"#] }),
        ("hostile instance types are quoted and cut", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "instanceType": hostile_type}),
            Expect { errors: &[], warnings: &[r#"instance type "evil\nxxxx"#] }),
        ("region absent from table warns", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "placement": {"region": "mars-north-1"}}),
            Expect { errors: &[], warnings: &[r#"region "mars-north-1" is not in the capability table: EFA support of "m5.2xlarge" was not checked (it supports EFA in no region the table knows)"#] }),
        ("no region uses the webhook's own", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "placement": null}),
            Expect { errors: &["EFA interfaces are not supported on m5.2xlarge in us-east-1"], warnings: &[] }),
        ("EFA without instance type warns", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "instanceType": null}),
            Expect { errors: &[], warnings: &["{P}.instanceType is not set while networkInterfaceType is EFA"] }),
        ("every error is collected", Spelling::OpenShift, json!({"networkInterfaceType": "foo", "instanceType": 5, "placement": {"region": ["us-east-1"]}}),
            Expect { errors: &[
                r#"{P}.networkInterfaceType: Unsupported value: "foo""#,
                "{P}.instanceType: Invalid value: 5: must be a string",
                r#"{P}.placement.region: Invalid value: "array": must be a string"#,
            ], warnings: &[] }),
        ("a malformed region stops the capability check", Spelling::OpenShift, json!({"networkInterfaceType": "EFA", "placement": {"region": 1}}),
            Expect { errors: &["{P}.placement.region: Invalid value: 1: must be a string"], warnings: &[] }),
        ("placement not an object", Spelling::OpenShift, json!({"placement": "us-east-1"}),
            Expect { errors: &[r#"{P}.placement: Invalid value: "us-east-1": must be an object"#], warnings: &[] }),
    ];
    let caps = table();
    // On UPDATE the old object differs in every checked field, so every rule applies as on CREATE.
    let olds: Vec<(TargetKind, Value)> = KINDS
        .iter()
        .map(|&kind| (kind, object(kind, json!({"networkInterfaceType": "ENA", "instanceType": "m6i.large", "placement": {"region": "us-west-2"}}))))
        .collect();
    for (kind, old) in &olds {
        let kind = *kind;
        let p = prefix(kind);
        for (op, old) in [(Operation::Create, None), (Operation::Update, Some(old))] {
            for (name, spelling, fields, expect) in cases {
                let obj = object(kind, fields.clone());
                let decision = run_validate(kind, op, &obj, old, &policy(*spelling), &caps);
                let label = format!("{kind:?} {op:?} {name}");
                assert_expected(&label, &decision, expect, &p);
            }
        }
    }
}

#[test]
fn unknown_instance_types_can_be_denied() {
    let caps = table();
    let mut deny = policy(Spelling::OpenShift);
    deny.unknown_instance_type = UnknownInstanceType::Deny;
    for kind in KINDS {
        let obj = object(
            kind,
            json!({"networkInterfaceType": "EFA", "instanceType": "hpc6a.48xlarge"}),
        );
        let decision = validate(
            &request(kind, Operation::Create, Some(&obj), None),
            &deny,
            &caps,
        );
        assert_eq!(
            decision
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [format!(
                "{}.instanceType: Invalid value: \"hpc6a.48xlarge\": is not offered in us-east-1 according to the capability table (embedded snapshot of 2026-11-25T00:00:00Z)",
                prefix(kind)
            )]
        );
    }
}

#[test]
fn control_plane_machines_get_a_warning() {
    let caps = table();
    let role = "machine.openshift.io/cluster-api-machine-role";
    for kind in KINDS {
        for instance_type in [json!("p4d.24xlarge"), Value::Null, json!("m5.2xlarge")] {
            let mut obj = object(
                kind,
                json!({"networkInterfaceType": "EFA", "instanceType": instance_type}),
            );
            // Where the machines' role is: a Machine's own labels, a MachineSet's template.
            match kind {
                TargetKind::Machine => obj["metadata"]["labels"][role] = json!("master"),
                TargetKind::MachineSet => {
                    obj["spec"]["template"]["metadata"]["labels"][role] = json!("master")
                }
                TargetKind::AwsMachine | TargetKind::AwsMachineTemplate => unreachable!(),
            }
            let decision = run_validate(
                kind,
                Operation::Create,
                &obj,
                None,
                &policy(Spelling::OpenShift),
                &caps,
            );
            assert!(
                decision
                    .warnings
                    .iter()
                    .any(|w| w.contains("control-plane machine")),
                "{kind:?} {instance_type}: {:?}",
                decision.warnings
            );
        }
    }
}

#[test]
fn stale_data_is_said_in_a_warning() {
    let mut caps = table();
    caps.regions
        .get_mut("us-east-1")
        .unwrap()
        .provenance
        .stale_reason = Some("live EC2 data unavailable: connection refused".into());
    let kind = TargetKind::MachineSet;
    let obj = object(
        kind,
        json!({"networkInterfaceType": "EFA", "instanceType": "p4d.24xlarge"}),
    );
    let decision = validate(
        &request(kind, Operation::Create, Some(&obj), None),
        &policy(Spelling::OpenShift),
        &caps,
    );
    assert!(decision.allowed());
    assert!(decision.warnings[0].starts_with(
        "capability data for us-east-1 is from the embedded snapshot of 2026-11-25T00:00:00Z: live EC2 data unavailable"
    ));
}

#[test]
fn ratcheting_on_update() {
    let caps = table();
    let p = policy(Spelling::OpenShift);
    let update = |kind, new: &Value, old: &Value, policy: &Policy| {
        run_validate(kind, Operation::Update, new, Some(old), policy, &caps)
    };
    for kind in KINDS {
        let bad = object(kind, json!({"networkInterfaceType": "EFA"}));
        // Same offending fields, a label changed: allowed, the error becomes a warning
        // that restates it without the list of alternatives.
        let mut relabelled = bad.clone();
        relabelled["metadata"]["labels"]["team"] = json!("hpc");
        let decision = update(kind, &relabelled, &bad, &p);
        assert!(decision.allowed(), "{kind:?}");
        assert_eq!(
            decision.warnings.len(),
            1,
            "{kind:?}: {:?}",
            decision.warnings
        );
        assert!(
            decision.warnings[0]
                .ends_with("in us-east-1 (allowed: this update does not change it)"),
            "{}",
            decision.warnings[0]
        );
        assert!(!decision.warnings[0].contains("closest first"));

        // Another bad instance type, EFA turned on, or another region: checked again.
        let other = object(
            kind,
            json!({"networkInterfaceType": "EFA", "instanceType": "m5.xlarge"}),
        );
        assert!(!update(kind, &other, &bad, &p).allowed(), "{kind:?}");
        let ena = object(kind, json!({"networkInterfaceType": "ENA"}));
        assert!(!update(kind, &bad, &ena, &p).allowed(), "{kind:?}");
        let moved = object(
            kind,
            json!({"networkInterfaceType": "EFA", "placement": {"region": "us-east-2"}}),
        );
        assert!(!update(kind, &moved, &bad, &p).allowed(), "{kind:?}");

        // Stored as the alias, rewritten by /mutate on this very update: still unchanged.
        let stored_alias = object(kind, json!({"networkInterfaceType": "efa"}));
        assert!(
            update(kind, &relabelled, &stored_alias, &p).allowed(),
            "{kind:?}"
        );
        let normalised = object(kind, json!({"networkInterfaceType": "efa"}));
        assert!(
            update(kind, &normalised, &bad, &policy(Spelling::Proposal)).allowed(),
            "{kind:?}"
        );

        // An unknown value left as it was.
        let foo = object(kind, json!({"networkInterfaceType": "foo"}));
        let decision = update(kind, &foo, &foo, &p);
        assert!(
            decision.allowed() && decision.warnings.len() == 1,
            "{kind:?}: {decision:?}"
        );

        // A denial under --unknown-instance-type deny, left as it was.
        let mut deny = policy(Spelling::OpenShift);
        deny.unknown_instance_type = UnknownInstanceType::Deny;
        let hpc = object(
            kind,
            json!({"networkInterfaceType": "EFA", "instanceType": "hpc6a.48xlarge"}),
        );
        assert!(!run_validate(kind, Operation::Create, &hpc, None, &deny, &caps).allowed());
        assert!(update(kind, &hpc, &hpc, &deny).allowed(), "{kind:?}");

        // Unchanged valid EFA: no advice repeated on every update.
        let good = object(
            kind,
            json!({"networkInterfaceType": "EFA", "instanceType": "p4d.24xlarge"}),
        );
        assert_eq!(
            update(kind, &good, &good, &p),
            Decision::default(),
            "{kind:?}"
        );
    }
}

#[test]
fn deleting_objects_and_other_operations_pass_untouched() {
    let caps = table();
    let p = policy(Spelling::OpenShift);
    for kind in TargetKind::ALL {
        let mut deleting = object(kind, json!({"networkInterfaceType": "efa"}));
        deleting["metadata"]["deletionTimestamp"] = json!("2026-11-25T10:00:00Z");
        for op in [Operation::Create, Operation::Update] {
            let req = request(kind, op, Some(&deleting), None);
            assert_eq!(validate(&req, &p, &caps), Decision::default());
            assert_eq!(mutate(&req, &p), Decision::default());
        }
        let bad = object(kind, json!({"networkInterfaceType": "foo"}));
        for op in [Operation::Delete, Operation::Connect] {
            let req = request(kind, op, None, Some(&bad));
            assert_eq!(validate(&req, &p, &caps), Decision::default());
            assert_eq!(mutate(&req, &p), Decision::default());
        }
    }
}

#[test]
fn other_kinds_and_providers_pass_untouched() {
    let caps = table();
    let p = policy(Spelling::OpenShift);
    let bad = object(TargetKind::Machine, json!({"networkInterfaceType": "foo"}));
    for (group, version, kind) in [
        ("machine.openshift.io", "v1beta1", "MachineHealthCheck"),
        ("machine.openshift.io", "v1", "Machine"),
        ("", "v1", "Pod"),
        ("infrastructure.cluster.x-k8s.io", "v1beta2", "AWSCluster"),
        ("infrastructure.cluster.x-k8s.io", "v1beta1", "AWSMachine"),
        ("cluster.x-k8s.io", "v1beta2", "Machine"),
    ] {
        let req = Request {
            group,
            version,
            kind,
            operation: Operation::Create,
            object: Some(&bad),
            old_object: None,
            cluster_region: None,
        };
        assert_eq!(validate(&req, &p, &caps), Decision::default());
        assert_eq!(mutate(&req, &p), Decision::default());
    }
    for kind in KINDS {
        let mut gcp = object(kind, json!({"networkInterfaceType": "foo"}));
        let pointer = kind.provider_config_path().child("kind").to_pointer();
        *gcp.pointer_mut(pointer.as_str()).unwrap() = json!("GCPMachineProviderSpec");
        let req = request(kind, Operation::Create, Some(&gcp), None);
        assert_eq!(validate(&req, &p, &caps), Decision::default());
        assert_eq!(mutate(&req, &p), Decision::default());
        // The older provider apiVersion is still AWS.
        let mut legacy = object(kind, json!({"networkInterfaceType": "foo"}));
        let pointer = kind.provider_config_path().child("apiVersion").to_pointer();
        *legacy.pointer_mut(pointer.as_str()).unwrap() =
            json!("awsproviderconfig.openshift.io/v1beta1");
        assert!(
            !validate(
                &request(kind, Operation::Create, Some(&legacy), None),
                &p,
                &caps
            )
            .allowed()
        );
    }
}

#[test]
fn malformed_objects_are_denied_naming_the_field() {
    let caps = table();
    let p = policy(Spelling::OpenShift);
    for kind in TargetKind::ALL {
        let cases: [(Option<Value>, &str); 3] = [
            (None, "request.object: Required value"),
            (
                Some(json!("a string")),
                r#"request.object: Invalid value: "a string": must be an object"#,
            ),
            (
                Some(json!({"spec": []})),
                r#"spec: Invalid value: "array": must be an object"#,
            ),
        ];
        for (obj, want) in cases {
            let req = request(kind, Operation::Create, obj.as_ref(), None);
            for decision in [validate(&req, &p, &caps), mutate(&req, &p)] {
                assert_eq!(decision.errors.len(), 1, "{kind:?} {want}");
                assert!(
                    decision.errors[0].to_string().starts_with(want),
                    "{kind:?}: {}",
                    decision.errors[0]
                );
            }
        }
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

#[test]
fn cluster_api_mutate_table() {
    // (operation, given (null = absent), expected after patch, warns); the same under
    // either --spelling: Cluster API's enum is interface/efa.
    let cases: &[(Operation, Value, Value, bool)] = &[
        (Operation::Create, Value::Null, json!("interface"), false),
        (Operation::Create, json!(""), json!("interface"), false),
        (
            Operation::Create,
            json!("interface"),
            json!("interface"),
            false,
        ),
        (Operation::Create, json!("efa"), json!("efa"), false),
        (Operation::Create, json!("EFA"), json!("efa"), true),
        (Operation::Create, json!("ENA"), json!("interface"), true),
        (
            Operation::Create,
            json!("efa-only"),
            json!("efa-only"),
            false,
        ),
        (Operation::Update, Value::Null, Value::Null, false),
    ];
    for kind in CLUSTER_API_KINDS {
        for spelling in [Spelling::OpenShift, Spelling::Proposal] {
            for (op, given, expected, warns) in cases {
                let obj = object(kind, json!({"networkInterfaceType": given}));
                let decision = mutate(
                    &request(kind, *op, Some(&obj), Some(&obj)),
                    &policy(spelling),
                );
                let label = format!("{kind:?} {spelling:?} {op:?} {given}");
                assert!(decision.allowed(), "{label}");
                assert_eq!(
                    nit(&patched(&obj, &decision), kind).unwrap_or(&Value::Null),
                    expected,
                    "{label}"
                );
                assert_eq!(!decision.warnings.is_empty(), *warns, "{label}");
            }
        }
    }
    // Exactly the one path, in Cluster API's place for it.
    let obj = object(TargetKind::AwsMachineTemplate, json!({}));
    let decision = mutate(
        &request(
            TargetKind::AwsMachineTemplate,
            Operation::Create,
            Some(&obj),
            None,
        ),
        &policy(Spelling::OpenShift),
    );
    assert_eq!(
        serde_json::to_value(&decision.patch).unwrap(),
        json!([{"op": "add", "path": "/spec/template/spec/networkInterfaceType", "value": "interface"}])
    );
    // An AWSMachine's alias is normalised on UPDATE; a template is immutable and left alone.
    let obj = object(
        TargetKind::AwsMachine,
        json!({"networkInterfaceType": "EFA"}),
    );
    let req = request(
        TargetKind::AwsMachine,
        Operation::Update,
        Some(&obj),
        Some(&obj),
    );
    assert_eq!(mutate(&req, &policy(Spelling::OpenShift)).patch.0.len(), 1);
    let obj = object(
        TargetKind::AwsMachineTemplate,
        json!({"networkInterfaceType": "EFA"}),
    );
    let req = request(
        TargetKind::AwsMachineTemplate,
        Operation::Update,
        Some(&obj),
        Some(&obj),
    );
    assert_eq!(
        mutate(&req, &policy(Spelling::OpenShift)),
        Decision::default()
    );
}

#[test]
fn cluster_api_validate_table() {
    #[rustfmt::skip]
    let cases: &[(&str, Value, Option<&str>, Expect)] = &[
        ("absent is allowed", json!({}), Some("us-east-1"), Expect { errors: &[], warnings: &[] }),
        ("interface is allowed", json!({"networkInterfaceType": "interface"}), Some("us-east-1"), Expect { errors: &[], warnings: &[] }),
        ("OpenShift spelling is an alias here", json!({"networkInterfaceType": "EFA"}), Some("us-east-1"),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "EFA": supported values: "efa", "interface"; did you mean "efa"?"#], warnings: &[] }),
        ("efa-only is not a primary interface", json!({"networkInterfaceType": "efa-only"}), Some("us-east-1"),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "efa-only": supported values: "efa", "interface""#], warnings: &[] }),
        ("non-string", json!({"networkInterfaceType": 1}), Some("us-east-1"),
            Expect { errors: &["{P}.networkInterfaceType: Invalid value: 1: must be a string"], warnings: &[] }),
        ("EFA on a type without EFA, in the AWSCluster's region", json!({"networkInterfaceType": "efa"}), Some("us-east-2"),
            Expect { errors: &[r#"{P}.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-2; EFA-capable types offered in us-east-2"#], warnings: &[] }),
        ("the AWSCluster's region decides: hpc6a in us-east-2", json!({"networkInterfaceType": "efa", "instanceType": "hpc6a.48xlarge"}), Some("us-east-2"),
            Expect { errors: &[], warnings: &[r#"EFA on "hpc6a.48xlarge" needs a security group"#] }),
        ("an unknown AWSCluster region falls back to the default, said", json!({"networkInterfaceType": "efa", "instanceType": "hpc6a.48xlarge"}), None,
            Expect { errors: &[], warnings: &[
                r#"the region of cluster "capi-prod" (its AWSCluster's spec.region) is not known: EFA support was checked in us-east-1, the default region"#,
                r#"instance type "hpc6a.48xlarge" is not offered in us-east-1"#] }),
        ("EFA accepted", json!({"networkInterfaceType": "efa", "instanceType": "c5n.18xlarge"}), Some("us-east-1"),
            Expect { errors: &[], warnings: &[r#"EFA on "c5n.18xlarge" needs a security group"#] }),
        ("EFA without instance type warns", json!({"networkInterfaceType": "efa", "instanceType": null}), Some("us-east-1"),
            Expect { errors: &[], warnings: &["{P}.instanceType is not set while networkInterfaceType is efa"] }),
        ("every error is collected", json!({"networkInterfaceType": "foo", "instanceType": ["m5.large"]}), Some("us-east-1"),
            Expect { errors: &[r#"{P}.networkInterfaceType: Unsupported value: "foo""#, r#"{P}.instanceType: Invalid value: "array": must be a string"#], warnings: &[] }),
    ];
    let old_fields = json!({"networkInterfaceType": "interface", "instanceType": "m6i.large"});
    for kind in CLUSTER_API_KINDS {
        let p = prefix(kind);
        let old = object(kind, old_fields.clone());
        // A template is only ever created; an AWSMachine's UPDATE that changes the
        // fields is checked like a CREATE.
        let ops: &[(Operation, Option<&Value>)] = match kind {
            TargetKind::AwsMachine => &[(Operation::Create, None), (Operation::Update, Some(&old))],
            _ => &[(Operation::Create, None)],
        };
        for &(op, old) in ops {
            for spelling in [Spelling::OpenShift, Spelling::Proposal] {
                for (name, fields, region, expect) in cases {
                    let obj = object(kind, fields.clone());
                    let decision =
                        run_cluster_api_validate(kind, op, &obj, old, *region, &policy(spelling));
                    let label = format!("{kind:?} {op:?} {spelling:?} {name}");
                    assert_expected(&label, &decision, expect, &p);
                }
            }
        }
    }
}

#[test]
fn cluster_api_region_guesses_and_control_planes_are_said() {
    let p = policy(Spelling::OpenShift);
    for kind in CLUSTER_API_KINDS {
        let mut obj = object(
            kind,
            json!({"networkInterfaceType": "efa", "instanceType": "c5n.18xlarge"}),
        );
        obj["metadata"]["labels"] = json!({});
        let decision = run_cluster_api_validate(kind, Operation::Create, &obj, None, None, &p);
        assert!(decision.allowed());
        assert!(
            decision.warnings[0].starts_with("there is no cluster.x-k8s.io/cluster-name label to find the AWSCluster's region by: EFA support was checked in us-east-1"),
            "{kind:?}: {:?}",
            decision.warnings
        );
        let mut obj = object(
            kind,
            json!({"networkInterfaceType": "efa", "instanceType": "c5n.18xlarge"}),
        );
        // A template's machines get the template's labels.
        let control_plane = json!({"cluster.x-k8s.io/control-plane": ""});
        match kind {
            TargetKind::AwsMachine => obj["metadata"]["labels"] = control_plane,
            _ => obj["spec"]["template"]["metadata"] = json!({"labels": control_plane}),
        }
        let decision =
            run_cluster_api_validate(kind, Operation::Create, &obj, None, Some("us-east-1"), &p);
        assert!(
            decision.warnings.iter().any(|w| w.starts_with(
                "EFA on a control-plane machine (label cluster.x-k8s.io/control-plane) is not supported"
            )),
            "{kind:?}: {:?}",
            decision.warnings
        );
    }
}

#[test]
fn cluster_api_ratcheting_and_immutable_templates() {
    let p = policy(Spelling::OpenShift);
    let bad = json!({"networkInterfaceType": "efa", "instanceType": "m5.2xlarge"});
    // An AWSMachine that already had EFA on m5.2xlarge: a label change goes through.
    let old = object(TargetKind::AwsMachine, bad.clone());
    let mut new = old.clone();
    new["metadata"]["labels"]["team"] = json!("hpc");
    let decision = run_cluster_api_validate(
        TargetKind::AwsMachine,
        Operation::Update,
        &new,
        Some(&old),
        Some("us-east-1"),
        &p,
    );
    assert!(decision.allowed(), "{:?}", decision.errors);
    assert!(decision.warnings[0].ends_with("(allowed: this update does not change it)"));
    // Switching it to EFA is checked.
    let old = object(
        TargetKind::AwsMachine,
        json!({"networkInterfaceType": "interface"}),
    );
    let decision = run_cluster_api_validate(
        TargetKind::AwsMachine,
        Operation::Update,
        &new,
        Some(&old),
        Some("us-east-1"),
        &p,
    );
    assert!(!decision.allowed());
    // A template's UPDATE can only touch metadata: nothing to decide.
    let template = object(TargetKind::AwsMachineTemplate, bad);
    let decision = run_cluster_api_validate(
        TargetKind::AwsMachineTemplate,
        Operation::Update,
        &template,
        None,
        Some("us-east-1"),
        &p,
    );
    assert_eq!(decision, Decision::default());
}

#[test]
fn skip_annotation_turns_capability_denials_into_warnings() {
    let caps = table();
    let annotation = SKIP_CAPABILITY_CHECK_ANNOTATION;
    for kind in TargetKind::ALL {
        let efa = if kind.is_cluster_api() { "efa" } else { "EFA" };
        let annotated = |value: Value, fields: Value| {
            let mut obj = object(kind, fields);
            obj["metadata"]["annotations"] = json!({ annotation: value });
            obj
        };
        let decide = |obj: &Value, policy: &Policy| {
            let mut req = request(kind, Operation::Create, Some(obj), None);
            req.cluster_region = Some("us-east-1");
            validate(&req, policy, &caps)
        };
        let warn = policy(Spelling::OpenShift);
        let mut deny = policy(Spelling::OpenShift);
        deny.unknown_instance_type = UnknownInstanceType::Deny;

        // The EFA denial becomes a warning, said and flagged for the log and the metric.
        let obj = annotated(json!("true"), json!({"networkInterfaceType": efa}));
        let decision = decide(&obj, &warn);
        assert!(decision.allowed(), "{kind:?}: {:?}", decision.errors);
        assert!(decision.capability_check_skipped);
        assert!(
            decision.warnings[0].ends_with(&format!(
                "EFA interfaces are not supported on m5.2xlarge in us-east-1 (allowed: annotation {annotation} is \"true\")"
            )),
            "{kind:?}: {:?}",
            decision.warnings
        );
        // So does the unknown-type denial under --unknown-instance-type deny.
        let obj = annotated(
            json!("true"),
            json!({"networkInterfaceType": efa, "instanceType": "zz9.mega"}),
        );
        let decision = decide(&obj, &deny);
        assert!(
            decision.allowed() && decision.capability_check_skipped,
            "{kind:?}: {:?}",
            decision.errors
        );
        // The spelling check still applies, and nothing was skipped.
        let obj = annotated(json!("true"), json!({"networkInterfaceType": "foo"}));
        let decision = decide(&obj, &warn);
        assert!(!decision.allowed());
        assert!(!decision.capability_check_skipped);
        // An annotation with nothing to skip is no use of it.
        let obj = annotated(
            json!("true"),
            json!({"networkInterfaceType": efa, "instanceType": "c5n.18xlarge"}),
        );
        let decision = decide(&obj, &warn);
        assert!(decision.allowed() && !decision.capability_check_skipped);
        // Anything but "true" is said, and skips nothing.
        for value in [json!("yes"), json!(true), json!("True")] {
            let obj = annotated(value.clone(), json!({"networkInterfaceType": efa}));
            let decision = decide(&obj, &warn);
            assert!(!decision.allowed(), "{kind:?} {value}");
            assert!(
                decision
                    .warnings
                    .iter()
                    .any(|w| w.starts_with(&format!("annotation {annotation} is "))
                        && w.ends_with("only \"true\" skips the capability check")),
                "{kind:?} {value}: {:?}",
                decision.warnings
            );
        }
    }
}
