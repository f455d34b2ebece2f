//! `/validate` for the Machine API kinds: the enum, the EFA check, ratcheting, malformed
//! objects and the skip annotation.

use super::*;

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
            Expect { errors: &[], warnings: &[r#"instance type "hpc6a.48xlarge" supports EFA but is not offered in us-east-1 according to the capability table (embedded snapshot of 2026-11-25T00:00:00Z), so RunInstances would fail there; offered in: us-east-2"#] }),
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
                "{}.instanceType: Invalid value: \"hpc6a.48xlarge\": is not offered in us-east-1 according to the capability table (embedded snapshot of 2026-11-25T00:00:00Z), so RunInstances would fail there; offered in: us-east-2",
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
    std::sync::Arc::make_mut(caps.regions.get_mut("us-east-1").unwrap())
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
