//! `machine-efa-webhook serve`: the wiring of the webhook. The capability table (and
//! its refresher), the Cluster API region lookups, the metrics port and the HTTPS
//! server, started from the flags; then the shutdown sequence.

use super::{LogFormat, RuleArgs, TableArgs, init_logging};
use crate::admission::Webhook;
use crate::audit;
use crate::capabilities::{
    self, CapabilitySource, CapabilityStore, RefreshSettings, ec2, snapshot::SnapshotFile,
};
use crate::cluster;
use crate::core::{CapabilityTable, SourceKind};
use crate::metrics::Metrics;
use crate::server::{self, tls};
use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to serve HTTPS on.
    #[arg(long, env = "EFA_WEBHOOK_LISTEN", default_value = "0.0.0.0:9443")]
    pub listen: SocketAddr,
    /// PEM certificate chain of the serving certificate.
    #[arg(long, env = "EFA_WEBHOOK_TLS_CERT")]
    pub tls_cert: PathBuf,
    /// PEM private key of the serving certificate.
    #[arg(long, env = "EFA_WEBHOOK_TLS_KEY")]
    pub tls_key: PathBuf,
    #[command(flatten)]
    pub table: TableArgs,
    /// Regions to load from EC2 at start with `--capabilities ec2` [default: the own region].
    #[arg(long, env = "EFA_WEBHOOK_REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// How often to re-read each region from EC2.
    #[arg(long, env = "EFA_WEBHOOK_REFRESH_INTERVAL", default_value = "12h", value_parser = refresh_interval)]
    pub refresh_interval: Duration,
    /// With `ec2`: data a failed refresh could not replace is called stale in warnings once it is this old.
    #[arg(long, env = "EFA_WEBHOOK_STALE_AFTER", default_value = "24h", value_parser = humantime::parse_duration)]
    pub stale_after: Duration,
    /// Plain-HTTP address for /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "EFA_WEBHOOK_METRICS_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub metrics_listen: SocketAddr,
    /// Require client certificates signed by this PEM CA (API servers with an admission kubeconfig).
    #[arg(long, env = "EFA_WEBHOOK_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// How often to look for a new certificate and key on disk.
    #[arg(long, env = "EFA_WEBHOOK_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = tls_reload_interval)]
    pub tls_reload_interval: Duration,
    /// With no --region, read the region of the OpenShift cluster's Infrastructure object (needs get on infrastructures/cluster).
    #[arg(long, env = "EFA_WEBHOOK_REGION_FROM_CLUSTER")]
    pub region_from_cluster: bool,
    /// Take the region of Cluster API AWSMachines from their AWSCluster's spec.region (needs get and list on awsclusters).
    #[arg(long, env = "EFA_WEBHOOK_CLUSTER_API_REGIONS")]
    pub cluster_api_regions: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Audit the Machines, MachineSets, AWSMachines and AWSMachineTemplates in the cluster this often, in the background, read-only (needs get and list on them) [default: off].
    #[arg(long, env = "EFA_WEBHOOK_AUDIT_INTERVAL", value_parser = audit_interval)]
    pub audit_interval: Option<Duration>,
    /// After SIGTERM: how long to keep accepting, not ready, while endpoints stop routing here.
    #[arg(long, env = "EFA_WEBHOOK_SHUTDOWN_DELAY", default_value = "5s", value_parser = humantime::parse_duration)]
    pub shutdown_delay: Duration,
    /// A client that has not sent its request headers by then is disconnected.
    #[arg(long, env = "EFA_WEBHOOK_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves for this long is closed.
    #[arg(long, env = "EFA_WEBHOOK_IDLE_TIMEOUT", default_value = "90s", value_parser = idle_timeout)]
    pub idle_timeout: Duration,
    /// Then: how long in-flight requests may take to finish.
    #[arg(long, env = "EFA_WEBHOOK_SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: Duration,
    /// Log format.
    #[arg(
        long,
        env = "EFA_WEBHOOK_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
}

/// Between one minute (EC2 rate limits) and a week (the data goes stale).
fn refresh_interval(text: &str) -> Result<Duration, String> {
    bounded_duration(
        text,
        Duration::from_secs(60),
        Duration::from_secs(7 * 24 * 3600),
    )
}

/// Between one second and a day: each run lists every machine, so minutes suit a cluster.
fn audit_interval(text: &str) -> Result<Duration, String> {
    bounded_duration(text, Duration::from_secs(1), Duration::from_secs(24 * 3600))
}

/// Between one second and ten minutes: zero would spin, longer would leave an expired
/// certificate in use.
fn tls_reload_interval(text: &str) -> Result<Duration, String> {
    bounded_duration(text, Duration::from_secs(1), Duration::from_secs(600))
}

/// Between one second and an hour: zero would close every connection at once.
fn idle_timeout(text: &str) -> Result<Duration, String> {
    bounded_duration(text, Duration::from_secs(1), Duration::from_secs(3600))
}

fn bounded_duration(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if (min..=max).contains(&duration) {
        Ok(duration)
    } else {
        Err(format!(
            "must be between {} and {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ))
    }
}

/// Serves until SIGTERM or Ctrl-C, then drains.
pub async fn run(args: ServeArgs) -> Result<ExitCode> {
    let _flush_logs_at_exit = init_logging(args.log_format, "info");
    let region = own_region(&args).await;
    let policy = args.rules.policy(region.clone());
    let cert = Arc::new(
        tls::ReloadingCert::load(&args.tls_cert, &args.tls_key)
            .context("loading the serving certificate")?,
    );
    let tls =
        tls::server_config(cert.clone(), args.client_ca.as_deref()).context("configuring TLS")?;
    let metrics = Arc::new(Metrics::default());
    tls::spawn_cert_reloader(cert, args.tls_reload_interval, metrics.clone());

    let store = match &args.table.capabilities {
        CapabilitySource::Embedded => Arc::new(CapabilityStore::fixed(
            capabilities::snapshot::embedded_table(),
        )),
        CapabilitySource::File(path) => {
            let table = SnapshotFile::read(path)?.to_table(SourceKind::File);
            Arc::new(CapabilityStore::fixed(table))
        }
        CapabilitySource::Ec2 => {
            let (store, requests) =
                CapabilityStore::refreshed(capabilities::snapshot::embedded_table());
            let store = Arc::new(store.with_metrics(metrics.clone()));
            let regions = if args.regions.is_empty() {
                vec![region.clone()]
            } else {
                args.regions.clone()
            };
            let sdk = ec2::sdk_config(&region).await;
            capabilities::spawn_refresher(
                store.clone(),
                sdk,
                regions,
                RefreshSettings {
                    stale_after: args.stale_after,
                    ..RefreshSettings::with_interval(args.refresh_interval)
                },
                requests,
                metrics.clone(),
            );
            store
        }
    };
    log_table(&store.current(), &args.table.capabilities);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    if let Some(interval) = args.audit_interval {
        let kube_config = kube::Config::infer()
            .await
            .context("--audit-interval needs a kube client configuration")?;
        tracing::info!(interval = %humantime::format_duration(interval), "auditing the cluster in the background");
        audit::background::spawn(
            kube_config,
            policy.clone(),
            audit::AuditTable::of(store.clone()),
            interval,
            metrics.clone(),
        )
        .context("starting the audit thread")?;
    }
    let mut webhook = Webhook::new(policy, store);
    if args.cluster_api_regions {
        let client = cluster::client()
            .await
            .context("--cluster-api-regions needs a kube client")?;
        let (regions, lookups) = cluster::ClusterRegions::new();
        regions.spawn_lookups(client, lookups);
        webhook = webhook.with_cluster_regions(regions);
    }
    let state = Arc::new(server::AppState::new(webhook, metrics));
    let metrics_listener = tokio::net::TcpListener::bind(args.metrics_listen)
        .await
        .with_context(|| format!("listening on {}", args.metrics_listen))?;
    let metrics_app = server::metrics_router(state.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(metrics_listener, metrics_app).await {
            tracing::error!(error = %err, "metrics server stopped");
        }
    });
    let app = server::router(state.clone());
    tracing::info!(listen = %args.listen, metrics = %args.metrics_listen, region, "serving /mutate and /validate over HTTPS");
    let shutdown_delay = args.shutdown_delay;
    let shutdown = async move {
        shutdown_signal().await;
        // Not ready, but still accepting until the endpoint is gone from every
        // API server and proxy; then stop accepting and drain.
        state.set_ready(false);
        tracing::info!(delay = ?shutdown_delay, "shutting down: not ready, still serving");
        tokio::time::sleep(shutdown_delay).await;
    };
    let limits = server::Limits {
        header_read_timeout: args.header_read_timeout,
        idle_timeout: args.idle_timeout,
        shutdown_grace: args.shutdown_grace,
        ..server::Limits::default()
    };
    server::serve(listener, tls, app, shutdown, limits).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// `--region`; else the cluster's Infrastructure (when asked); else env and profile;
/// else IMDS (only when talking to EC2 anyway); else us-east-1.
async fn own_region(args: &ServeArgs) -> String {
    if let Some(region) = &args.table.region.region {
        return region.clone();
    }
    // Asked for explicitly, the cluster's own answer comes before a stray AWS_REGION.
    if args.region_from_cluster {
        let read = async { cluster::infrastructure_region(cluster::client().await?).await };
        match tokio::time::timeout(Duration::from_secs(15), read).await {
            Ok(Ok(Some(region))) => return region,
            Ok(Ok(None)) => tracing::warn!("the cluster's Infrastructure names no AWS region"),
            Ok(Err(err)) => tracing::warn!(error = %err, "could not read the cluster's region"),
            Err(_) => tracing::warn!("reading the cluster's region timed out"),
        }
    }
    if let Some(region) = ec2::default_region(false).await {
        return region;
    }
    if args.table.capabilities == CapabilitySource::Ec2
        && let Some(region) = ec2::default_region(true).await
    {
        return region;
    }
    "us-east-1".to_owned()
}

fn log_table(table: &CapabilityTable, source: &CapabilitySource) {
    tracing::info!(
        source = ?source,
        instance_types = table.instance_types.len(),
        efa_types = table.instance_types.values().filter(|t| t.efa_supported).count(),
        regions = table.regions.len(),
        "capability table in memory"
    );
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
