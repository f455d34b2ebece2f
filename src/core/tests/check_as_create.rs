//! `check_as_create`, as `check` and `audit` judge objects outside an admission: the
//! mutating step first, so an object that only lacks the default or spells an alias is
//! no finding; and the rule each finding is labelled with in metrics and reports.

use super::*;

#[test]
fn an_object_judged_as_a_create() {
    let caps = table();
    // (fields merged into the config, findings' rules, patched?)
    let cases: &[(Value, &[&str], bool)] = &[
        // Only lacks the default: patched, no finding.
        (json!({"networkInterfaceType": null}), &[], true),
        // The alternative spelling: normalised, no finding.
        (
            json!({"networkInterfaceType": "efa", "instanceType": "p4d.24xlarge"}),
            &[],
            true,
        ),
        (
            json!({"networkInterfaceType": "EFA", "instanceType": "m5.2xlarge"}),
            &["efa-instance-type"],
            false,
        ),
        // An alias on a type without EFA: normalised, then denied for the type.
        (
            json!({"networkInterfaceType": "efa", "instanceType": "m5.2xlarge"}),
            &["efa-instance-type"],
            true,
        ),
        (
            json!({"networkInterfaceType": "fast"}),
            &["network-interface-type"],
            false,
        ),
        (
            json!({"networkInterfaceType": "EFA", "placement": "us-east-1a"}),
            &["malformed"],
            false,
        ),
    ];
    for kind in KINDS {
        for (fields, rules, patched) in cases {
            let object = object(kind, fields.clone());
            let decision = check_as_create(
                &request(kind, Operation::Create, Some(&object), None),
                &policy(Spelling::OpenShift),
                &caps,
            );
            let got: Vec<&str> = decision.errors.iter().map(FieldError::rule).collect();
            assert_eq!(&got, rules, "{kind:?} {fields}: {:?}", decision.errors);
            assert_eq!(!decision.patch.0.is_empty(), *patched, "{kind:?} {fields}");
        }
    }
}

#[test]
fn each_field_names_its_rule() {
    let path = |segments: &'static [&'static str]| FieldPath::fixed(segments);
    let cases = [
        (
            path(&["spec", "networkInterfaceType"]),
            "network-interface-type",
        ),
        (path(&["spec", "instanceType"]), "efa-instance-type"),
        (
            path(&["spec", "placement", "availabilityZone"]),
            "zone-offering",
        ),
        (path(&["spec", "failureDomain"]), "zone-offering"),
        (path(&["spec", "subnet", "filters"]), "zone-offering"),
        (path(&["spec", "placementGroupName"]), "placement-group"),
        (path(&["spec", "providerSpec", "value"]), "malformed"),
    ];
    for (path, rule) in cases {
        let error = FieldError::invalid(path.clone(), &json!("x"), "test");
        assert_eq!(error.rule(), rule, "{path}");
        assert!(FieldError::RULES.contains(&rule));
    }
}
