//! The instance-type capability table as plain data, and the lookups the decision needs.
//! Where the data comes from (embedded snapshot, file, live EC2) is the capability
//! source's business, not this module's.

use super::suggestions::EfaIndex;
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
    /// The EFA-capable instance types, for ranking suggestions.
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

/// The family of an instance type: `c5n` of `c5n.18xlarge`.
pub fn instance_family(name: &str) -> &str {
    name.split_once('.').map_or(name, |(family, _)| family)
}
