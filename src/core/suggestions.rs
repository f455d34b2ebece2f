//! The EFA-capable types a denial suggests instead of the one asked for, closest first.

use super::capability::{InstanceTypeInfo, RegionOfferings, instance_family};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// The EFA-capable types, sorted by name, and per region the places of those it offers:
/// built with the table, so that a ranking looks nothing up per candidate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EfaIndex {
    types: Vec<EfaType>,
    offered: HashMap<String, Offered>,
    /// A number for each part of a name (`m5dn`, `m5`, `24xlarge`): a ranking compares
    /// some 300 candidates three ways, and comparing strings took a third of its time.
    part_ids: HashMap<String, u32>,
    /// Every type of the table, numbered, with its vCPUs: where its ranking is kept.
    table_types: HashMap<String, (usize, u32)>,
}

/// The most alternatives a kept ranking holds; a shorter list is its prefix.
const KEPT_RANKING: usize = 5;

/// A region's EFA-capable types, and the rankings already made there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Offered {
    places: Vec<usize>,
    ranked: Rankings,
}

/// Per type of the table (by its number), its closest [`KEPT_RANKING`] in a region,
/// ranked the first time a denial asks: a ranking scans every EFA-capable type of the
/// region, 1.8 µs per denial under load (perf), and only changes with the table, which
/// builds a new index. Lock-free; 16 bytes a slot, inline, for some 30 regions x 1,400
/// types. A cache of what the index already says: two indexes are equal whatever their
/// caches hold.
#[derive(Clone, Default)]
struct Rankings(Vec<OnceLock<KeptRanking>>);

impl PartialEq for Rankings {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Rankings {}

impl std::fmt::Debug for Rankings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.iter().filter(|slot| slot.get().is_some()).count();
        write!(f, "Rankings({kept} of {} kept)", self.0.len())
    }
}

/// Up to [`KEPT_RANKING`] places in `EfaIndex::types`, and how many there are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct KeptRanking {
    len: u16,
    places: [u16; KEPT_RANKING],
}

impl KeptRanking {
    fn new(places: &[usize]) -> Self {
        let mut kept = KeptRanking::default();
        for (slot, &place) in kept.places.iter_mut().zip(places) {
            // The EFA-capable types number some 300.
            *slot = u16::try_from(place).expect("fewer than 65,536 EFA-capable types");
            kept.len += 1;
        }
        kept
    }

    fn places(&self) -> impl Iterator<Item = usize> + '_ {
        self.places[..usize::from(self.len)]
            .iter()
            .map(|&p| usize::from(p))
    }
}

/// An EFA-capable type with the parts suggestions are ranked by, as part ids.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EfaType {
    name: String,
    vcpus: u32,
    parts: Parts,
}

/// The parts of a name that ranking compares: `m5dn.24xlarge` has family `m5dn`, series
/// `m5` and size `24xlarge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Parts {
    first_letter: Option<u8>,
    family: u32,
    series: u32,
    size: u32,
}

/// `name`'s family, series and size.
fn name_parts(name: &str) -> [&str; 3] {
    let family = instance_family(name);
    let size = name.split_once('.').map_or("", |(_, size)| size);
    [family, series(family), size]
}

impl EfaIndex {
    pub fn new(
        instance_types: &HashMap<String, InstanceTypeInfo>,
        regions: &HashMap<String, Arc<RegionOfferings>>,
    ) -> Self {
        let mut efa: Vec<(&String, u32)> = instance_types
            .iter()
            .filter(|(_, info)| info.efa_supported)
            .map(|(name, info)| (name, info.vcpus))
            .collect();
        efa.sort();
        let mut part_ids = HashMap::new();
        let types: Vec<EfaType> = efa
            .into_iter()
            .map(|(name, vcpus)| {
                let [family, series, size] = name_parts(name).map(|part| {
                    let next = part_ids.len() as u32;
                    *part_ids.entry(part.to_owned()).or_insert(next)
                });
                let first_letter = name.as_bytes().first().copied();
                EfaType {
                    name: name.clone(),
                    vcpus,
                    parts: Parts {
                        first_letter,
                        family,
                        series,
                        size,
                    },
                }
            })
            .collect();
        // Numbered in name order: the same table always makes the same index.
        let mut all: Vec<(&String, u32)> = instance_types
            .iter()
            .map(|(name, info)| (name, info.vcpus))
            .collect();
        all.sort();
        let table_types: HashMap<String, (usize, u32)> = all
            .into_iter()
            .enumerate()
            .map(|(number, (name, vcpus))| (name.clone(), (number, vcpus)))
            .collect();
        let offered = regions
            .iter()
            .map(|(region, offerings)| {
                let places = (0..types.len())
                    .filter(|&place| offerings.offered.contains(&types[place].name))
                    .collect();
                let ranked = Rankings((0..table_types.len()).map(|_| OnceLock::new()).collect());
                (region.clone(), Offered { places, ranked })
            })
            .collect();
        EfaIndex {
            types,
            offered,
            part_ids,
            table_types,
        }
    }

    /// Up to `limit` EFA-capable types offered in `region`, closest to `wanted` (of
    /// `wanted_vcpus`, 0 when unknown) first: same family, then same series (m5 for
    /// m5dn), then same first letter; within that the same size, then the nearest vCPU
    /// count; then by name.
    pub fn alternatives(
        &self,
        region: &str,
        wanted: &str,
        wanted_vcpus: u32,
        limit: usize,
    ) -> Vec<&str> {
        let Some(offered) = self.offered.get(region) else {
            return Vec::new();
        };
        let name = |place: usize| self.types[place].name.as_str();
        // Kept for a type of the table asked about with its own vCPUs.
        match self.table_types.get(wanted) {
            Some(&(number, vcpus)) if vcpus == wanted_vcpus && limit <= KEPT_RANKING => {
                offered.ranked.0[number]
                    .get_or_init(|| {
                        KeptRanking::new(&self.rank(offered, wanted, wanted_vcpus, KEPT_RANKING))
                    })
                    .places()
                    .take(limit)
                    .map(name)
                    .collect()
            }
            _ => self
                .rank(offered, wanted, wanted_vcpus, limit)
                .into_iter()
                .map(name)
                .collect(),
        }
    }

    /// [`EfaIndex::alternatives`] in `offered`, ranked afresh: places in `types`.
    fn rank(&self, offered: &Offered, wanted: &str, wanted_vcpus: u32, limit: usize) -> Vec<usize> {
        // A part no EFA-capable type has matches none.
        let [family, series, size] =
            name_parts(wanted).map(|part| self.part_ids.get(part).copied().unwrap_or(u32::MAX));
        let wanted_parts = Parts {
            first_letter: wanted.as_bytes().first().copied(),
            family,
            series,
            size,
        };
        // The closest `limit` so far, in order; the places are in name order, so a
        // candidate as close as the last one kept comes later by name and loses.
        let mut closest: Vec<(Closeness, usize)> = Vec::with_capacity(limit + 1);
        for &place in &offered.places {
            let candidate = &self.types[place];
            let (kinship, other_size) = name_closeness(candidate.parts, wanted_parts);
            let worst_kept = match closest.last() {
                Some(&(worst, _)) if closest.len() == limit => Some(worst),
                _ => None,
            };
            // Most candidates lose on their names alone: no division for them.
            if worst_kept.is_some_and(|(k, s, _)| (kinship, other_size) > (k, s)) {
                continue;
            }
            let candidate = (
                kinship,
                other_size,
                vcpu_ratio(candidate.vcpus, wanted_vcpus),
            );
            if worst_kept.is_some_and(|worst| candidate >= worst) {
                continue;
            }
            let at = closest.partition_point(|(kept, _)| *kept <= candidate);
            closest.insert(at, (candidate, place));
            closest.truncate(limit);
        }
        closest.into_iter().map(|(_, place)| place).collect()
    }
}

/// [`name_closeness`], then [`vcpu_ratio`]: smallest is closest.
type Closeness = (u8, bool, u64);

/// The kinship of two names (same family, series, first letter, or none), and whether
/// their sizes differ.
fn name_closeness(candidate: Parts, wanted: Parts) -> (u8, bool) {
    let kinship = if candidate.family == wanted.family {
        0
    } else if candidate.series == wanted.series {
        1
    } else if candidate.first_letter == wanted.first_letter {
        2
    } else {
        3
    };
    (kinship, candidate.size != wanted.size)
}

/// The larger vCPU count over the smaller, times 1000; an unknown count is farthest.
fn vcpu_ratio(a: u32, b: u32) -> u64 {
    if a == 0 || b == 0 {
        return u64::MAX;
    }
    u64::from(a.max(b)) * 1000 / u64::from(a.min(b))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Provenance, SourceKind};

    #[test]
    fn closest_first_then_by_name() {
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
            ("m5dn.24xlarge", info(true, 96)),
            ("c5n.9xlarge", info(true, 36)),
            ("c5n.18xlarge", info(true, 72)),
            ("m7i.48xlarge", info(true, 192)),
        ];
        let offered = |names: &[&str]| {
            Arc::new(RegionOfferings {
                offered: names.iter().map(|name| name.to_string()).collect(),
                zones: Default::default(),
                provenance: Provenance {
                    source: SourceKind::Embedded,
                    fetched_at: String::new(),
                    stale_reason: None,
                },
            })
        };
        let instance_types: HashMap<String, InstanceTypeInfo> =
            types.into_iter().map(|(n, i)| (n.to_owned(), i)).collect();
        let regions = HashMap::from([
            (
                "us-east-1".to_owned(),
                offered(&[
                    "m5.2xlarge",
                    "m5n.24xlarge",
                    "m5dn.24xlarge",
                    "c5n.9xlarge",
                    "c5n.18xlarge",
                    "m7i.48xlarge",
                ]),
            ),
            ("us-east-2".to_owned(), offered(&["c5n.18xlarge"])),
        ]);
        let index = EfaIndex::new(&instance_types, &regions);
        // Same series first (in name order), then the same letter, then the rest by
        // vCPU distance.
        assert_eq!(
            index.alternatives("us-east-1", "m5.2xlarge", 8, 5),
            [
                "m5dn.24xlarge",
                "m5n.24xlarge",
                "m7i.48xlarge",
                "c5n.9xlarge",
                "c5n.18xlarge"
            ]
        );
        assert_eq!(
            index.alternatives("us-east-1", "c5n.4xlarge", 16, 2),
            ["c5n.9xlarge", "c5n.18xlarge"]
        );
        // Asked again, and for fewer: the kept ranking, the same answer.
        assert_eq!(
            index.alternatives("us-east-1", "m5.2xlarge", 8, 2),
            ["m5dn.24xlarge", "m5n.24xlarge"]
        );
        assert_eq!(index.alternatives("us-east-1", "m5.2xlarge", 8, 5).len(), 5);
        // What it has kept is no part of what the index is.
        assert_eq!(index, EfaIndex::new(&instance_types, &regions));
        // Another vCPU count than the table's is ranked afresh.
        assert_eq!(
            index.alternatives("us-east-1", "m5.2xlarge", 36, 4)[3],
            "c5n.9xlarge"
        );
        // Only what the region offers; nothing for a region the table lacks.
        assert_eq!(
            index.alternatives("us-east-2", "m5.2xlarge", 8, 5),
            ["c5n.18xlarge"]
        );
        assert!(
            index
                .alternatives("eu-west-3", "m5.2xlarge", 8, 5)
                .is_empty()
        );
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
