//! The checks of an EFA machine: its instance type against the capability table (with
//! the types to suggest instead), and the advice an accepted EFA machine gets (its
//! security groups' rules, the device plugin).

use super::capability::{CapabilityLookup, SecurityGroup, SecurityGroupRef};
use super::field_error::{FieldError, FieldPath, quote};
use super::{Policy, UnknownInstanceType};
use serde_json::Value;

/// How many EFA-capable alternatives a denial offers.
const MAX_ALTERNATIVES: usize = 5;
/// How many regions a "not offered here" message names before it counts the rest.
const MAX_REGIONS_NAMED: usize = 6;
/// How many groups without the EFA rule get a warning each.
const MAX_GROUPS_NAMED: usize = 3;

/// Checks an EFA instance type against the table.
pub(super) fn check_instance_type(
    instance_type: &str,
    region: &str,
    instance_path: &dyn Fn() -> FieldPath,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
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
        return;
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
        }
        Some(_) if offerings.offered.contains(instance_type) => {}
        Some(_) => {
            // It has EFA; it is the region that lacks it.
            let detail = format!(
                "is not offered in {region} according to the capability table ({}), so RunInstances would fail there",
                offerings.provenance
            );
            let elsewhere = offered_in(capabilities.regions_offering(instance_type));
            match policy.unknown_instance_type {
                UnknownInstanceType::Deny => {
                    errors.push(
                        FieldError::invalid(instance_path(), &value(), detail)
                            .with_hint(Some(elsewhere)),
                    );
                }
                UnknownInstanceType::Warn => {
                    warnings.push(format!(
                        "instance type {} supports EFA but {detail}; {elsewhere}",
                        quote(instance_type)
                    ));
                }
            }
        }
        None => {
            let detail = format!(
                "is not an instance type the capability table ({}) knows in {region}",
                offerings.provenance
            );
            match policy.unknown_instance_type {
                UnknownInstanceType::Deny => {
                    errors.push(FieldError::invalid(instance_path(), &value(), detail));
                }
                UnknownInstanceType::Warn => {
                    warnings.push(format!(
                        "instance type {} {detail}: its EFA support could not be checked",
                        quote(instance_type)
                    ));
                }
            }
        }
    }
}

/// `offered in: a, b, c` with at most [`MAX_REGIONS_NAMED`] regions named.
fn offered_in(regions: Vec<&str>) -> String {
    match regions.len() {
        0 => "no region the table knows offers it".to_owned(),
        n if n <= MAX_REGIONS_NAMED => format!("offered in: {}", regions.join(", ")),
        n => format!(
            "offered in: {} and {} more regions",
            regions[..MAX_REGIONS_NAMED].join(", "),
            n - MAX_REGIONS_NAMED
        ),
    }
}

/// The advice an accepted EFA machine gets: what its security groups lack, as far as
/// EC2 has told, and the device plugin. `security_groups` is what the machine names
/// (`None` when the object does not show them all).
pub(super) fn advise(
    instance_type: &str,
    region: &str,
    security_groups: Option<&[SecurityGroupRef]>,
    capabilities: &dyn CapabilityLookup,
    warnings: &mut Vec<String>,
) {
    let device_plugin = format!(
        "EFA on {} needs the EFA device plugin (libfabric) on the nodes to be of use",
        quote(instance_type)
    );
    let Some(groups) = resolved_groups(region, security_groups, capabilities) else {
        warnings.push(format!(
            "EFA on {} needs a security group that allows all traffic between its members, and the EFA device plugin (libfabric) on the nodes to be of use",
            quote(instance_type)
        ));
        return;
    };
    if groups.is_empty() {
        warnings.push(format!(
            "the security groups of this machine match no group in {region}: EFA needs one that allows all traffic from and to itself"
        ));
    } else if !groups
        .iter()
        .any(|group| group.allows_all_from_itself && group.allows_all_to_itself)
    {
        warnings.extend(
            groups
                .iter()
                .take(MAX_GROUPS_NAMED)
                .map(|group| lacking_rules(group)),
        );
    }
    warnings.push(device_plugin);
}

/// Every group the machine's references resolve to, each once; `None` while any of them
/// is not resolved yet (or the machine names none the controller could read).
fn resolved_groups<'a>(
    region: &str,
    references: Option<&[SecurityGroupRef]>,
    capabilities: &'a dyn CapabilityLookup,
) -> Option<Vec<&'a SecurityGroup>> {
    let references = references.filter(|references| !references.is_empty())?;
    let mut groups: Vec<&SecurityGroup> = Vec::new();
    for reference in references {
        let resolved = capabilities.security_groups(region, reference)?;
        for group in &resolved.groups {
            if !groups.iter().any(|kept| kept.id == group.id) {
                groups.push(group);
            }
        }
    }
    Some(groups)
}

/// What `group` lacks for EFA, as a warning.
fn lacking_rules(group: &SecurityGroup) -> String {
    let named = if group.name.is_empty() {
        group.id.clone()
    } else {
        format!("{} ({})", group.id, group.name)
    };
    let mut missing = Vec::new();
    if !group.allows_all_from_itself {
        missing.push("no inbound rule allowing all traffic from itself");
    }
    if !group.allows_all_to_itself {
        missing.push("no outbound rule allowing all traffic to itself");
    }
    format!(
        "EFA traffic between these machines will be dropped: security group {named} has {}",
        missing.join(" and ")
    )
}
