//! The table in memory, swapped whole when something is (re)loaded, and the view one
//! decision reads it through. A lookup never waits: it reads the current table, and
//! when the table lacks something a live source could have, it asks the refresher for
//! it without waiting and answers from what is known.

use super::ec2::RegionData;
use crate::core::{
    CapabilityLookup, CapabilityTable, EfaIndex, Found, InstanceTypeInfo, PlacementGroup,
    PlacementGroups, Provenance, RegionOfferings, SecurityGroup, SecurityGroupRef, SecurityGroups,
    SourceKind, ZoneNames,
};
use crate::core::{TargetKind, object};
use crate::metrics::Metrics;
use arc_swap::{ArcSwap, Guard};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// One thing the refresher loads from EC2.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Load {
    /// The region's instance types and what it and its zones offer.
    InstanceTypes(String),
    /// This account's zone names in the region.
    ZoneNames(String),
    PlacementGroups(String),
    /// What one reference resolves to in the region.
    SecurityGroups(String, SecurityGroupRef),
}

impl Load {
    pub fn region(&self) -> &str {
        match self {
            Load::InstanceTypes(region)
            | Load::ZoneNames(region)
            | Load::PlacementGroups(region)
            | Load::SecurityGroups(region, _) => region,
        }
    }

    /// The kind of data, as logs and metric labels name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Load::InstanceTypes(_) => "instance_types",
            Load::ZoneNames(_) => "zones",
            Load::PlacementGroups(_) => "placement_groups",
            Load::SecurityGroups(..) => "security_groups",
        }
    }
}

/// How many loads may wait to be started; more are dropped (and asked for again by the
/// next review that needs them).
const LOAD_QUEUE: usize = 64;

pub struct CapabilityStore {
    table: ArcSwap<CapabilityTable>,
    loads: Option<mpsc::Sender<Load>>,
    metrics: Option<Arc<Metrics>>,
}

impl CapabilityStore {
    /// A fixed table: embedded, a file, or EC2 read once (for a one-shot command).
    pub fn fixed(table: CapabilityTable) -> Self {
        CapabilityStore {
            table: ArcSwap::from_pointee(table),
            loads: None,
            metrics: None,
        }
    }

    /// A table kept fresh from EC2 in the background; what reviews find missing arrives
    /// on the returned receiver, for the refresher.
    pub fn refreshed(initial: CapabilityTable) -> (Self, mpsc::Receiver<Load>) {
        let (tx, rx) = mpsc::channel(LOAD_QUEUE);
        let store = CapabilityStore {
            table: ArcSwap::from_pointee(initial),
            loads: Some(tx),
            metrics: None,
        };
        (store, rx)
    }

    /// Counts each lookup, hit or miss, in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn current(&self) -> Arc<CapabilityTable> {
        self.table.load_full()
    }

    /// A view for one admission decision.
    pub fn view(&self) -> StoreView<'_> {
        StoreView {
            table: self.table.load(),
            store: self,
        }
    }

    fn update(&self, change: impl Fn(&mut CapabilityTable)) {
        self.table.rcu(|current| {
            let mut next = CapabilityTable::clone(current);
            change(&mut next);
            next
        });
    }

    /// Installs freshly read instance types and offerings of `region`.
    pub fn install_region(&self, region: &str, data: RegionData, provenance: Provenance) {
        let offerings = Arc::new(RegionOfferings {
            offered: data.offered,
            zones: data.zones,
            provenance,
        });
        self.update(|next| {
            for (name, info) in &data.instance_types {
                next.instance_types.insert(name.clone(), info.clone());
            }
            next.regions.insert(region.to_owned(), offerings.clone());
            next.reindex();
        });
    }

    pub fn install_zone_names(
        &self,
        region: &str,
        ids: BTreeMap<String, String>,
        provenance: Provenance,
    ) {
        let names = Arc::new(ZoneNames { ids, provenance });
        self.update(|next| {
            next.zone_names.insert(region.to_owned(), names.clone());
        });
    }

    pub fn install_placement_groups(
        &self,
        region: &str,
        groups: HashMap<String, PlacementGroup>,
        provenance: Provenance,
    ) {
        let groups = Arc::new(PlacementGroups { groups, provenance });
        self.update(|next| {
            next.placement_groups
                .insert(region.to_owned(), groups.clone());
        });
    }

    pub fn install_security_groups(
        &self,
        region: &str,
        reference: &SecurityGroupRef,
        groups: Vec<SecurityGroup>,
        provenance: Provenance,
    ) {
        let groups = Arc::new(SecurityGroups { groups, provenance });
        self.update(|next| {
            next.security_groups
                .insert((region.to_owned(), reference.clone()), groups.clone());
        });
    }

    /// Records that what `load` reads could not be refreshed, once the data kept for it
    /// is older than `stale_after`; the data itself is kept and served.
    pub fn mark_stale_if_older(&self, load: &Load, reason: &str, stale_after: Duration) {
        let is_old = |provenance: &Provenance| {
            let age = humantime::parse_rfc3339(&provenance.fetched_at)
                .ok()
                .and_then(|at| SystemTime::now().duration_since(at).ok());
            // Unknown age counts as old: better a needless warning than a silent one.
            age.is_none_or(|age| age >= stale_after)
        };
        let marked = |provenance: &Provenance| Provenance {
            stale_reason: Some(reason.to_owned()),
            ..provenance.clone()
        };
        self.update(|next| {
            let region = load.region().to_owned();
            match load {
                Load::InstanceTypes(_) => {
                    if let Some(kept) = next.regions.get_mut(&region)
                        && is_old(&kept.provenance)
                    {
                        Arc::make_mut(kept).provenance = marked(&kept.provenance);
                    }
                }
                Load::ZoneNames(_) => {
                    if let Some(kept) = next.zone_names.get_mut(&region)
                        && is_old(&kept.provenance)
                    {
                        Arc::make_mut(kept).provenance = marked(&kept.provenance);
                    }
                }
                Load::PlacementGroups(_) => {
                    if let Some(kept) = next.placement_groups.get_mut(&region)
                        && is_old(&kept.provenance)
                    {
                        Arc::make_mut(kept).provenance = marked(&kept.provenance);
                    }
                }
                Load::SecurityGroups(_, reference) => {
                    if let Some(kept) = next.security_groups.get_mut(&(region, reference.clone()))
                        && is_old(&kept.provenance)
                    {
                        Arc::make_mut(kept).provenance = marked(&kept.provenance);
                    }
                }
            }
        });
    }

    /// Asks the refresher for `load`, without waiting: a full queue drops it, and the
    /// next review that needs it asks again. A fixed store asks nothing (and makes no
    /// `Load` to drop: with the embedded table every review would).
    fn ask(&self, load: impl FnOnce() -> Load) {
        if let Some(loads) = &self.loads {
            let load = load();
            if looks_like_region(load.region()) {
                let _ = loads.try_send(load);
            }
        }
    }

    fn count(&self, kind: &'static str, hit: bool) {
        if let Some(metrics) = &self.metrics {
            metrics.record_lookup(kind, hit);
        }
    }
}

/// What deciding on `object` may read from EC2: its region's instance types, zone
/// names and placement groups, and each security-group reference it names there.
/// The region is the object's own, else `fallback_region`.
pub fn loads_for(object: &Value, kind: TargetKind, fallback_region: &str) -> Vec<Load> {
    let config = object::find_provider_config(object, kind).ok().flatten();
    let region = config
        .as_ref()
        .and_then(|config| config.region)
        .and_then(Value::as_str)
        .unwrap_or(fallback_region);
    let mut loads = vec![
        Load::InstanceTypes(region.to_owned()),
        Load::ZoneNames(region.to_owned()),
        Load::PlacementGroups(region.to_owned()),
    ];
    let references = config
        .and_then(|config| config.security_groups)
        .and_then(object::security_group_refs)
        .unwrap_or_default();
    loads.extend(
        references
            .into_iter()
            .map(|reference| Load::SecurityGroups(region.to_owned(), reference)),
    );
    loads
}

/// The table as one decision sees it; what it lacks is asked for.
pub struct StoreView<'a> {
    table: Guard<Arc<CapabilityTable>>,
    store: &'a CapabilityStore,
}

impl CapabilityLookup for StoreView<'_> {
    fn instance_type(&self, name: &str) -> Option<&InstanceTypeInfo> {
        self.table.instance_type(name)
    }

    fn region(&self, region: &str) -> Option<&RegionOfferings> {
        let found = self.table.region(region);
        let live = found.is_some_and(|r| r.provenance.source == SourceKind::Ec2);
        self.store.count("instance_types", live);
        if !live {
            // The refresher ignores a region it already has scheduled.
            self.store.ask(|| Load::InstanceTypes(region.to_owned()));
        }
        found
    }

    fn efa_index(&self) -> &EfaIndex {
        self.table.efa_index()
    }

    fn regions_offering(&self, instance_type: &str) -> Vec<&str> {
        self.table.regions_offering(instance_type)
    }

    fn zone_names(&self, region: &str) -> Option<&ZoneNames> {
        let found = self.table.zone_names(region);
        self.store.count("zones", found.is_some());
        if found.is_none() {
            self.store.ask(|| Load::ZoneNames(region.to_owned()));
        }
        found
    }

    fn placement_group(&self, region: &str, name: &str) -> Found<'_, PlacementGroup> {
        let found = self.table.placement_group(region, name);
        self.store
            .count("placement_groups", matches!(found, Found::Yes(..)));
        // A group not in the list may have been made since it was read: read it again
        // (the refresher bounds how often).
        if !matches!(found, Found::Yes(..)) {
            self.store.ask(|| Load::PlacementGroups(region.to_owned()));
        }
        found
    }

    fn security_groups(
        &self,
        region: &str,
        reference: &SecurityGroupRef,
    ) -> Option<&SecurityGroups> {
        let found = self.table.security_groups(region, reference);
        self.store.count("security_groups", found.is_some());
        if found.is_none() {
            self.store
                .ask(|| Load::SecurityGroups(region.to_owned(), reference.clone()));
        }
        found
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::{now_rfc3339, snapshot};

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

    fn live() -> Provenance {
        Provenance {
            source: SourceKind::Ec2,
            fetched_at: now_rfc3339(),
            stale_reason: None,
        }
    }

    #[test]
    fn what_the_table_lacks_is_asked_for_without_waiting() {
        let (store, mut rx) = CapabilityStore::refreshed(snapshot::embedded_table());
        let view = store.view();
        // In the embedded table, but not yet from EC2: served, and asked for.
        assert!(view.region("eu-west-3").is_some());
        assert!(view.region("xx-nowhere-9").is_none());
        assert!(view.region("not a region").is_none());
        assert!(view.zone_names("eu-west-3").is_none());
        assert_eq!(view.placement_group("eu-west-3", "hpc"), Found::Unknown);
        let by_name = SecurityGroupRef::Filters(vec![("tag:Name".into(), vec!["w".into()])]);
        assert!(view.security_groups("eu-west-3", &by_name).is_none());
        drop(view);
        let asked: Vec<Load> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(
            asked,
            [
                Load::InstanceTypes("eu-west-3".into()),
                Load::InstanceTypes("xx-nowhere-9".into()),
                Load::ZoneNames("eu-west-3".into()),
                Load::PlacementGroups("eu-west-3".into()),
                Load::SecurityGroups("eu-west-3".into(), by_name.clone()),
            ]
        );

        store.install_region("eu-west-3", RegionData::default(), live());
        store.install_zone_names(
            "eu-west-3",
            BTreeMap::from([("eu-west-3a".into(), "euw3-az1".into())]),
            live(),
        );
        let groups = HashMap::from([(
            "hpc".to_owned(),
            PlacementGroup {
                strategy: "cluster".into(),
                state: "available".into(),
            },
        )]);
        store.install_placement_groups("eu-west-3", groups, live());
        store.install_security_groups("eu-west-3", &by_name, Vec::new(), live());
        let view = store.view();
        assert!(view.region("eu-west-3").is_some());
        assert!(view.zone_names("eu-west-3").is_some());
        assert!(matches!(
            view.placement_group("eu-west-3", "hpc"),
            Found::Yes(..)
        ));
        assert!(view.security_groups("eu-west-3", &by_name).is_some());
        assert!(
            rx.try_recv().is_err(),
            "what is known is not asked for again"
        );
        // A group the list lacks has the list read again.
        assert!(matches!(
            view.placement_group("eu-west-3", "new"),
            Found::No(_)
        ));
        assert_eq!(
            rx.try_recv().unwrap(),
            Load::PlacementGroups("eu-west-3".into())
        );
    }

    #[test]
    fn a_fixed_table_asks_for_nothing() {
        let store = CapabilityStore::fixed(CapabilityTable::default());
        assert!(store.view().region("eu-west-3").is_none());
        assert!(store.view().zone_names("eu-west-3").is_none());
    }

    #[test]
    fn only_data_older_than_the_limit_is_called_stale() {
        let store = CapabilityStore::fixed(CapabilityTable::default());
        store.install_placement_groups("us-east-1", HashMap::new(), live());
        let load = Load::PlacementGroups("us-east-1".into());
        store.mark_stale_if_older(&load, "EC2 failed", Duration::from_secs(3600));
        assert!(
            store.current().placement_groups["us-east-1"]
                .provenance
                .stale_reason
                .is_none()
        );
        store.mark_stale_if_older(&load, "EC2 failed", Duration::ZERO);
        assert_eq!(
            store.current().placement_groups["us-east-1"]
                .provenance
                .stale_reason
                .as_deref(),
            Some("EC2 failed")
        );
    }
}
