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
    /// The EFA-capable types, split for ranking; derived from `instance_types` by
    /// [`CapabilityTable::new`] and [`CapabilityTable::reindex`].
    efa_types: Vec<EfaType>,
}

/// An EFA-capable instance type with the parts suggestions are ranked by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EfaType {
    pub name: String,
    /// `m5dn` of `m5dn.24xlarge`, as a length of `name`.
    family_len: usize,
    /// `m5` of `m5dn`, as a length of `name`.
    series_len: usize,
    pub vcpus: u32,
}

impl EfaType {
    fn new(name: &str, vcpus: u32) -> Self {
        let (family, _) = split_type(name);
        EfaType {
            name: name.to_owned(),
            family_len: family.len(),
            series_len: series(family).len(),
            vcpus,
        }
    }

    fn family(&self) -> &str {
        &self.name[..self.family_len]
    }

    fn series(&self) -> &str {
        &self.name[..self.series_len]
    }

    fn size(&self) -> &str {
        self.name[self.family_len..].trim_start_matches('.')
    }
}

impl CapabilityTable {
    pub fn new(
        instance_types: HashMap<String, InstanceTypeInfo>,
        regions: HashMap<String, RegionOfferings>,
    ) -> Self {
        let mut table = CapabilityTable {
            instance_types,
            regions,
            efa_types: Vec::new(),
        };
        table.reindex();
        table
    }

    /// Rebuilds what is derived from `instance_types`; call after changing it.
    pub fn reindex(&mut self) {
        self.efa_types = self
            .instance_types
            .iter()
            .filter(|(_, info)| info.efa_supported)
            .map(|(name, info)| EfaType::new(name, info.vcpus))
            .collect();
        self.efa_types.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

/// What the decision asks of a capability table. Implementations answer from memory:
/// a lookup never waits on anything.
pub trait CapabilityLookup {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo>;
    fn region(&self, region: &str) -> Option<&RegionOfferings>;
    /// Every EFA-capable instance type the table knows, for ranking suggestions.
    fn efa_types(&self) -> &[EfaType];
}

impl CapabilityLookup for CapabilityTable {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.instance_types.get(name)
    }

    fn region(&self, region: &str) -> Option<&RegionOfferings> {
        self.regions.get(region)
    }

    fn efa_types(&self) -> &[EfaType] {
        &self.efa_types
    }
}

/// `m5dn.24xlarge` → (`m5dn`, `24xlarge`).
fn split_type(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or((name, ""))
}

/// The family of an instance type: `c5n` of `c5n.18xlarge`.
pub fn instance_family(name: &str) -> &str {
    split_type(name).0
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
    let wanted = EfaType::new(wanted, table.instance_type(wanted).map_or(0, |t| t.vcpus));
    let (family, series, size) = (wanted.family(), wanted.series(), wanted.size());
    // The closest `limit`, kept sorted while scanning: no list of every candidate.
    let mut closest: Vec<((u8, u8, u64), &str)> = Vec::with_capacity(limit + 1);
    for candidate in table.efa_types() {
        if limit == 0 {
            break;
        }
        let family_rank = if candidate.family() == family {
            0
        } else if candidate.series() == series {
            1
        } else if candidate.name.as_bytes().first() == family.as_bytes().first() {
            2
        } else {
            3
        };
        let size_rank = u8::from(candidate.size() != size);
        // Distance in vCPUs as a ratio, scaled to an integer so the key is totally ordered.
        let vcpu_distance = if wanted.vcpus > 0 && candidate.vcpus > 0 {
            let (lo, hi) = (
                wanted.vcpus.min(candidate.vcpus),
                wanted.vcpus.max(candidate.vcpus),
            );
            u64::from(hi) * 1000 / u64::from(lo)
        } else {
            u64::MAX
        };
        let ranked = (
            (family_rank, size_rank, vcpu_distance),
            candidate.name.as_str(),
        );
        if closest.len() == limit && ranked >= closest[limit - 1] {
            continue;
        }
        // Offered last: the set lookup costs more than the ranking.
        if !offerings.offered.contains(&candidate.name) {
            continue;
        }
        let at = closest.partition_point(|c| *c < ranked);
        closest.insert(at, ranked);
        closest.truncate(limit);
    }
    closest.into_iter().map(|(_, name)| name).collect()
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
