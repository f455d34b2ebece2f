//! Background refresh of the table from EC2: the wanted regions at start, each again
//! every interval, first-seen regions on demand, and jittered backoff on failure. A
//! failed refresh keeps what the store has and says so.

use super::ec2::{self, FetchError};
use super::{CapabilityStore, now_rfc3339};
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
    /// A first-seen region that fails is not asked for again before this.
    pub forget_failed_region: Duration,
    /// Data older than this, that a refresh failed to replace, is called stale in warnings.
    pub stale_after: Duration,
}

impl RefreshSettings {
    pub fn with_interval(interval: Duration) -> Self {
        RefreshSettings {
            interval,
            initial_backoff: Duration::from_secs(10),
            max_backoff: interval.min(Duration::from_secs(30 * 60)),
            forget_failed_region: Duration::from_secs(60 * 60),
            stale_after: Duration::from_secs(24 * 3600),
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

/// Loads `region` once; on failure marks the store's data for it stale and keeps it.
/// On failure, the data the store keeps is marked stale once it is older than `stale_after`.
pub async fn refresh_region(
    store: &CapabilityStore,
    sdk: &aws_config::SdkConfig,
    region: &str,
    stale_after: Duration,
) -> Result<(), FetchError> {
    match ec2::fetch_region(sdk, region).await {
        Ok(data) => {
            tracing::info!(
                region,
                instance_types = data.instance_types.len(),
                offered = data.offered.len(),
                "capability table refreshed from EC2"
            );
            let provenance = Provenance {
                source: SourceKind::Ec2,
                fetched_at: now_rfc3339(),
                stale_reason: None,
            };
            store.install_region(region, data, provenance);
            Ok(())
        }
        Err(err) => {
            tracing::warn!(region, kind = %err.kind, error = %err, "capability refresh failed; keeping the table it has");
            let reason = format!(
                "refreshing from EC2 failed at {} ({})",
                now_rfc3339(),
                err.kind
            );
            store.mark_stale_if_older(region, &reason, stale_after);
            Err(err)
        }
    }
}

struct Due {
    at: Instant,
    failures: u32,
    /// Asked for by a review rather than configured: dropped after a failure.
    on_demand: bool,
}

/// Starts the refresher; it runs until the runtime stops.
pub fn spawn_refresher(
    store: Arc<CapabilityStore>,
    sdk: aws_config::SdkConfig,
    regions: Vec<String>,
    settings: RefreshSettings,
    requests: mpsc::Receiver<String>,
    metrics: Arc<Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(store, sdk, regions, settings, requests, metrics))
}

async fn run(
    store: Arc<CapabilityStore>,
    sdk: aws_config::SdkConfig,
    regions: Vec<String>,
    settings: RefreshSettings,
    mut requests: mpsc::Receiver<String>,
    metrics: Arc<Metrics>,
) {
    let now = Instant::now();
    let mut schedule: HashMap<String, Due> = regions
        .into_iter()
        .map(|r| {
            (
                r,
                Due {
                    at: now,
                    failures: 0,
                    on_demand: false,
                },
            )
        })
        .collect();
    let mut failed_on_demand: HashMap<String, Instant> = HashMap::new();
    loop {
        let next = schedule
            .iter()
            .min_by_key(|(_, due)| due.at)
            .map(|(region, due)| (region.clone(), due.at));
        let sleep = async {
            match &next {
                Some((_, at)) => tokio::time::sleep_until(*at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            request = requests.recv() => {
                let Some(region) = request else { return };
                let recently_failed = failed_on_demand
                    .get(&region)
                    .is_some_and(|at| at.elapsed() < settings.forget_failed_region);
                if !recently_failed && !schedule.contains_key(&region) {
                    tracing::info!(region, "loading a region a review named for the first time");
                    schedule.insert(region, Due { at: Instant::now(), failures: 0, on_demand: true });
                }
            }
            () = sleep => {
                let Some((region, _)) = next else { continue };
                let result = refresh_region(&store, &sdk, &region, settings.stale_after).await;
                metrics.record_refresh(match &result {
                    Ok(()) => "success",
                    Err(err) => err.kind.as_str(),
                });
                let Some(due) = schedule.get_mut(&region) else { continue };
                match result {
                    Ok(()) => {
                        due.failures = 0;
                        due.on_demand = false;
                        due.at = Instant::now() + settings.interval;
                    }
                    Err(_) if due.on_demand => {
                        schedule.remove(&region);
                        failed_on_demand.insert(region, Instant::now());
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
}
