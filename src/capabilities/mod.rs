//! The capability source: the table in memory, where it comes from (embedded snapshot,
//! file, live EC2) and how it is kept fresh. Admission reads it without waiting: a
//! lock-free load of the current table.

pub mod ec2;
mod refresh;
pub mod snapshot;

pub use refresh::{RefreshSettings, refresh_region, spawn_refresher};

use crate::core::{
    CapabilityLookup, CapabilityTable, EfaIndex, InstanceTypeInfo, Provenance, RegionOfferings,
    SourceKind,
};
use arc_swap::{ArcSwap, Guard};
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// `--capabilities embedded|ec2|PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CapabilitySource {
    Embedded,
    Ec2,
    File(std::path::PathBuf),
}

impl FromStr for CapabilitySource {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "embedded" => CapabilitySource::Embedded,
            "ec2" => CapabilitySource::Ec2,
            path => CapabilitySource::File(path.into()),
        })
    }
}

/// How many first-seen regions may wait to be loaded; more are dropped (and asked
/// for again by the next review that names them).
const REGION_REQUEST_QUEUE: usize = 32;

/// The current table, swapped whole when a region is (re)loaded.
pub struct CapabilityStore {
    table: ArcSwap<CapabilityTable>,
    region_requests: Option<mpsc::Sender<String>>,
}

impl CapabilityStore {
    /// A fixed table: embedded or file.
    pub fn fixed(table: CapabilityTable) -> Self {
        CapabilityStore {
            table: ArcSwap::from_pointee(table),
            region_requests: None,
        }
    }

    /// A table refreshed in the background; regions that reviews name for the first
    /// time arrive on the returned receiver.
    pub fn refreshed(initial: CapabilityTable) -> (Self, mpsc::Receiver<String>) {
        let (tx, rx) = mpsc::channel(REGION_REQUEST_QUEUE);
        let store = CapabilityStore {
            table: ArcSwap::from_pointee(initial),
            region_requests: Some(tx),
        };
        (store, rx)
    }

    pub fn current(&self) -> Arc<CapabilityTable> {
        self.table.load_full()
    }

    /// A view for one admission decision.
    pub fn view(&self) -> StoreView<'_> {
        StoreView {
            table: self.table.load(),
            region_requests: self.region_requests.as_ref(),
        }
    }

    /// Installs freshly read data for `region`.
    pub fn install_region(&self, region: &str, data: ec2::RegionData, provenance: Provenance) {
        let data = Arc::new(data);
        self.table.rcu(|current| {
            let mut next = CapabilityTable::clone(current);
            for (name, info) in &data.instance_types {
                next.instance_types.insert(name.clone(), info.clone());
            }
            next.regions.insert(
                region.to_owned(),
                RegionOfferings {
                    offered: data.offered.clone(),
                    provenance: provenance.clone(),
                },
            );
            next.reindex();
            next
        });
    }

    /// Records that `region`'s data could not be refreshed, once it is older than
    /// `stale_after`; the data itself is kept and served.
    pub fn mark_stale_if_older(
        &self,
        region: &str,
        reason: &str,
        stale_after: std::time::Duration,
    ) {
        self.table.rcu(|current| {
            let mut next = CapabilityTable::clone(current);
            if let Some(offerings) = next.regions.get_mut(region) {
                let age = humantime::parse_rfc3339(&offerings.provenance.fetched_at)
                    .ok()
                    .and_then(|at| std::time::SystemTime::now().duration_since(at).ok());
                // Unknown age counts as old: better a needless warning than a silent one.
                if age.is_none_or(|age| age >= stale_after) {
                    offerings.provenance.stale_reason = Some(reason.to_owned());
                }
            }
            next
        });
    }
}

/// The table as one decision sees it; a region it lacks is queued for loading.
pub struct StoreView<'a> {
    table: Guard<Arc<CapabilityTable>>,
    region_requests: Option<&'a mpsc::Sender<String>>,
}

impl CapabilityLookup for StoreView<'_> {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.table.instance_type(name)
    }

    fn region(&self, region: &str) -> Option<&RegionOfferings> {
        let found = self.table.region(region);
        let live = found.is_some_and(|r| r.provenance.source == SourceKind::Ec2);
        if !live
            && let Some(requests) = self.region_requests
            && looks_like_region(region)
        {
            // Never waits: a full queue drops the request, and the next review asks again.
            // The refresher ignores regions it already has scheduled.
            let _ = requests.try_send(region.to_owned());
        }
        found
    }

    fn efa_index(&self) -> &EfaIndex {
        self.table.efa_index()
    }
}

/// `us-east-1`, `us-gov-west-1`, `ap-southeast-3`: keeps junk out of EC2 calls.
pub fn looks_like_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    name.len() <= 32
        && parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// RFC 3339 time, to the second.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "ap-southeast-3",
            "eu-central-2",
        ] {
            assert!(looks_like_region(ok), "{ok}");
        }
        for bad in [
            "",
            "us-east",
            "US-EAST-1",
            "us--1",
            "mars",
            "x-y-z",
            "a-b-1000",
        ] {
            assert!(!looks_like_region(bad), "{bad}");
        }
    }

    #[test]
    fn a_region_without_live_data_is_requested_without_waiting() {
        let (store, mut rx) = CapabilityStore::refreshed(snapshot::embedded_table());
        // In the embedded table, but not yet from EC2: served, and asked for.
        assert!(store.view().region("eu-west-3").is_some());
        assert!(store.view().region("xx-nowhere-9").is_none());
        assert!(store.view().region("not a region").is_none());
        assert_eq!(rx.try_recv().unwrap(), "eu-west-3");
        assert_eq!(rx.try_recv().unwrap(), "xx-nowhere-9");
        assert!(rx.try_recv().is_err());
        store.install_region(
            "eu-west-3",
            ec2::RegionData::default(),
            Provenance {
                source: SourceKind::Ec2,
                fetched_at: now_rfc3339(),
                stale_reason: None,
            },
        );
        assert!(store.view().region("eu-west-3").is_some());
        assert!(rx.try_recv().is_err(), "live data is not asked for again");
    }

    #[test]
    fn a_fixed_table_asks_for_nothing() {
        let store = CapabilityStore::fixed(CapabilityTable::default());
        assert!(store.view().region("eu-west-3").is_none());
    }
}
