//! The rules of both endpoints.

use super::capability::CapabilityLookup;
use super::field_error::{FieldError, FieldPath, display_value, quote};
use super::object::{self, ProviderConfig, TargetKind, find_provider_config, optional_string};
use super::spelling::{InterfaceType, Reading, Spelling};
use super::{
    Decision, Operation, Policy, Request, SKIP_CAPABILITY_CHECK_ANNOTATION, UnknownInstanceType,
};
use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use serde_json::Value;

/// How many EFA-capable alternatives a denial offers.
const MAX_ALTERNATIVES: usize = 5;

const NETWORK_INTERFACE_TYPE: &str = "networkInterfaceType";
const INSTANCE_TYPE: &str = "instanceType";

/// An AWS machine or machine template under CREATE or UPDATE: what both endpoints
/// decide on.
struct Subject<'a> {
    kind: TargetKind,
    object: &'a Value,
    config: ProviderConfig<'a>,
    /// Cluster API's enum is `interface`/`efa` whatever the Machine API spelling.
    spelling: Spelling,
}

/// The subject of `req`, or the whole answer when there is nothing to decide.
fn subject<'a>(req: &Request<'a>, policy: &Policy) -> Result<Subject<'a>, Decision> {
    let Some(kind) = TargetKind::from_gvk(req.group, req.version, req.kind) else {
        return Err(Decision::default());
    };
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Err(Decision::default());
    }
    // Cluster API refuses any change to a template's spec: only metadata can change.
    if kind == TargetKind::AwsMachineTemplate && req.operation == Operation::Update {
        return Err(Decision::default());
    }
    let object_path = FieldPath::fixed(&["request", "object"]);
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
            spelling: if kind.is_cluster_api() {
                Spelling::Proposal
            } else {
                policy.spelling
            },
        }),
        Ok(None) => Err(Decision::default()),
        Err(error) => Err(Decision::denied(error)),
    }
}

/// `networkInterfaceType` as given, before any spelling is applied.
#[derive(Clone, Copy)]
enum GivenInterface<'a> {
    /// Absent, null or empty: the platform default applies.
    Unset,
    Text(&'a str),
    WrongType(&'a Value),
}

fn given_interface<'a>(config: &ProviderConfig<'a>) -> GivenInterface<'a> {
    match config.network_interface_type {
        None => GivenInterface::Unset,
        Some(value) => match value.as_str() {
            Some("") => GivenInterface::Unset,
            Some(text) => GivenInterface::Text(text),
            None => GivenInterface::WrongType(value),
        },
    }
}

/// `/mutate`: default an absent value on CREATE, normalise an alias on CREATE and UPDATE.
pub fn mutate(req: &Request<'_>, policy: &Policy) -> Decision {
    let subject = match subject(req, policy) {
        Ok(subject) => subject,
        Err(decision) => return decision,
    };
    let spelling = subject.spelling;
    let path = subject.config.field_path(NETWORK_INTERFACE_TYPE);
    let mut decision = Decision::default();
    match given_interface(&subject.config) {
        GivenInterface::Unset if req.operation == Operation::Create => {
            // `add` also replaces an existing null or empty member (RFC 6902 4.1).
            let value = spelling.canonical(InterfaceType::Standard);
            decision.patch.0.push(PatchOperation::Add(AddOperation {
                path: path.to_pointer(),
                value: Value::from(value),
            }));
        }
        GivenInterface::Text(given) => {
            if let Reading::Alias(interface) = spelling.read(given) {
                let canonical = spelling.canonical(interface);
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
        // Unset on UPDATE stays as stored; wrong types are /validate's to deny.
        GivenInterface::Unset | GivenInterface::WrongType(_) => {}
    }
    decision.bound_warnings()
}

/// `/validate`: the enum, the EFA capability check and the advice, with ratcheting.
pub fn validate(
    req: &Request<'_>,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
) -> Decision {
    let subject = match subject(req, policy) {
        Ok(subject) => subject,
        Err(decision) => return decision,
    };
    let mut decision = Decision::default();
    validate_config(&subject, req, policy, capabilities, &mut decision);

    if req.operation == Operation::Update && unchanged_by_update(req, &subject) {
        // Ratcheting: what was accepted before stays accepted, and advice already given
        // is not repeated on every label or finalizer change.
        decision.warnings = decision
            .errors
            .drain(..)
            .map(|error| {
                format!(
                    "{} (allowed: this update does not change it)",
                    error.summary()
                )
            })
            .collect();
    }
    decision.bound_warnings()
}

/// What ratcheting compares: the interface by meaning (the mutating hook may have
/// rewritten an alias stored before), everything else as given.
#[derive(PartialEq)]
enum InterfaceKey<'a> {
    Unset,
    Meaning(InterfaceType),
    Raw(&'a Value),
}

fn interface_key<'a>(config: &ProviderConfig<'a>, spelling: Spelling) -> InterfaceKey<'a> {
    match given_interface(config) {
        GivenInterface::Unset => InterfaceKey::Unset,
        GivenInterface::Text(text) => match spelling.read(text) {
            Reading::Canonical(meaning) | Reading::Alias(meaning) => InterfaceKey::Meaning(meaning),
            Reading::Unknown => match config.network_interface_type {
                Some(raw) => InterfaceKey::Raw(raw),
                None => InterfaceKey::Unset,
            },
        },
        GivenInterface::WrongType(value) => InterfaceKey::Raw(value),
    }
}

fn unchanged_by_update(req: &Request<'_>, subject: &Subject<'_>) -> bool {
    let new = &subject.config;
    let spelling = subject.spelling;
    req.old_object
        .and_then(|old| find_provider_config(old, subject.kind).ok().flatten())
        .is_some_and(|old| {
            interface_key(&old, spelling) == interface_key(new, spelling)
                && old.instance_type == new.instance_type
                && old.region == new.region
        })
}

fn validate_config(
    subject: &Subject<'_>,
    req: &Request<'_>,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
    decision: &mut Decision,
) {
    let config = &subject.config;
    let spelling = subject.spelling;
    // Paths are built only for the messages that name them.
    let interface_path = || config.field_path(NETWORK_INTERFACE_TYPE);
    let instance_path = || config.field_path(INSTANCE_TYPE);
    let region_path = || config.path.child("placement").child("region");

    let interface = match given_interface(config) {
        GivenInterface::Unset => None,
        GivenInterface::Text(given) => match spelling.read(given) {
            Reading::Canonical(interface) => Some(interface),
            Reading::Alias(_) | Reading::Unknown => {
                let hint = spelling
                    .likely_meant(given)
                    .map(|meant| format!("did you mean {}?", quote(meant)));
                decision.errors.push(
                    FieldError::unsupported(interface_path(), given, &spelling.supported_values())
                        .with_hint(hint),
                );
                None
            }
        },
        GivenInterface::WrongType(value) => {
            decision.errors.push(FieldError::invalid(
                interface_path(),
                value,
                "must be a string",
            ));
            None
        }
    };
    let instance_type = optional_string(config.instance_type, instance_path)
        .map_err(|e| decision.errors.push(e))
        .ok();
    let region = optional_string(config.region, region_path)
        .map_err(|e| decision.errors.push(e))
        .ok();

    if interface != Some(InterfaceType::Efa) {
        return;
    }
    if let Some(marker) = object::control_plane_marker(subject.object, subject.kind) {
        decision.warnings.push(format!(
            "EFA on a control-plane machine ({marker}) is not supported: use it on worker machines only"
        ));
    }
    let region = region.map(|region| {
        region.unwrap_or_else(|| default_region(subject, req, policy, &mut decision.warnings))
    });
    // A malformed instance type or region is already an error; nothing more to check.
    let (Some(instance_type), Some(region)) = (instance_type, region) else {
        return;
    };
    let efa = spelling.canonical(InterfaceType::Efa);
    let Some(instance_type) = instance_type else {
        decision.warnings.push(format!(
            "{} is not set while networkInterfaceType is {efa}: EFA support cannot be checked until an instance type is chosen",
            instance_path()
        ));
        return;
    };
    let skip = skip_capability_check(subject.object, &mut decision.warnings);
    let errors_before = decision.errors.len();
    let accepted = check_efa_instance_type(
        instance_type,
        region,
        &instance_path,
        policy,
        capabilities,
        &mut decision.errors,
        &mut decision.warnings,
    );
    if skip && decision.errors.len() > errors_before {
        decision.capability_check_skipped = true;
        let skipped: Vec<FieldError> = decision.errors.drain(errors_before..).collect();
        decision.warnings.extend(skipped.iter().map(|error| {
            format!(
                "{} (allowed: annotation {SKIP_CAPABILITY_CHECK_ANNOTATION} is \"true\")",
                error.summary()
            )
        }));
    }
    if accepted || decision.capability_check_skipped {
        decision.warnings.push(format!(
            "EFA on {} needs a security group that allows all traffic between its members, and the EFA device plugin (libfabric) on the nodes to be of use",
            quote(instance_type)
        ));
    }
}

/// The region of an object that names none: for Cluster API its AWSCluster's, when
/// known; else the webhook's own, said in a warning where it is a guess.
fn default_region<'a>(
    subject: &Subject<'_>,
    req: &Request<'a>,
    policy: &'a Policy,
    warnings: &mut Vec<String>,
) -> &'a str {
    if !subject.kind.is_cluster_api() {
        return &policy.default_region;
    }
    if let Some(region) = req.cluster_region {
        return region;
    }
    let cluster = match object::cluster_name(subject.object) {
        Some(name) => format!(
            "the region of cluster {} (its AWSCluster's spec.region) is not known",
            quote(name)
        ),
        None => format!(
            "there is no {} label to find the AWSCluster's region by",
            object::CLUSTER_NAME_LABEL
        ),
    };
    warnings.push(format!(
        "{cluster}: EFA support was checked in {}, the default region",
        policy.default_region
    ));
    &policy.default_region
}

/// Whether the object asks for capability denials to be warnings; a value other than
/// `"true"` is said, not guessed at.
fn skip_capability_check(object: &Value, warnings: &mut Vec<String>) -> bool {
    match object::annotation(object, SKIP_CAPABILITY_CHECK_ANNOTATION) {
        None => false,
        Some(value) if value.as_str() == Some("true") => true,
        Some(other) => {
            warnings.push(format!(
                "annotation {SKIP_CAPABILITY_CHECK_ANNOTATION} is {}: only \"true\" skips the capability check",
                quote(&display_value(other))
            ));
            false
        }
    }
}

/// Checks an EFA instance type against the table; returns whether it is accepted.
fn check_efa_instance_type(
    instance_type: &str,
    region: &str,
    instance_path: &dyn Fn() -> FieldPath,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) -> bool {
    let info = capabilities.instance_type(instance_type);
    let Some(offerings) = capabilities.region(region) else {
        let mut warning = format!(
            "region {} is not in the capability table: EFA support of {} was not checked",
            quote(region),
            quote(instance_type)
        );
        if info.is_some_and(|t| !t.efa_supported) {
            warning.push_str(" (it supports EFA in no region the table knows)");
        }
        warnings.push(warning);
        return true;
    };
    if let Some(stale) = &offerings.provenance.stale_reason {
        warnings.push(format!(
            "capability data for {region} is from the {}: {stale}",
            offerings.provenance
        ));
    }
    // Only a denial quotes the value back.
    let value = || Value::from(instance_type);
    match info {
        Some(info) if !info.efa_supported => {
            let alternatives = capabilities.efa_index().alternatives(
                region,
                instance_type,
                info.vcpus,
                MAX_ALTERNATIVES,
            );
            let hint = if alternatives.is_empty() {
                format!("no EFA-capable type is offered in {region}")
            } else {
                format!(
                    "EFA-capable types offered in {region}, closest first: {}",
                    alternatives.join(", ")
                )
            };
            errors.push(
                FieldError::invalid(
                    instance_path(),
                    &value(),
                    format!("EFA interfaces are not supported on {instance_type} in {region}"),
                )
                .with_hint(Some(hint)),
            );
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
                    errors.push(FieldError::invalid(instance_path(), &value(), detail));
                    false
                }
                UnknownInstanceType::Warn => {
                    warnings.push(format!(
                        "instance type {} {detail}: its EFA support could not be checked",
                        quote(instance_type)
                    ));
                    true
                }
            }
        }
    }
}
