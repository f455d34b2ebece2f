//! The capability snapshot file: what `machine-efa-webhook snapshot` writes, what
//! `--capabilities PATH` serves, and what is embedded in the binary.

use crate::core::{CapabilityTable, InstanceTypeInfo, Provenance, RegionOfferings, SourceKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The format written. Format 1 (no zones) is still read.
pub const FORMAT_VERSION: u32 = 2;
const READABLE_VERSIONS: [u32; 2] = [1, 2];

const COMMENT: &str = "EFA capability table of machine-efa-webhook. instanceTypes: per type, from EC2 \
DescribeInstanceTypes (NetworkInfo.EfaSupported, NetworkInfo.EfaInfo.MaximumEfaInterfaces, \
VCpuInfo.DefaultVCpus, MemoryInfo.SizeInMiB, NetworkInfo.NetworkPerformance). regions: per region, \
the instance types DescribeInstanceTypeOfferings lists with LocationType=region (offered) and, per \
availability zone ID, with LocationType=availability-zone-id (zones; zone IDs name the same physical \
zone in every account, zone names do not), and when they were read. Written by \
`machine-efa-webhook snapshot`; never edit by hand.";

/// The snapshot embedded in the binary, made by `make snapshot`.
pub const EMBEDDED: &str = include_str!("../../data/capabilities.json");

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotFile {
    #[serde(rename = "$comment", default)]
    pub comment: String,
    pub format_version: u32,
    pub generated_at: String,
    /// What answered the EC2 calls (endpoint), for the record.
    pub source: String,
    pub instance_types: BTreeMap<String, InstanceTypeRecord>,
    pub regions: BTreeMap<String, RegionRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceTypeRecord {
    pub efa_supported: bool,
    #[serde(default)]
    pub maximum_efa_interfaces: u32,
    #[serde(default)]
    pub vcpus: u32,
    #[serde(default, rename = "memoryMiB")]
    pub memory_mib: u64,
    #[serde(default)]
    pub network_performance: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegionRecord {
    pub fetched_at: String,
    pub offered: Vec<String>,
    /// Format 2: per availability zone ID, the types it offers; absent in format 1, and
    /// where EC2 listed no zone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{what} is not a capability snapshot: {source}")]
    Parse {
        what: String,
        source: serde_json::Error,
    },
    #[error("{what} has format version {found}; this build reads versions 1 and {FORMAT_VERSION}")]
    Version { what: String, found: u32 },
}

impl From<&InstanceTypeRecord> for InstanceTypeInfo {
    fn from(r: &InstanceTypeRecord) -> Self {
        InstanceTypeInfo {
            efa_supported: r.efa_supported,
            maximum_efa_interfaces: r.maximum_efa_interfaces,
            vcpus: r.vcpus,
            memory_mib: r.memory_mib,
            network_performance: r.network_performance.clone(),
        }
    }
}

impl From<&InstanceTypeInfo> for InstanceTypeRecord {
    fn from(i: &InstanceTypeInfo) -> Self {
        InstanceTypeRecord {
            efa_supported: i.efa_supported,
            maximum_efa_interfaces: i.maximum_efa_interfaces,
            vcpus: i.vcpus,
            memory_mib: i.memory_mib,
            network_performance: i.network_performance.clone(),
        }
    }
}

impl SnapshotFile {
    pub fn parse(text: &str, what: &str) -> Result<Self, SnapshotError> {
        let file: SnapshotFile =
            serde_json::from_str(text).map_err(|source| SnapshotError::Parse {
                what: what.to_owned(),
                source,
            })?;
        if !READABLE_VERSIONS.contains(&file.format_version) {
            return Err(SnapshotError::Version {
                what: what.to_owned(),
                found: file.format_version,
            });
        }
        Ok(file)
    }

    pub fn read(path: &Path) -> Result<Self, SnapshotError> {
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes the file whole or not at all (temp file, then rename).
    pub fn write(&self, path: &Path) -> Result<(), SnapshotError> {
        let err = |source| SnapshotError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut text = serde_json::to_string_pretty(self).expect("a snapshot always serialises");
        text.push('\n');
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }

    pub fn new(source: String, generated_at: String, table: &CapabilityTable) -> Self {
        SnapshotFile {
            comment: COMMENT.to_owned(),
            format_version: FORMAT_VERSION,
            generated_at,
            source,
            instance_types: table
                .instance_types
                .iter()
                .map(|(name, info)| (name.clone(), info.into()))
                .collect(),
            regions: table
                .regions
                .iter()
                .map(|(name, region)| {
                    let sorted = |types: &std::collections::HashSet<String>| {
                        let mut types: Vec<String> = types.iter().cloned().collect();
                        types.sort_unstable();
                        types
                    };
                    let record = RegionRecord {
                        fetched_at: region.provenance.fetched_at.clone(),
                        offered: sorted(&region.offered),
                        zones: region
                            .zones
                            .iter()
                            .map(|(zone, types)| (zone.clone(), sorted(types)))
                            .collect(),
                    };
                    (name.clone(), record)
                })
                .collect(),
        }
    }

    pub fn to_table(&self, source: SourceKind) -> CapabilityTable {
        let instance_types: HashMap<String, InstanceTypeInfo> = self
            .instance_types
            .iter()
            .map(|(name, record)| (name.clone(), record.into()))
            .collect();
        let regions = self
            .regions
            .iter()
            .map(|(name, record)| {
                let offerings = RegionOfferings {
                    offered: record.offered.iter().cloned().collect(),
                    zones: record
                        .zones
                        .iter()
                        .map(|(zone, types)| (zone.clone(), types.iter().cloned().collect()))
                        .collect(),
                    provenance: Provenance {
                        source,
                        fetched_at: record.fetched_at.clone(),
                        stale_reason: None,
                    },
                };
                (name.clone(), offerings)
            })
            .collect();
        CapabilityTable::new(instance_types, regions)
    }
}

/// The embedded snapshot as a table.
pub fn embedded_table() -> CapabilityTable {
    SnapshotFile::parse(EMBEDDED, "the embedded snapshot")
        .expect("the embedded snapshot is checked by the tests")
        .to_table(SourceKind::Embedded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_snapshot_is_valid_and_covers_regions() {
        let file = SnapshotFile::parse(EMBEDDED, "embedded").unwrap();
        assert!(
            file.instance_types.len() > 500,
            "{}",
            file.instance_types.len()
        );
        assert!(
            file.instance_types
                .values()
                .filter(|t| t.efa_supported)
                .count()
                > 100
        );
        assert!(file.regions.len() > 10, "{:?}", file.regions.keys());
        let table = embedded_table();
        let offered = |region: &str, t: &str| table.regions[region].offered.contains(t);
        assert!(offered("us-east-2", "hpc6a.48xlarge"));
        assert!(!offered("us-east-1", "hpc6a.48xlarge"));
        assert!(!table.instance_types["m5.2xlarge"].efa_supported);
        assert!(table.instance_types["p4d.24xlarge"].efa_supported);
    }

    #[test]
    fn a_table_round_trips_through_the_file_format() {
        let table = embedded_table();
        let file = SnapshotFile::new("test".into(), "2026-11-25T00:00:00Z".into(), &table);
        let text = serde_json::to_string(&file).unwrap();
        let back = SnapshotFile::parse(&text, "round trip")
            .unwrap()
            .to_table(SourceKind::Embedded);
        assert_eq!(back, table);
    }

    #[test]
    fn format_1_is_read_and_other_versions_are_refused() {
        let v1 = r#"{"formatVersion": 1, "generatedAt": "", "source": "", "instanceTypes": {"p4d.24xlarge": {"efaSupported": true}}, "regions": {"us-east-1": {"fetchedAt": "2026-11-25T10:42:43Z", "offered": ["p4d.24xlarge"]}}}"#;
        let table = SnapshotFile::parse(v1, "v1.json")
            .unwrap()
            .to_table(SourceKind::File);
        assert!(table.regions["us-east-1"].offered.contains("p4d.24xlarge"));
        assert!(table.regions["us-east-1"].zones.is_empty());
        let text = r#"{"formatVersion": 3, "generatedAt": "", "source": "", "instanceTypes": {}, "regions": {}}"#;
        let err = SnapshotFile::parse(text, "f.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.json has format version 3; this build reads versions 1 and 2"
        );
    }
}
