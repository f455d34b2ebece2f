//! The launch checks, for every AWS machine whatever its interface: whether its zone
//! offers its instance type, and whether its placement group exists (and, for EFA, keeps
//! the instances close). Each is a RunInstances failure moved to admission.

use super::capability::{CapabilityLookup, Found, Provenance};
use super::field_error::{FieldError, quote};
use super::object::Field;

/// Checks that the zone the machine names offers `instance_type`. A denial needs this
/// account's zone names (live data); without them a partial offering is a warning,
/// unless the type is already denied on this machine: a guess about a type that must
/// change anyway is noise beside the denial, and it comes with the next type if due.
pub(super) fn check_zone(
    instance_type: &str,
    region: &str,
    zone: &Field<'_>,
    type_denied: bool,
    capabilities: &dyn CapabilityLookup,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let Some(zone_name) = zone.value.as_str().filter(|name| !name.is_empty()) else {
        return;
    };
    // A region that does not offer the type, or whose zones the table lacks, is for the
    // other checks (or none) to speak of.
    let Some(offerings) = capabilities.region(region) else {
        return;
    };
    if !offerings.offered.contains(instance_type) || offerings.zones.is_empty() {
        return;
    }
    let Some(names) = capabilities.zone_names(region) else {
        if type_denied {
            return;
        }
        let offering: Vec<&str> = offerings.zones_offering(instance_type).collect();
        if offering.len() < offerings.zones.len() {
            warnings.push(format!(
                "instance type {instance_type} is offered in {} of the {} zones of {region} (by zone ID: {}); whether {} is one of them needs this account's zone names: --capabilities ec2",
                offering.len(),
                offerings.zones.len(),
                offering.join(", "),
                quote(zone_name)
            ));
        }
        return;
    };
    let Some(zone_id) = names.ids.get(zone_name) else {
        warnings.push(format!(
            "{}: {} is not a zone of {region} in this account (zones: {})",
            zone.path,
            quote(zone_name),
            names.ids.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        return;
    };
    // A zone the offering data does not cover cannot be judged.
    if offerings
        .zones
        .get(zone_id)
        .is_none_or(|offered| offered.contains(instance_type))
    {
        return;
    }
    let mut offering_names: Vec<&str> = offerings
        .zones_offering(instance_type)
        .map(|id| names.name_of(id).unwrap_or(id))
        .collect();
    offering_names.sort_unstable();
    let hint = if offering_names.is_empty() {
        format!("no zone of {region} offers it")
    } else {
        format!("offered in: {}", offering_names.join(", "))
    };
    errors.push(
        FieldError::invalid(
            zone.path.clone(),
            zone.value,
            format!("instance type {instance_type} is not offered in {zone_name} ({zone_id})"),
        )
        .with_hint(Some(hint)),
    );
}

/// Checks that the placement group the machine names exists in its region, from EC2
/// data that is not stale (a lookup that misses asks for the list again); for EFA, that
/// it is a `cluster` group.
pub(super) fn check_placement_group(
    group: &Field<'_>,
    region: &str,
    efa: bool,
    capabilities: &dyn CapabilityLookup,
    errors: &mut Vec<FieldError>,
    warnings: &mut Vec<String>,
) {
    let Some(name) = group.value.as_str().filter(|name| !name.is_empty()) else {
        return;
    };
    let missing =
        |provenance: &Provenance, errors: &mut Vec<FieldError>, warnings: &mut Vec<String>| {
            let detail = format!("there is no placement group {name} in {region} ({provenance})");
            if provenance.is_fresh_ec2() {
                errors.push(
                    FieldError::invalid(group.path.clone(), group.value, detail).with_hint(Some(
                        "a group made since then is found once the list is read again".to_owned(),
                    )),
                );
            } else {
                warnings.push(format!(
                    "{}: {detail}, which is stale: not checked",
                    group.path
                ));
            }
        };
    match capabilities.placement_group(region, name) {
        Found::Unknown => {}
        Found::No(provenance) => missing(provenance, errors, warnings),
        Found::Yes(found, provenance) if found.state == "deleted" => {
            missing(provenance, errors, warnings)
        }
        Found::Yes(found, _) => {
            if found.state != "available" {
                warnings.push(format!(
                    "placement group {} in {region} is {}: instances cannot launch into it until it is available",
                    quote(name),
                    found.state
                ));
            }
            if efa && found.strategy != "cluster" {
                warnings.push(format!(
                    "placement group {} has strategy {}: EFA's low latency needs the instances close together, in a cluster placement group",
                    quote(name),
                    found.strategy
                ));
            }
        }
    }
}
