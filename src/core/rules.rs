//! The rules of both endpoints: which objects are decided on, `/mutate`'s defaulting
//! and normalising, and `/validate`: the enum, then the EFA checks (`efa`) and the
//! launch checks (`launch`), with the skip annotation and ratcheting applied to what
//! they find.

use super::capability::CapabilityLookup;
use super::field_error::{FieldError, FieldPath, display_value, quote};
use super::object::{
    self, Field, ProviderConfig, TargetKind, find_provider_config, optional_string,
};
use super::spelling::{InterfaceType, Reading, Spelling};
use super::{Decision, Operation, Policy, Request, SKIP_CAPABILITY_CHECK_ANNOTATION};
use super::{efa, launch};
use json_patch::{AddOperation, PatchOperation, ReplaceOperation};
use serde_json::Value;

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

/// What the API server's two calls make of a CREATE of `req.object`: `/mutate`, then
/// `/validate` on the mutated object. For objects judged outside an admission (`check`,
/// `audit`): one that only lacks a default or spells an alias is no finding.
pub fn check_as_create(
    req: &Request<'_>,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
) -> Decision {
    let mutated = mutate(req, policy);
    // A denial by the mutating hook ends the request there, as in the API server.
    if !mutated.allowed() {
        return mutated;
    }
    let patched = match req.object {
        Some(object) if !mutated.patch.0.is_empty() => {
            let mut after = object.clone();
            json_patch::patch(&mut after, &mutated.patch)
                .expect("the core's patch applies to its object");
            Some(after)
        }
        _ => None,
    };
    let validated = validate(
        &Request {
            object: patched.as_ref().or(req.object),
            ..*req
        },
        policy,
        capabilities,
    );
    Decision {
        patch: mutated.patch,
        errors: validated.errors,
        warnings: mutated
            .warnings
            .into_iter()
            .chain(validated.warnings)
            .collect(),
        capability_check_skipped: validated.capability_check_skipped,
    }
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
                && old.zone.map(|zone| zone.value) == new.zone.as_ref().map(|zone| zone.value)
                && old.placement_group == new.placement_group
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
    let efa = interface == Some(InterfaceType::Efa);
    if efa && let Some(marker) = object::control_plane_marker(subject.object, subject.kind) {
        decision.warnings.push(format!(
            "EFA on a control-plane machine ({marker}) is not supported: use it on worker machines only"
        ));
    }
    // A malformed instance type or region is already an error; nothing more to check.
    let (Some(instance_type), Some(region)) = (instance_type, region) else {
        return;
    };
    let Some(region) =
        region.or_else(|| launch_region(subject, req, policy, efa, &mut decision.warnings))
    else {
        return;
    };
    if efa && instance_type.is_none() {
        decision.warnings.push(format!(
            "{} is not set while networkInterfaceType is {}: EFA support cannot be checked until an instance type is chosen",
            instance_path(),
            spelling.canonical(InterfaceType::Efa)
        ));
    }
    let checked_from = decision.errors.len();
    if let (true, Some(instance_type)) = (efa, instance_type) {
        efa::check_instance_type(
            instance_type,
            region,
            &instance_path,
            policy,
            capabilities,
            &mut decision.errors,
            &mut decision.warnings,
        );
    }
    if let (Some(instance_type), Some(zone)) = (instance_type, &config.zone) {
        let type_denied = decision.errors.len() > checked_from;
        launch::check_zone(
            instance_type,
            region,
            zone,
            type_denied,
            capabilities,
            &mut decision.errors,
            &mut decision.warnings,
        );
    }
    if let Some(value) = config.placement_group {
        let group = Field {
            path: config.field_path("placementGroupName"),
            value,
        };
        launch::check_placement_group(
            &group,
            region,
            efa,
            capabilities,
            &mut decision.errors,
            &mut decision.warnings,
        );
    }
    // The skip annotation is read where it could matter: for an EFA machine, or when a
    // check against EC2 data denied.
    let skip = (efa && instance_type.is_some() || decision.errors.len() > checked_from)
        && skip_capability_check(subject.object, &mut decision.warnings);
    if skip && decision.errors.len() > checked_from {
        decision.capability_check_skipped = true;
        let skipped: Vec<FieldError> = decision.errors.drain(checked_from..).collect();
        decision.warnings.extend(skipped.iter().map(|error| {
            format!(
                "{} (allowed: annotation {SKIP_CAPABILITY_CHECK_ANNOTATION} is \"true\")",
                error.summary()
            )
        }));
    }
    // Advice is for a machine that will launch.
    if let (true, Some(instance_type)) = (efa, instance_type)
        && decision.errors.len() == checked_from
    {
        let security_groups = config.security_groups.and_then(object::security_group_refs);
        efa::advise(
            instance_type,
            region,
            security_groups.as_deref(),
            capabilities,
            &mut decision.warnings,
        );
    }
}

/// The region a machine that names none launches in: for Cluster API its AWSCluster's,
/// when known; else, for the Machine API, the webhook's own. An EFA check goes on in
/// the webhook's region with a warning; the other checks skip a region that is a guess.
fn launch_region<'a>(
    subject: &Subject<'_>,
    req: &Request<'a>,
    policy: &'a Policy,
    efa: bool,
    warnings: &mut Vec<String>,
) -> Option<&'a str> {
    if !subject.kind.is_cluster_api() {
        return Some(&policy.default_region);
    }
    if let Some(region) = req.cluster_region {
        return Some(region);
    }
    if !efa {
        return None;
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
    Some(&policy.default_region)
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
