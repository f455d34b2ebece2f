//! The instance-type capability table as plain data, and the lookups the decision needs.
//! Where the data comes from (embedded snapshot, file, live EC2) is the capability
//! source's business, not this module's.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::RwLock;

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
    ranked: Ranked,
}

/// Rankings already made, by region and wanted type, as places in
/// [`EfaIndex::types`]: the same denial comes back (a controller or a pipeline
/// re-applying one manifest), and a ranking scans every EFA-capable type. Never waited
/// on: a lookup that would wait ranks afresh, and an insert that would wait is dropped.
/// The table bounds the keys that reach it; [`MAX_RANKED`] bounds them again.
#[derive(Default)]
struct Ranked(RwLock<HashMap<String, RankedInRegion>>);

/// By wanted type: the limit it was ranked for, and the places ranked.
type RankedInRegion = HashMap<String, (usize, Vec<usize>)>;

const MAX_RANKED: usize = 20_000;

impl Ranked {
    fn get(&self, region: &str, wanted: &str, limit: usize) -> Option<Vec<usize>> {
        let ranked = self.0.try_read().ok()?;
        let (kept_limit, places) = ranked.get(region)?.get(wanted)?;
        (*kept_limit == limit).then(|| places.clone())
    }

    fn insert(&self, region: &str, wanted: &str, limit: usize, places: Vec<usize>) {
        let Ok(mut ranked) = self.0.try_write() else {
            return;
        };
        if ranked.values().map(HashMap::len).sum::<usize>() < MAX_RANKED {
            ranked
                .entry(region.to_owned())
                .or_default()
                .insert(wanted.to_owned(), (limit, places));
        }
    }
}

/// Derived data: a copy starts empty, and it never makes two indexes differ.
impl Clone for Ranked {
    fn clone(&self) -> Self {
        Ranked::default()
    }
}

impl PartialEq for Ranked {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Ranked {}

impl fmt::Debug for Ranked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ranked")
    }
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
    let places = match index.ranked.get(region, wanted, limit) {
        Some(places) => places,
        None => {
            let places = rank(table, region, wanted, limit);
            index.ranked.insert(region, wanted, limit, places.clone());
            places
        }
    };
    places
        .into_iter()
        .map(|place| index.types[place].name.as_str())
        .collect()
}

/// [`efa_alternatives`], ranked afresh: places in [`EfaIndex::types`].
fn rank(table: &dyn CapabilityLookup, region: &str, wanted: &str, limit: usize) -> Vec<usize> {
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
    let mut closest: Vec<((u8, u8, u64), usize)> = Vec::with_capacity(limit + 1);
    for (place, (candidate, &offered)) in index.types.iter().zip(offered).enumerate() {
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
        closest.insert(at, (rank, place));
        closest.truncate(limit);
    }
    closest.into_iter().map(|(_, place)| place).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ranking_kept_answers_as_a_fresh_one() {
        let info = |efa, vcpus| InstanceTypeInfo {
            efa_supported: efa,
            maximum_efa_interfaces: u32::from(efa),
            vcpus,
            memory_mib: 4096,
            network_performance: String::new(),
        };
        let types = [
            ("m5.2xlarge", info(false, 8)),
            ("m5n.24xlarge", info(true, 96)),
            ("c5n.9xlarge", info(true, 36)),
            ("c5n.18xlarge", info(true, 72)),
        ];
        let offerings = RegionOfferings {
            offered: types.iter().map(|(name, _)| name.to_string()).collect(),
            provenance: Provenance {
                source: SourceKind::Embedded,
                fetched_at: String::new(),
                stale_reason: None,
            },
        };
        let table = CapabilityTable::new(
            types.into_iter().map(|(n, i)| (n.to_owned(), i)).collect(),
            HashMap::from([("us-east-1".to_owned(), offerings)]),
        );
        let fresh = efa_alternatives(&table, "us-east-1", "m5.2xlarge", 2);
        assert_eq!(fresh, ["m5n.24xlarge", "c5n.9xlarge"]);
        assert_eq!(
            efa_alternatives(&table, "us-east-1", "m5.2xlarge", 2),
            fresh
        );
        // Another limit is ranked for itself; a copy of the table starts afresh.
        assert_eq!(
            efa_alternatives(&table, "us-east-1", "m5.2xlarge", 3).len(),
            3
        );
        assert_eq!(
            efa_alternatives(&table.clone(), "us-east-1", "m5.2xlarge", 2),
            fresh
        );
        assert!(efa_alternatives(&table, "eu-west-3", "m5.2xlarge", 2).is_empty());
    }

    #[test]
    fn series_strips_attribute_suffixes() {
        assert_eq!(series("m5dn"), "m5");
        assert_eq!(series("c5n"), "c5");
        assert_eq!(series("p4d"), "p4");
        assert_eq!(series("hpc6a"), "hpc6");
        assert_eq!(series("u-6tb1"), "u");
    }
}
