//! What the webhook knows of EC2, as plain data, and the lookups the decision needs:
//! the instance-type table (types, and what each region and zone offers) and the facts
//! of this account (zone names, placement groups, security groups). Where the data
//! comes from (embedded snapshot, file, live EC2) is the capability source's business,
//! not this module's.

use super::suggestions::EfaIndex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

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

/// Where a piece of data came from.
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

impl Provenance {
    /// Read from EC2, and not since found out of date: good enough to deny by.
    pub fn is_fresh_ec2(&self) -> bool {
        self.source == SourceKind::Ec2 && self.stale_reason.is_none()
    }
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

/// The instance types one region offers, in the region and zone by zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionOfferings {
    pub offered: HashSet<String>,
    /// Per availability zone ID (`use1-az1`, the same physical zone in every account),
    /// the types it offers; empty when the source has no zone data.
    pub zones: BTreeMap<String, HashSet<String>>,
    pub provenance: Provenance,
}

impl RegionOfferings {
    /// The IDs of the zones that offer `instance_type`, in order.
    pub fn zones_offering<'a>(&'a self, instance_type: &'a str) -> impl Iterator<Item = &'a str> {
        self.zones
            .iter()
            .filter(move |(_, offered)| offered.contains(instance_type))
            .map(|(zone, _)| zone.as_str())
    }
}

/// A region's zone names as this account has them (`us-east-1e` → `use1-az3`): AWS maps
/// names to physical zones differently in each account, so only live data has them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneNames {
    /// Zone name → zone ID.
    pub ids: BTreeMap<String, String>,
    pub provenance: Provenance,
}

impl ZoneNames {
    /// The name this account gives zone `id`.
    pub fn name_of(&self, id: &str) -> Option<&str> {
        self.ids
            .iter()
            .find(|(_, zone_id)| *zone_id == id)
            .map(|(name, _)| name.as_str())
    }
}

/// The placement groups of a region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementGroups {
    pub groups: HashMap<String, PlacementGroup>,
    pub provenance: Provenance,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementGroup {
    /// `cluster`, `spread` or `partition`.
    pub strategy: String,
    /// `pending`, `available`, `deleting` or `deleted`.
    pub state: String,
}

/// How a machine names a security group: by ID, or by filters that EC2 resolves (the
/// installer's are `tag:Name` filters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityGroupRef {
    Id(String),
    /// `(name, values)` pairs, as DescribeSecurityGroups takes them.
    Filters(Vec<(String, Vec<String>)>),
}

impl fmt::Display for SecurityGroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecurityGroupRef::Id(id) => f.write_str(id),
            SecurityGroupRef::Filters(filters) => {
                for (i, (name, values)) in filters.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}={}", values.join("|"))?;
                }
                Ok(())
            }
        }
    }
}

/// The security groups one reference resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroups {
    pub groups: Vec<SecurityGroup>,
    pub provenance: Provenance,
}

/// A security group with what EFA needs of its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    /// An inbound rule allows all protocols from this same group.
    pub allows_all_from_itself: bool,
    /// An outbound rule allows all protocols to this same group.
    pub allows_all_to_itself: bool,
}

/// What a lookup of an account fact found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a, T> {
    /// There, in data of this provenance.
    Yes(&'a T, &'a Provenance),
    /// Not in data of this provenance.
    No(&'a Provenance),
    /// No data to tell.
    Unknown,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapabilityTable {
    pub instance_types: HashMap<String, InstanceTypeInfo>,
    /// Shared, so that a new table with one region changed copies none of the others.
    pub regions: HashMap<String, Arc<RegionOfferings>>,
    pub zone_names: HashMap<String, Arc<ZoneNames>>,
    pub placement_groups: HashMap<String, Arc<PlacementGroups>>,
    /// By region and reference.
    pub security_groups: HashMap<(String, SecurityGroupRef), Arc<SecurityGroups>>,
    /// Derived from `instance_types` and `regions` by [`CapabilityTable::new`] and
    /// [`CapabilityTable::reindex`].
    efa_index: Arc<EfaIndex>,
}

impl CapabilityTable {
    pub fn new(
        instance_types: HashMap<String, InstanceTypeInfo>,
        regions: HashMap<String, RegionOfferings>,
    ) -> Self {
        let mut table = CapabilityTable {
            instance_types,
            regions: regions
                .into_iter()
                .map(|(name, offerings)| (name, Arc::new(offerings)))
                .collect(),
            ..CapabilityTable::default()
        };
        table.reindex();
        table
    }

    /// Rebuilds what is derived from `instance_types` and the regions' offerings; call
    /// after changing them.
    pub fn reindex(&mut self) {
        self.efa_index = Arc::new(EfaIndex::new(&self.instance_types, &self.regions));
    }

    /// The regions that offer `instance_type`, sorted.
    pub fn regions_offering(&self, instance_type: &str) -> Vec<&str> {
        let mut regions: Vec<&str> = self
            .regions
            .iter()
            .filter(|(_, offerings)| offerings.offered.contains(instance_type))
            .map(|(region, _)| region.as_str())
            .collect();
        regions.sort_unstable();
        regions
    }
}

/// What the decision asks of what the webhook knows of EC2. Implementations answer from
/// memory: a lookup never waits on anything (a live source may queue a background load
/// of what it lacks).
pub trait CapabilityLookup {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo>;
    fn region(&self, region: &str) -> Option<&RegionOfferings>;
    /// The EFA-capable instance types, for ranking suggestions.
    fn efa_index(&self) -> &EfaIndex;
    /// The regions that offer `instance_type`, sorted.
    fn regions_offering(&self, instance_type: &str) -> Vec<&str>;
    /// This account's zone names in `region`.
    fn zone_names(&self, region: &str) -> Option<&ZoneNames>;
    fn placement_group(&self, region: &str, name: &str) -> Found<'_, PlacementGroup>;
    /// What `reference` resolves to in `region`, if that is known.
    fn security_groups(
        &self,
        region: &str,
        reference: &SecurityGroupRef,
    ) -> Option<&SecurityGroups>;
}

impl CapabilityLookup for CapabilityTable {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.instance_types.get(name)
    }

    fn region(&self, region: &str) -> Option<&RegionOfferings> {
        self.regions.get(region).map(Arc::as_ref)
    }

    fn efa_index(&self) -> &EfaIndex {
        &self.efa_index
    }

    fn regions_offering(&self, instance_type: &str) -> Vec<&str> {
        CapabilityTable::regions_offering(self, instance_type)
    }

    fn zone_names(&self, region: &str) -> Option<&ZoneNames> {
        self.zone_names.get(region).map(Arc::as_ref)
    }

    fn placement_group(&self, region: &str, name: &str) -> Found<'_, PlacementGroup> {
        match self.placement_groups.get(region) {
            None => Found::Unknown,
            Some(known) => match known.groups.get(name) {
                Some(group) => Found::Yes(group, &known.provenance),
                None => Found::No(&known.provenance),
            },
        }
    }

    fn security_groups(
        &self,
        region: &str,
        reference: &SecurityGroupRef,
    ) -> Option<&SecurityGroups> {
        self.security_groups
            .get(&(region.to_owned(), reference.clone()))
            .map(Arc::as_ref)
    }
}

/// The family of an instance type: `c5n` of `c5n.18xlarge`.
pub fn instance_family(name: &str) -> &str {
    name.split_once('.').map_or(name, |(family, _)| family)
}
