//! Both endpoints for the Cluster API kinds.

use super::*;

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
                r#"instance type "hpc6a.48xlarge" supports EFA but is not offered in us-east-1"#] }),
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
