//! `/mutate`: defaulting and normalising, for the Machine API kinds.

use super::*;

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
