//! The instance-type capability table as plain data, and the lookups the decision needs.
//! Where the data comes from (embedded snapshot, file, live EC2) is the capability
//! source's business, not this module's.

use std::collections::{HashMap, HashSet};
use std::fmt;

/// What the table knows of one instance type. EFA support is a property of the type,
/// the same in every region; what differs per region is whether the type is offered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceTypeInfo {
    pub efa_supported: bool,
    pub maximum_efa_interfaces: u32,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub network_performance: String,
}

/// Where a region's data came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Embedded,
    File,
    Ec2,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Embedded => "embedded",
            SourceKind::File => "file",
            SourceKind::Ec2 => "ec2",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provenance {
    pub source: SourceKind,
    /// RFC 3339 time the data was read from EC2 (or the snapshot was made).
    pub fetched_at: String,
    /// Set when fresher data was wanted and could not be had: said in a warning.
    pub stale_reason: Option<String>,
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source {
            SourceKind::Embedded => "embedded snapshot",
            SourceKind::File => "snapshot file",
            SourceKind::Ec2 => "EC2",
        };
        write!(f, "{kind} of {}", self.fetched_at)
    }
}

/// The instance types one region offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionOfferings {
    pub offered: HashSet<String>,
    pub provenance: Provenance,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapabilityTable {
    pub instance_types: HashMap<String, InstanceTypeInfo>,
    pub regions: HashMap<String, RegionOfferings>,
}

/// What the decision asks of a capability table. Implementations answer from memory:
/// a lookup never waits on anything.
pub trait CapabilityLookup {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo>;
    fn region(&self, region: &str) -> Option<&RegionOfferings>;
    /// Every instance type the table knows, for ranking suggestions.
    fn instance_types(&self) -> Box<dyn Iterator<Item = (&str, &InstanceTypeInfo)> + '_>;
}

impl CapabilityLookup for CapabilityTable {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.instance_types.get(name)
    }

    fn region(&self, region: &str) -> Option<&RegionOfferings> {
        self.regions.get(region)
    }

    fn instance_types(&self) -> Box<dyn Iterator<Item = (&str, &InstanceTypeInfo)> + '_> {
        Box::new(self.instance_types.iter().map(|(k, v)| (k.as_str(), v)))
    }
}

/// `m5dn.24xlarge` → (`m5dn`, `24xlarge`).
fn split_type(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or((name, ""))
}

/// `m5dn` → `m5`: the series letters and generation, without attribute suffixes.
fn series(family: &str) -> &str {
    let end = family
        .char_indices()
        .skip_while(|(_, c)| c.is_ascii_alphabetic())
        .skip_while(|(_, c)| c.is_ascii_digit())
        .map(|(i, _)| i)
        .next()
        .unwrap_or(family.len());
    &family[..end]
}

/// Up to `limit` EFA-capable types offered in `offerings`, closest to `wanted` first:
/// same family, then same series (m5 for m5dn), then same letter; within that the same
/// size, then the nearest vCPU count.
pub fn efa_alternatives<'a>(
    table: &'a dyn CapabilityLookup,
    offerings: &RegionOfferings,
    wanted: &str,
    limit: usize,
) -> Vec<&'a str> {
    let (family, size) = split_type(wanted);
    let wanted_vcpus = table
        .instance_type(wanted)
        .map(|t| t.vcpus)
        .filter(|v| *v > 0);
    let mut candidates: Vec<((u8, u8, u64), &str)> = table
        .instance_types()
        .filter(|(name, info)| info.efa_supported && offerings.offered.contains(*name))
        .map(|(name, info)| {
            let (c_family, c_size) = split_type(name);
            let family_rank = if c_family == family {
                0
            } else if series(c_family) == series(family) {
                1
            } else if c_family.chars().next() == family.chars().next() {
                2
            } else {
                3
            };
            let size_rank = u8::from(c_size != size);
            // Distance in vCPUs as a ratio, scaled to an integer so the key is totally ordered.
            let vcpu_distance = match wanted_vcpus {
                Some(w) if info.vcpus > 0 => {
                    let (lo, hi) = (w.min(info.vcpus), w.max(info.vcpus));
                    u64::from(hi) * 1000 / u64::from(lo)
                }
                _ => u64::MAX,
            };
            ((family_rank, size_rank, vcpu_distance), name)
        })
        .collect();
    candidates.sort_unstable();
    candidates
        .into_iter()
        .take(limit)
        .map(|(_, name)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_strips_attribute_suffixes() {
        assert_eq!(series("m5dn"), "m5");
        assert_eq!(series("c5n"), "c5");
        assert_eq!(series("p4d"), "p4");
        assert_eq!(series("hpc6a"), "hpc6");
        assert_eq!(series("u-6tb1"), "u");
    }
}
