//! The launch checks against EC2 data: the zone's offerings, the placement group, and an
//! EFA machine's security groups; for the Machine API and (where they apply) Cluster API
//! kinds, on CREATE and on a ratcheted UPDATE.

use super::*;
use std::sync::Arc;

fn live() -> Provenance {
    Provenance {
        source: SourceKind::Ec2,
        fetched_at: "2026-12-06T00:00:00Z".into(),
        stale_reason: None,
    }
}

/// What the account has, as the data sources know it.
#[derive(Clone, Copy)]
struct Known {
    zone_names: bool,
    placement_groups: bool,
    stale: bool,
}

const ALL_LIVE: Known = Known {
    zone_names: true,
    placement_groups: true,
    stale: false,
};

/// The test table with zones in us-east-1: use1-az1 offers every type, use1-az3 all but
/// p4d.24xlarge and c5n.18xlarge; and what `known` says of this account: its zone names
/// (us-east-1a is use1-az1, us-east-1e is use1-az3), its placement groups, its security
/// groups.
fn ec2_table(known: Known) -> CapabilityTable {
    let mut table = table();
    let offerings = Arc::make_mut(table.regions.get_mut("us-east-1").unwrap());
    let mut lacking = offerings.offered.clone();
    lacking.remove("p4d.24xlarge");
    lacking.remove("c5n.18xlarge");
    offerings.zones = BTreeMap::from([
        ("use1-az1".to_owned(), offerings.offered.clone()),
        ("use1-az3".to_owned(), lacking),
    ]);
    let provenance = Provenance {
        stale_reason: known
            .stale
            .then(|| "refreshing from EC2 failed at 2026-12-06T01:00:00Z (network)".into()),
        ..live()
    };
    if known.zone_names {
        table.zone_names.insert(
            "us-east-1".into(),
            Arc::new(ZoneNames {
                ids: BTreeMap::from([
                    ("us-east-1a".into(), "use1-az1".into()),
                    ("us-east-1e".into(), "use1-az3".into()),
                ]),
                provenance: live(),
            }),
        );
    }
    if known.placement_groups {
        let group = |strategy: &str, state: &str| PlacementGroup {
            strategy: strategy.into(),
            state: state.into(),
        };
        table.placement_groups.insert(
            "us-east-1".into(),
            Arc::new(PlacementGroups {
                groups: HashMap::from([
                    ("hpc-cluster".into(), group("cluster", "available")),
                    ("hpc-spread".into(), group("spread", "available")),
                    ("retired".into(), group("cluster", "deleted")),
                ]),
                provenance: provenance.clone(),
            }),
        );
    }
    let group = |id: &str, name: &str, from: bool, to: bool| SecurityGroup {
        id: id.into(),
        name: name.into(),
        allows_all_from_itself: from,
        allows_all_to_itself: to,
    };
    for (reference, groups) in [
        (
            SecurityGroupRef::Id("sg-efa".into()),
            vec![group("sg-efa", "efa-self", true, true)],
        ),
        (
            SecurityGroupRef::Id("sg-in-only".into()),
            vec![group("sg-in-only", "", true, false)],
        ),
        (
            SecurityGroupRef::Filters(vec![(
                "tag:Name".into(),
                vec!["demo-x7k2p-worker-sg".into()],
            )]),
            vec![group("sg-0abc", "demo-x7k2p-worker-sg", false, false)],
        ),
        (
            SecurityGroupRef::Filters(vec![("tag:Name".into(), vec!["gone".into()])]),
            vec![],
        ),
    ] {
        table.security_groups.insert(
            ("us-east-1".into(), reference),
            Arc::new(SecurityGroups {
                groups,
                provenance: live(),
            }),
        );
    }
    table
}

/// A p4d.24xlarge EFA machine in `zone` with `fields` merged in.
fn machine(kind: TargetKind, zone: &str, fields: Value) -> Value {
    let mut merged = json!({
        "networkInterfaceType": "EFA",
        "instanceType": "p4d.24xlarge",
        "placement": {"region": "us-east-1", "availabilityZone": zone},
    });
    for (key, value) in fields.as_object().unwrap() {
        merged[key] = value.clone();
    }
    object(kind, merged)
}

fn sg_id(id: &str) -> Value {
    json!([{"id": id}])
}

#[test]
fn zones_placement_groups_and_security_groups() {
    let no_names = Known {
        zone_names: false,
        ..ALL_LIVE
    };
    let no_groups = Known {
        placement_groups: false,
        ..ALL_LIVE
    };
    let stale = Known {
        stale: true,
        ..ALL_LIVE
    };
    #[rustfmt::skip]
    let cases: &[(&str, Known, Value, Expect)] = &[
        ("the zone does not offer the type: denied, with the zones that do", ALL_LIVE, json!({"placement": {"region": "us-east-1", "availabilityZone": "us-east-1e"}}),
            Expect { errors: &[r#"{P}.placement.availabilityZone: Invalid value: "us-east-1e": instance type p4d.24xlarge is not offered in us-east-1e (use1-az3); offered in: us-east-1a"#], warnings: &[] }),
        ("a standard interface meets the same failure", ALL_LIVE, json!({"networkInterfaceType": "ENA", "placement": {"region": "us-east-1", "availabilityZone": "us-east-1e"}}),
            Expect { errors: &[r#"{P}.placement.availabilityZone: Invalid value: "us-east-1e": instance type p4d.24xlarge is not offered in us-east-1e"#], warnings: &[] }),
        ("a zone that offers it", ALL_LIVE, json!({}),
            Expect { errors: &[], warnings: &[r#"EFA on "p4d.24xlarge" needs a security group"#] }),
        ("a type every zone offers", ALL_LIVE, json!({"networkInterfaceType": null, "instanceType": "m5.2xlarge", "placement": {"region": "us-east-1", "availabilityZone": "us-east-1e"}}),
            Expect { errors: &[], warnings: &[] }),
        ("without this account's zone names, a warning by zone ID", no_names, json!({"networkInterfaceType": "ENA", "placement": {"region": "us-east-1", "availabilityZone": "us-east-1e"}}),
            Expect { errors: &[], warnings: &[r#"instance type p4d.24xlarge is offered in 1 of the 2 zones of us-east-1 (by zone ID: use1-az1); whether "us-east-1e" is one of them needs this account's zone names: --capabilities ec2"#] }),
        ("a zone the account does not have", ALL_LIVE, json!({"networkInterfaceType": "ENA", "placement": {"region": "us-east-1", "availabilityZone": "us-east-1z"}}),
            Expect { errors: &[], warnings: &[r#"{P}.placement.availabilityZone: "us-east-1z" is not a zone of us-east-1 in this account (zones: us-east-1a, us-east-1e)"#] }),
        ("an unknown type is for --unknown-instance-type alone", ALL_LIVE, json!({"networkInterfaceType": "ENA", "instanceType": "zz9.mega", "placement": {"region": "us-east-1", "availabilityZone": "us-east-1e"}}),
            Expect { errors: &[], warnings: &[] }),
        ("the skip annotation makes the zone denial a warning", ALL_LIVE,
            json!({"placement": {"region": "us-east-1", "availabilityZone": "us-east-1e"}}),
            Expect { errors: &[], warnings: &["(allowed: annotation"] }),
        ("a placement group that does not exist: denied", ALL_LIVE, json!({"placementGroupName": "nope"}),
            Expect { errors: &[r#"{P}.placementGroupName: Invalid value: "nope": there is no placement group nope in us-east-1 (EC2 of 2026-12-06T00:00:00Z); a group made since then is found once the list is read again"#], warnings: &[] }),
        ("a deleted placement group: denied", ALL_LIVE, json!({"networkInterfaceType": "ENA", "placementGroupName": "retired"}),
            Expect { errors: &[r#"{P}.placementGroupName: Invalid value: "retired": there is no placement group retired in us-east-1"#], warnings: &[] }),
        ("no placement group data: no check", no_groups, json!({"placementGroupName": "nope"}),
            Expect { errors: &[], warnings: &[r#"EFA on "p4d.24xlarge" needs a security group"#] }),
        ("stale placement group data: a warning, not a denial", stale, json!({"placementGroupName": "nope"}),
            Expect { errors: &[], warnings: &["{P}.placementGroupName: there is no placement group nope in us-east-1 (EC2 of 2026-12-06T00:00:00Z), which is stale: not checked"] }),
        ("EFA in a spread group: a warning", ALL_LIVE, json!({"placementGroupName": "hpc-spread"}),
            Expect { errors: &[], warnings: &[r#"placement group "hpc-spread" has strategy spread: EFA's low latency needs the instances close together, in a cluster placement group"#] }),
        ("EFA in a cluster group: no word on it", ALL_LIVE, json!({"placementGroupName": "hpc-cluster", "securityGroups": sg_id("sg-efa")}),
            Expect { errors: &[], warnings: &[r#"EFA on "p4d.24xlarge" needs the EFA device plugin (libfabric) on the nodes to be of use"#] }),
        ("a standard interface in a spread group: nothing", ALL_LIVE, json!({"networkInterfaceType": "ENA", "placementGroupName": "hpc-spread"}),
            Expect { errors: &[], warnings: &[] }),
        ("a group with both self rules: only the device plugin is said", ALL_LIVE, json!({"securityGroups": sg_id("sg-efa")}),
            Expect { errors: &[], warnings: &[r#"EFA on "p4d.24xlarge" needs the EFA device plugin (libfabric) on the nodes to be of use"#] }),
        ("the installer's tag filter, resolved to a group without the rules", ALL_LIVE,
            json!({"securityGroups": [{"filters": [{"name": "tag:Name", "values": ["demo-x7k2p-worker-sg"]}]}]}),
            Expect { errors: &[], warnings: &[
                "EFA traffic between these machines will be dropped: security group sg-0abc (demo-x7k2p-worker-sg) has no inbound rule allowing all traffic from itself and no outbound rule allowing all traffic to itself",
                r#"EFA on "p4d.24xlarge" needs the EFA device plugin"#] }),
        ("a group with the inbound rule only", ALL_LIVE, json!({"securityGroups": sg_id("sg-in-only")}),
            Expect { errors: &[], warnings: &["security group sg-in-only has no outbound rule allowing all traffic to itself"] }),
        ("one group with both rules is enough", ALL_LIVE, json!({"securityGroups": [{"id": "sg-in-only"}, {"id": "sg-efa"}]}),
            Expect { errors: &[], warnings: &["needs the EFA device plugin"] }),
        ("filters matching no group", ALL_LIVE, json!({"securityGroups": [{"filters": [{"name": "tag:Name", "values": ["gone"]}]}]}),
            Expect { errors: &[], warnings: &["the security groups of this machine match no group in us-east-1"] }),
        ("a group not resolved yet: the generic reminder", ALL_LIVE, json!({"securityGroups": sg_id("sg-unknown")}),
            Expect { errors: &[], warnings: &[r#"EFA on "p4d.24xlarge" needs a security group that allows all traffic between its members"#] }),
    ];
    for kind in KINDS {
        let prefix = prefix(kind);
        for (label, known, fields, expect) in cases {
            let mut obj = machine(kind, "us-east-1a", fields.clone());
            if label.starts_with("the skip annotation") {
                obj["metadata"]["annotations"] = json!({SKIP_CAPABILITY_CHECK_ANNOTATION: "true"});
            }
            let decision = run_validate(
                kind,
                Operation::Create,
                &obj,
                None,
                &policy(Spelling::OpenShift),
                &ec2_table(*known),
            );
            let label = format!("{kind:?} {label}");
            assert_expected(&label, &decision, expect, &prefix);
            if label.contains("the skip annotation") {
                assert!(decision.capability_check_skipped, "{label}");
                assert!(
                    decision.warnings.join("\n").contains(&format!(
                        r#"{prefix}.placement.availabilityZone: Invalid value: "us-east-1e": instance type p4d.24xlarge is not offered in us-east-1e (use1-az3) (allowed: annotation {SKIP_CAPABILITY_CHECK_ANNOTATION} is "true")"#
                    )),
                    "{label}: {:?}",
                    decision.warnings
                );
            }
        }
    }
}

#[test]
fn an_update_that_keeps_type_zone_region_and_group_is_never_denied() {
    let table = ec2_table(ALL_LIVE);
    for kind in KINDS {
        let bad = machine(
            kind,
            "us-east-1e",
            json!({"placementGroupName": "nope", "networkInterfaceType": "ENA"}),
        );
        let mut relabelled = bad.clone();
        relabelled["metadata"]["labels"]["team"] = json!("hpc");
        let policy = policy(Spelling::OpenShift);
        let decision = run_validate(
            kind,
            Operation::Update,
            &relabelled,
            Some(&bad),
            &policy,
            &table,
        );
        assert!(decision.allowed(), "{kind:?}: {decision:?}");
        let warnings = decision.warnings.join("\n");
        assert!(
            warnings.contains("us-east-1e (use1-az3) (allowed: this update does not change it)")
                && warnings.contains("nope in us-east-1 (EC2 of 2026-12-06T00:00:00Z) (allowed: this update does not change it)"),
            "{kind:?}: {warnings}"
        );
        // Moving an old machine to a zone that lacks the type is a change: denied.
        let good = machine(kind, "us-east-1a", json!({"networkInterfaceType": "ENA"}));
        let moved = machine(kind, "us-east-1e", json!({"networkInterfaceType": "ENA"}));
        let decision = run_validate(
            kind,
            Operation::Update,
            &moved,
            Some(&good),
            &policy,
            &table,
        );
        assert_eq!(decision.errors.len(), 1, "{kind:?}: {decision:?}");
    }
}

#[test]
fn cluster_api_machines_are_checked_where_the_object_names_its_zone() {
    let table = ec2_table(ALL_LIVE);
    #[rustfmt::skip]
    let cases: &[(&str, TargetKind, Value, &[&str])] = &[
        ("failureDomain", TargetKind::AwsMachine, json!({"failureDomain": "us-east-1e"}),
            &[r#"spec.failureDomain: Invalid value: "us-east-1e": instance type p4d.24xlarge is not offered in us-east-1e (use1-az3); offered in: us-east-1a"#]),
        ("a subnet filtered by zone", TargetKind::AwsMachine,
            json!({"subnet": {"filters": [{"name": "tag:Name", "values": ["capi-prod-subnet-private-*"]}, {"name": "availability-zone", "values": ["us-east-1e"]}]}}),
            &[r#"spec.subnet.filters: Invalid value: "us-east-1e": instance type p4d.24xlarge is not offered in us-east-1e"#]),
        ("no zone on the object: no zone check", TargetKind::AwsMachine, json!({"subnet": {"id": "subnet-0123"}}), &[]),
        ("a placement group that does not exist", TargetKind::AwsMachine, json!({"placementGroupName": "nope"}),
            &[r#"spec.placementGroupName: Invalid value: "nope": there is no placement group nope in us-east-1"#]),
        ("a template's zone, on CREATE", TargetKind::AwsMachineTemplate, json!({"failureDomain": "us-east-1e"}),
            &[r#"spec.template.spec.failureDomain: Invalid value: "us-east-1e""#]),
    ];
    for (label, kind, fields, errors) in cases {
        let mut merged = json!({"networkInterfaceType": "efa", "instanceType": "p4d.24xlarge"});
        for (key, value) in fields.as_object().unwrap() {
            merged[key] = value.clone();
        }
        let obj = object(*kind, merged);
        let mut req = request(*kind, Operation::Create, Some(&obj), None);
        req.cluster_region = Some("us-east-1");
        let decision = validate(&req, &policy(Spelling::OpenShift), &table);
        let got: Vec<String> = decision.errors.iter().map(ToString::to_string).collect();
        assert_eq!(got.len(), errors.len(), "{label}: {got:#?}");
        for (got, want) in got.iter().zip(errors.iter()) {
            assert!(got.contains(want), "{label}:\n got  {got}\n want {want}");
        }
    }
    // A standard-interface machine whose cluster's region is not known yet: the launch
    // checks wait for the region rather than guess it, and say nothing.
    let obj = object(
        TargetKind::AwsMachine,
        json!({"networkInterfaceType": "interface", "instanceType": "p4d.24xlarge", "failureDomain": "us-east-1e"}),
    );
    let decision = validate(
        &request(TargetKind::AwsMachine, Operation::Create, Some(&obj), None),
        &policy(Spelling::OpenShift),
        &table,
    );
    assert_eq!(decision, Decision::default());
}
