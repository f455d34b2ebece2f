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
    /// Derived from `instance_types` and `regions` by [`CapabilityTable::new`] and
    /// [`CapabilityTable::reindex`].
    efa_index: EfaIndex,
}

/// The EFA-capable types, ready for ranking: sorted by name, with their family, series
/// and size interned as numbers, and which of them each region offers, so that ranking
/// compares no strings and looks nothing up per candidate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EfaIndex {
    types: Vec<EfaType>,
    families: HashMap<String, u32>,
    series: HashMap<String, u32>,
    sizes: HashMap<String, u32>,
    /// The distinct vCPU counts of `types`: a ranking computes one distance per count.
    vcpu_counts: Vec<u32>,
    /// Per region, whether it offers each of `types`.
    offered: HashMap<String, Vec<bool>>,
}

/// An EFA-capable instance type with the parts suggestions are ranked by.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EfaType {
    name: String,
    vcpus: u32,
    /// `m5dn` of `m5dn.24xlarge`.
    family: u32,
    /// `m5` of `m5dn`.
    series: u32,
    /// `24xlarge`.
    size: u32,
    /// The first letter of the name, kept here so that ranking reads no string.
    letter: u8,
    /// Where `vcpus` is in [`EfaIndex::vcpu_counts`].
    vcpu_count: usize,
}

/// The parts of an instance type's name that ranking compares: `m5dn.24xlarge` →
/// (`m5dn`, `m5`, `24xlarge`).
fn name_parts(name: &str) -> (&str, &str, &str) {
    let (family, size) = split_type(name);
    (family, series(family), size)
}

impl EfaIndex {
    fn new(
        instance_types: &HashMap<String, InstanceTypeInfo>,
        regions: &HashMap<String, RegionOfferings>,
    ) -> Self {
        fn intern(ids: &mut HashMap<String, u32>, part: &str) -> u32 {
            let next = ids.len() as u32;
            *ids.entry(part.to_owned()).or_insert(next)
        }
        let mut efa: Vec<(&String, &InstanceTypeInfo)> = instance_types
            .iter()
            .filter(|(_, info)| info.efa_supported)
            .collect();
        // In name order, so that equal tables intern equal ids.
        efa.sort_by_key(|(name, _)| *name);
        let mut vcpu_counts: Vec<u32> = efa.iter().map(|(_, info)| info.vcpus).collect();
        vcpu_counts.sort_unstable();
        vcpu_counts.dedup();
        let mut index = EfaIndex {
            vcpu_counts,
            ..EfaIndex::default()
        };
        for (name, info) in efa {
            let (family, series, size) = name_parts(name);
            let efa_type = EfaType {
                name: name.clone(),
                vcpus: info.vcpus,
                family: intern(&mut index.families, family),
                series: intern(&mut index.series, series),
                size: intern(&mut index.sizes, size),
                letter: name.as_bytes().first().copied().unwrap_or(0),
                vcpu_count: index.vcpu_counts.binary_search(&info.vcpus).unwrap_or(0),
            };
            index.types.push(efa_type);
        }
        index.offered = regions
            .iter()
            .map(|(region, offerings)| {
                let offered = index
                    .types
                    .iter()
                    .map(|t| offerings.offered.contains(&t.name))
                    .collect();
                (region.clone(), offered)
            })
            .collect();
        index
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
            efa_index: EfaIndex::default(),
        };
        table.reindex();
        table
    }

    /// Rebuilds what is derived from `instance_types` and the regions' offerings; call
    /// after changing them.
    pub fn reindex(&mut self) {
        self.efa_index = EfaIndex::new(&self.instance_types, &self.regions);
    }
}

/// What the decision asks of a capability table. Implementations answer from memory:
/// a lookup never waits on anything.
pub trait CapabilityLookup {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo>;
    fn region(&self, region: &str) -> Option<&RegionOfferings>;
    /// Every EFA-capable instance type the table knows, for ranking suggestions.
    fn efa_index(&self) -> &EfaIndex;
}

impl CapabilityLookup for CapabilityTable {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.instance_types.get(name)
    }

    fn region(&self, region: &str) -> Option<&RegionOfferings> {
        self.regions.get(region)
    }

    fn efa_index(&self) -> &EfaIndex {
        &self.efa_index
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

/// Up to `limit` EFA-capable types offered in `region`, closest to `wanted` first:
/// same family, then same series (m5 for m5dn), then same letter; within that the same
/// size, then the nearest vCPU count; then by name.
pub fn efa_alternatives<'a>(
    table: &'a dyn CapabilityLookup,
    region: &str,
    wanted: &str,
    limit: usize,
) -> Vec<&'a str> {
    let index = table.efa_index();
    let Some(offered) = index.offered.get(region) else {
        return Vec::new();
    };
    let wanted_vcpus = table.instance_type(wanted).map_or(0, |t| t.vcpus);
    // Distance in vCPUs as a ratio, scaled to an integer so the key is totally ordered;
    // one per distinct count, not one division per candidate.
    let vcpu_distances: Vec<u64> = index
        .vcpu_counts
        .iter()
        .map(|&vcpus| {
            if wanted_vcpus > 0 && vcpus > 0 {
                let (lo, hi) = (wanted_vcpus.min(vcpus), wanted_vcpus.max(vcpus));
                u64::from(hi) * 1000 / u64::from(lo)
            } else {
                u64::MAX
            }
        })
        .collect();
    let (family, series, size) = name_parts(wanted);
    // A part no EFA-capable type shares matches nothing.
    let id = |ids: &HashMap<String, u32>, part: &str| ids.get(part).copied().unwrap_or(u32::MAX);
    let (family, series, size) = (
        id(&index.families, family),
        id(&index.series, series),
        id(&index.sizes, size),
    );
    let letter = wanted.as_bytes().first().copied();
    // The closest `limit`, kept sorted while scanning: no list of every candidate. The
    // scan is in name order, so a candidate ranked equal to the last kept one has the
    // later name and loses: the names never need comparing.
    let mut closest: Vec<((u8, u8, u64), &str)> = Vec::with_capacity(limit + 1);
    for (candidate, &offered) in index.types.iter().zip(offered) {
        if limit == 0 {
            break;
        }
        if !offered {
            continue;
        }
        let family_rank = if candidate.family == family {
            0
        } else if candidate.series == series {
            1
        } else if Some(candidate.letter) == letter {
            2
        } else {
            3
        };
        let size_rank = u8::from(candidate.size != size);
        let rank = (family_rank, size_rank, vcpu_distances[candidate.vcpu_count]);
        if closest.len() == limit && rank >= closest[limit - 1].0 {
            continue;
        }
        let at = closest.partition_point(|(kept, _)| *kept <= rank);
        closest.insert(at, (rank, candidate.name.as_str()));
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
