//! The rules of both endpoints.

use super::capability::{CapabilityLookup, efa_alternatives};
use super::field_error::{FieldError, FieldPath, quote};
use super::object::{self, ProviderConfig, TargetKind, find_provider_config, optional_string};
use super::spelling::{InterfaceType, Reading};
use super::{Decision, Operation, Policy, Request, UnknownInstanceType};
use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use serde_json::Value;

/// How many EFA-capable alternatives a denial offers.
const MAX_ALTERNATIVES: usize = 5;

const NETWORK_INTERFACE_TYPE: &str = "networkInterfaceType";
const INSTANCE_TYPE: &str = "instanceType";

/// The object a decision is about, or the answer when there is nothing to decide.
struct Subject<'a> {
    kind: TargetKind,
    object: &'a Value,
    config: ProviderConfig<'a>,
}

fn subject<'a>(req: &Request<'a>) -> Result<Subject<'a>, Decision> {
    let Some(kind) = TargetKind::from_gvk(req.group, req.version, req.kind) else {
        return Err(Decision::default());
    };
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Err(Decision::default());
    }
    let object_path = FieldPath::new(["request", "object"]);
    let Some(object) = req.object else {
        return Err(Decision::denied(FieldError::required(
            object_path,
            "a CREATE or UPDATE review must carry the object",
        )));
    };
    if !object.is_object() {
        return Err(Decision::denied(FieldError::invalid(
            object_path,
            object,
            "must be an object",
        )));
    }
    // Nothing may stand in the way of a Machine going away (finalizer removal included).
    if object::is_being_deleted(object) {
        return Err(Decision::default());
    }
    match find_provider_config(object, kind) {
        Ok(Some(config)) => Ok(Subject {
            kind,
            object,
            config,
        }),
        Ok(None) => Err(Decision::default()),
        Err(error) => Err(Decision::denied(error)),
    }
}

/// `/mutate`: default an absent value on CREATE, normalise an alias on CREATE and UPDATE.
pub fn mutate(req: &Request<'_>, policy: &Policy) -> Decision {
    let subject = match subject(req) {
        Ok(subject) => subject,
        Err(decision) => return decision,
    };
    let path = subject.config.field_path(NETWORK_INTERFACE_TYPE);
    let mut decision = Decision::default();
    match subject.config.network_interface_type {
        None | Some(Value::String(_))
            if req.operation == Operation::Create
                && optional_string(subject.config.network_interface_type, path.clone())
                    .is_ok_and(|v| v.is_none()) =>
        {
            // `add` also replaces an existing null or empty member (RFC 6902 4.1).
            let value = policy.spelling.canonical(InterfaceType::Standard);
            decision.patch.0.push(PatchOperation::Add(AddOperation {
                path: path.to_pointer(),
                value: Value::from(value),
            }));
        }
        Some(Value::String(given)) => {
            if let Reading::Alias(interface) = policy.spelling.read(given) {
                let canonical = policy.spelling.canonical(interface);
                decision
                    .patch
                    .0
                    .push(PatchOperation::Replace(ReplaceOperation {
                        path: path.to_pointer(),
                        value: Value::from(canonical),
                    }));
                decision.warnings.push(format!(
                    "{path}: {} was normalised to the canonical {}",
                    quote(given),
                    quote(canonical)
                ));
            }
        }
        // Wrong types are /validate's to deny.
        _ => {}
    }
    decision
}

/// `/validate`: the enum, the EFA capability check and the advice, with ratcheting.
pub fn validate(
    req: &Request<'_>,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
) -> Decision {
    let subject = match subject(req) {
        Ok(subject) => subject,
        Err(decision) => return decision,
    };
    let mut decision = Decision::default();
    check(&subject, policy, capabilities, &mut decision);

    if req.operation == Operation::Update && unchanged_by_update(req, &subject) {
        // Ratcheting: what was accepted before stays accepted, and advice already given
        // is not repeated on every label or finalizer change.
        decision.warnings = decision
            .errors
            .drain(..)
            .map(|error| format!("{error} (allowed: this update does not change it)"))
            .collect();
    }
    decision
}

fn unchanged_by_update(req: &Request<'_>, subject: &Subject<'_>) -> bool {
    req.old_object
        .and_then(|old| find_provider_config(old, subject.kind).ok().flatten())
        .is_some_and(|old| old.checked_fields() == subject.config.checked_fields())
}

fn check(
    subject: &Subject<'_>,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
    decision: &mut Decision,
) {
    let config = &subject.config;
    let nit_path = config.field_path(NETWORK_INTERFACE_TYPE);
    let instance_path = config.field_path(INSTANCE_TYPE);
    let region_path = config.path.child("placement").child("region");

    let interface = match config.network_interface_type {
        None => None,
        Some(Value::String(given)) if given.is_empty() => None,
        Some(Value::String(given)) => match policy.spelling.read(given) {
            Reading::Canonical(interface) => Some(interface),
            Reading::Alias(_) | Reading::Unknown => {
                let hint = policy
                    .spelling
                    .likely_meant(given)
                    .map(|meant| format!("did you mean {}?", quote(meant)));
                decision.errors.push(FieldError::unsupported(
                    nit_path,
                    given,
                    &policy.spelling.supported_values(),
                    hint,
                ));
                None
            }
        },
        Some(other) => {
            decision
                .errors
                .push(FieldError::invalid(nit_path, other, "must be a string"));
            None
        }
    };
    let instance_type = optional_string(config.instance_type, instance_path.clone())
        .map_err(|e| decision.errors.push(e))
        .ok()
        .flatten();
    let region = optional_string(config.region, region_path)
        .map_err(|e| decision.errors.push(e))
        .ok()
        .flatten()
        .unwrap_or(&policy.default_region);

    if interface != Some(InterfaceType::Efa) {
        return;
    }
    let efa = policy.spelling.canonical(InterfaceType::Efa);
    let Some(instance_type) = instance_type else {
        decision.warnings.push(format!(
            "{instance_path} is not set while networkInterfaceType is {efa}: EFA support cannot be checked until an instance type is chosen"
        ));
        return;
    };
    let accepted = check_efa_instance_type(
        instance_type,
        region,
        &instance_path,
        policy,
        capabilities,
        decision,
    );
    if accepted {
        decision.warnings.push(format!(
            "EFA on {instance_type} needs a security group that allows all traffic between its members, and the EFA device plugin (libfabric) on the nodes to be of use"
        ));
        if object::machine_role(subject.object, subject.kind) == Some("master") {
            decision.warnings.push(
                "EFA on a control-plane machine (role master) is not supported: use it on worker machines only"
                    .to_owned(),
            );
        }
    }
}

/// Checks an EFA instance type against the table; returns whether it is known to be fine
/// (or at least not known to be wrong).
fn check_efa_instance_type(
    instance_type: &str,
    region: &str,
    instance_path: &FieldPath,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
    decision: &mut Decision,
) -> bool {
    let info = capabilities.instance_type(instance_type);
    let Some(offerings) = capabilities.region(region) else {
        let mut warning = format!(
            "region {} is not in the capability table: EFA support of {instance_type} was not checked",
            quote(region)
        );
        if info.is_some_and(|t| !t.efa_supported) {
            warning.push_str(&format!(
                " ({instance_type} supports EFA in no region the table knows)"
            ));
        }
        decision.warnings.push(warning);
        return true;
    };
    if let Some(stale) = &offerings.provenance.stale_reason {
        decision.warnings.push(format!(
            "capability data for {region} is from the {}: {stale}",
            offerings.provenance
        ));
    }
    let value = Value::from(instance_type);
    match info {
        Some(info) if !info.efa_supported => {
            let alternatives =
                efa_alternatives(capabilities, offerings, instance_type, MAX_ALTERNATIVES);
            let offer = if alternatives.is_empty() {
                format!("no EFA-capable type is offered in {region}")
            } else {
                format!(
                    "EFA-capable types offered in {region}, closest first: {}",
                    alternatives.join(", ")
                )
            };
            decision.errors.push(FieldError::invalid(
                instance_path.clone(),
                &value,
                format!("EFA interfaces are not supported on {instance_type} in {region}; {offer}"),
            ));
            false
        }
        Some(_) if offerings.offered.contains(instance_type) => true,
        known => {
            let detail = if known.is_some() {
                format!(
                    "is not offered in {region} according to the capability table ({})",
                    offerings.provenance
                )
            } else {
                format!(
                    "is not an instance type the capability table ({}) knows in {region}",
                    offerings.provenance
                )
            };
            match policy.unknown_instance_type {
                UnknownInstanceType::Deny => {
                    decision.errors.push(FieldError::invalid(
                        instance_path.clone(),
                        &value,
                        detail,
                    ));
                    false
                }
                UnknownInstanceType::Warn => {
                    decision.warnings.push(format!(
                        "instance type {} {detail}: its EFA support could not be checked",
                        quote(instance_type)
                    ));
                    true
                }
            }
        }
    }
}
