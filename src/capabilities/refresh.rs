//! Background loads from EC2: for the wanted regions at start, their instance types,
//! zone names and placement groups; each again every interval; what reviews find
//! missing, on demand (a placement group missing from a list read a while ago has the
//! list read again); jittered backoff on failure. A failed load keeps what the store has
//! and, once that is old, says so.

use super::ec2::{self, FetchError};
use super::now_rfc3339;
use super::store::{CapabilityStore, Load};
use crate::core::{Provenance, SourceKind};
use crate::metrics::Metrics;
use rand::RngExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Clone, Debug)]
pub struct RefreshSettings {
    pub interval: Duration,
    /// First delay after a failure; doubled on each further failure.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A load asked for on demand that fails is not asked for again before this.
    pub forget_failed_load: Duration,
    /// Data older than this, that a refresh failed to replace, is called stale in warnings.
    pub stale_after: Duration,
    /// Data held for at least this long is read again when a review misses in it.
    pub reread_after: Duration,
    /// At most this many security-group references are resolved and kept: a bound on
    /// what reviews can make the webhook remember and call EC2 for.
    pub max_security_group_refs: usize,
}

impl RefreshSettings {
    pub fn with_interval(interval: Duration) -> Self {
        RefreshSettings {
            interval,
            initial_backoff: Duration::from_secs(10),
            max_backoff: interval.min(Duration::from_secs(30 * 60)),
            forget_failed_load: Duration::from_secs(60 * 60),
            stale_after: Duration::from_secs(24 * 3600),
            reread_after: Duration::from_secs(30),
            max_security_group_refs: 1024,
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(self.max_backoff);
        // Jitter keeps replicas from calling EC2 in lockstep after a shared outage.
        exp.mul_f64(rand::rng().random_range(0.5..1.5))
    }
}

/// Loads `what` from EC2 into the store, once. On failure the data the store keeps for
/// it is marked stale once it is older than `stale_after`.
pub async fn load(
    store: &CapabilityStore,
    sdk: &aws_config::SdkConfig,
    what: &Load,
    stale_after: Duration,
) -> Result<(), FetchError> {
    let fresh = || Provenance {
        source: SourceKind::Ec2,
        fetched_at: now_rfc3339(),
        stale_reason: None,
    };
    let result = match what {
        Load::InstanceTypes(region) => ec2::fetch_region(sdk, region).await.map(|data| {
            tracing::info!(
                region,
                instance_types = data.instance_types.len(),
                offered = data.offered.len(),
                zones = data.zones.len(),
                "capability table refreshed from EC2"
            );
            store.install_region(region, data, fresh());
        }),
        Load::ZoneNames(region) => ec2::fetch_zone_names(sdk, region)
            .await
            .map(|ids| store.install_zone_names(region, ids, fresh())),
        Load::PlacementGroups(region) => ec2::fetch_placement_groups(sdk, region)
            .await
            .map(|groups| store.install_placement_groups(region, groups, fresh())),
        Load::SecurityGroups(region, reference) => {
            ec2::resolve_security_groups(sdk, region, reference)
                .await
                .map(|groups| store.install_security_groups(region, reference, groups, fresh()))
        }
    };
    if let Err(err) = &result {
        tracing::warn!(region = what.region(), load = what.kind(), kind = %err.kind, error = %err, "loading from EC2 failed; keeping what is known");
        let reason = format!(
            "refreshing from EC2 failed at {} ({})",
            now_rfc3339(),
            err.kind
        );
        store.mark_stale_if_older(what, &reason, stale_after);
    }
    result
}

/// Loads the instance types and offerings of `region` once (a one-shot command's read).
pub async fn refresh_region(
    store: &CapabilityStore,
    sdk: &aws_config::SdkConfig,
    region: &str,
    stale_after: Duration,
) -> Result<(), FetchError> {
    load(
        store,
        sdk,
        &Load::InstanceTypes(region.to_owned()),
        stale_after,
    )
    .await
}

struct Due {
    at: Instant,
    failures: u32,
    /// Asked for by a review rather than configured: dropped after a failure.
    on_demand: bool,
    /// When it last loaded.
    loaded_at: Option<Instant>,
}

impl Due {
    fn now(on_demand: bool) -> Self {
        Due {
            at: Instant::now(),
            failures: 0,
            on_demand,
            loaded_at: None,
        }
    }
}

/// Starts the refresher; it runs until the runtime stops.
pub fn spawn_refresher(
    store: Arc<CapabilityStore>,
    sdk: aws_config::SdkConfig,
    regions: Vec<String>,
    settings: RefreshSettings,
    requests: mpsc::Receiver<Load>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(store, sdk, regions, settings, requests, metrics))
}

async fn run(
    store: Arc<CapabilityStore>,
    sdk: aws_config::SdkConfig,
    regions: Vec<String>,
    settings: RefreshSettings,
    mut requests: mpsc::Receiver<Load>,
    metrics: Arc<Metrics>,
) {
    let mut schedule: HashMap<Load, Due> = regions
        .into_iter()
        .flat_map(|region| {
            [
                Load::InstanceTypes(region.clone()),
                Load::ZoneNames(region.clone()),
                Load::PlacementGroups(region),
            ]
        })
        .map(|load| (load, Due::now(false)))
        .collect();
    let mut failed_on_demand: HashMap<Load, Instant> = HashMap::new();
    loop {
        let next = schedule
            .iter()
            .min_by_key(|(_, due)| due.at)
            .map(|(load, due)| (load.clone(), due.at));
        let sleep = async {
            match &next {
                Some((_, at)) => tokio::time::sleep_until(*at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = requests.recv() => {
                let Some(wanted) = request else { return };
                ask(&mut schedule, &failed_on_demand, wanted, &settings);
            }
            () = sleep => {
                let Some((what, _)) = next else { continue };
                let result = load(&store, &sdk, &what, settings.stale_after).await;
                metrics.record_refresh(what.kind(), match &result {
                    Ok(()) => "success",
                    Err(err) => err.kind.as_str(),
                });
                let Some(due) = schedule.get_mut(&what) else { continue };
                match result {
                    Ok(()) => {
                        due.failures = 0;
                        due.on_demand = false;
                        due.loaded_at = Some(Instant::now());
                        due.at = Instant::now() + settings.interval;
                    }
                    Err(_) if due.on_demand && due.loaded_at.is_none() => {
                        schedule.remove(&what);
                        failed_on_demand.insert(what, Instant::now());
                    }
                    Err(_) => {
                        due.failures += 1;
                        due.at = Instant::now() + settings.backoff(due.failures);
                    }
                }
            }
        }
    }
}

/// Schedules what a review asked for: now, if it is new; again now, if it was loaded a
/// while ago (a placement group made since); not at all if it recently failed, or if it
/// is one security-group reference too many.
fn ask(
    schedule: &mut HashMap<Load, Due>,
    failed_on_demand: &HashMap<Load, Instant>,
    wanted: Load,
    settings: &RefreshSettings,
) {
    if failed_on_demand
        .get(&wanted)
        .is_some_and(|at| at.elapsed() < settings.forget_failed_load)
    {
        return;
    }
    match schedule.get_mut(&wanted) {
        Some(due) => {
            let loaded_a_while_ago = due
                .loaded_at
                .is_some_and(|at| at.elapsed() >= settings.reread_after);
            if loaded_a_while_ago && due.failures == 0 {
                due.at = due.at.min(Instant::now());
            }
        }
        None => {
            if matches!(wanted, Load::SecurityGroups(..))
                && schedule
                    .keys()
                    .filter(|load| matches!(load, Load::SecurityGroups(..)))
                    .count()
                    >= settings.max_security_group_refs
            {
                return;
            }
            tracing::info!(
                region = wanted.region(),
                load = wanted.kind(),
                "loading what a review needs for the first time"
            );
            schedule.insert(wanted, Due::now(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let settings = RefreshSettings::with_interval(Duration::from_secs(12 * 3600));
        for failures in 1..40 {
            let d = settings.backoff(failures);
            let exp = (10.0 * 2f64.powi(failures as i32 - 1)).min(1800.0);
            assert!(
                d.as_secs_f64() >= exp * 0.5 && d.as_secs_f64() <= exp * 1.5,
                "{failures}: {d:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_miss_in_data_held_a_while_is_read_again_and_bounds_hold() {
        let settings = RefreshSettings {
            reread_after: Duration::from_secs(30),
            max_security_group_refs: 1,
            ..RefreshSettings::with_interval(Duration::from_secs(3600))
        };
        let groups = Load::PlacementGroups("us-east-1".into());
        let mut schedule = HashMap::from([(
            groups.clone(),
            Due {
                at: Instant::now() + Duration::from_secs(3600),
                failures: 0,
                on_demand: false,
                loaded_at: Some(Instant::now()),
            },
        )]);
        let failed = HashMap::new();
        // Loaded a moment ago: a miss waits for the next refresh.
        ask(&mut schedule, &failed, groups.clone(), &settings);
        assert!(schedule[&groups].at > Instant::now() + Duration::from_secs(60));
        // Loaded a while ago: read again now.
        schedule.get_mut(&groups).unwrap().loaded_at =
            Some(Instant::now() - Duration::from_secs(31));
        ask(&mut schedule, &failed, groups.clone(), &settings);
        assert!(schedule[&groups].at <= Instant::now());
        // One reference is kept; a second is not.
        let reference = |name: &str| {
            Load::SecurityGroups(
                "us-east-1".into(),
                crate::core::SecurityGroupRef::Id(name.into()),
            )
        };
        ask(&mut schedule, &failed, reference("sg-1"), &settings);
        ask(&mut schedule, &failed, reference("sg-2"), &settings);
        assert!(schedule.contains_key(&reference("sg-1")));
        assert!(!schedule.contains_key(&reference("sg-2")));
        // A recent on-demand failure is not retried at once.
        let failed = HashMap::from([(reference("sg-3"), Instant::now())]);
        ask(&mut schedule, &failed, reference("sg-3"), &settings);
        assert!(!schedule.contains_key(&reference("sg-3")));
    }
}
