#![forbid(unsafe_code)]
//! Command line and wiring. Everything here reads a flag or an env var, builds the
//! pieces from the library, and connects them.

use anyhow::{Context, Result, bail};
use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};
use machine_efa_webhook::capabilities::{
    self, CapabilitySource, CapabilityStore, RefreshSettings, ec2, snapshot::SnapshotFile,
};
use machine_efa_webhook::core::{
    CapabilityTable, Policy, SourceKind, Spelling, UnknownInstanceType,
};
use machine_efa_webhook::metrics::Metrics;
use machine_efa_webhook::{certs, cluster, server, tls};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// mimalloc: a review allocates a few hundred small blocks (the parsed object, the
/// answer), and the system allocator's arena locks showed in profiles under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "machine-efa-webhook",
    version,
    about = "Admission webhook for networkInterfaceType (ENA/EFA) on OpenShift Machine API AWS machines"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve /mutate and /validate over HTTPS.
    Serve(Box<ServeArgs>),
    /// Read the capability table from EC2 and write it as a snapshot file.
    Snapshot(SnapshotArgs),
    /// Make a CA and a serving certificate signed by it, and print the caBundle.
    Certs(CertsArgs),
    /// Check manifests as the webhook would on CREATE (exit 0 clean, 1 denied, 2 unreadable).
    Check(CheckArgs),
    /// List the instance-type capability table.
    InstanceTypes(InstanceTypesArgs),
}

/// Where a one-shot command's table comes from, and the region it assumes.
#[derive(clap::Args)]
struct TableArgs {
    /// Where the instance-type table comes from: `embedded`, `ec2` (the regions needed are read once), or a snapshot file's path.
    #[arg(long, env = "EFA_WEBHOOK_CAPABILITIES", default_value = "embedded")]
    capabilities: CapabilitySource,
    /// The region assumed when an object names none [default: from the AWS config chain, else us-east-1].
    #[arg(long, env = "EFA_WEBHOOK_REGION")]
    region: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum CheckOutput {
    Text,
    Json,
}

#[derive(clap::Args)]
struct CheckArgs {
    /// A YAML or JSON file (multi-document, List), a directory (read recursively), or `-` for stdin; repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        env = "EFA_WEBHOOK_CHECK_FILES",
        value_delimiter = ',',
        required = true
    )]
    files: Vec<PathBuf>,
    /// Report format.
    #[arg(
        short = 'o',
        long,
        env = "EFA_WEBHOOK_CHECK_OUTPUT",
        value_enum,
        default_value = "text"
    )]
    output: CheckOutput,
    /// Write the documents to stdout with defaults and canonical spellings applied (reports go to stderr).
    #[arg(long, env = "EFA_WEBHOOK_CHECK_FIX")]
    fix: bool,
    #[command(flatten)]
    rules: RuleArgs,
    #[command(flatten)]
    table: TableArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum ListOutput {
    Table,
    Json,
}

#[derive(clap::Args)]
struct InstanceTypesArgs {
    /// Only the types that support EFA.
    #[arg(long, env = "EFA_WEBHOOK_LIST_EFA")]
    efa: bool,
    /// Only these families (`p5`, `c5n`), comma-separated.
    #[arg(long, env = "EFA_WEBHOOK_LIST_FAMILY", value_delimiter = ',')]
    family: Vec<String>,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        env = "EFA_WEBHOOK_LIST_OUTPUT",
        value_enum,
        default_value = "table"
    )]
    output: ListOutput,
    #[command(flatten)]
    table: TableArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum SpellingArg {
    Openshift,
    Proposal,
}

#[derive(Clone, Copy, ValueEnum)]
enum UnknownArg {
    Warn,
    Deny,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The flags that shape every decision, for `serve` and `check` alike.
#[derive(clap::Args)]
struct RuleArgs {
    /// What to do with EFA on an instance type the table does not know or the region does not offer.
    #[arg(
        long,
        env = "EFA_WEBHOOK_UNKNOWN_INSTANCE_TYPE",
        value_enum,
        default_value = "warn"
    )]
    unknown_instance_type: UnknownArg,
    /// Canonical spelling for the Machine API: `openshift` (ENA/EFA) or `proposal` (interface/efa); Cluster API is always interface/efa.
    #[arg(
        long,
        env = "EFA_WEBHOOK_SPELLING",
        value_enum,
        default_value = "openshift"
    )]
    spelling: SpellingArg,
}

impl RuleArgs {
    fn policy(&self, default_region: String) -> Policy {
        Policy {
            spelling: match self.spelling {
                SpellingArg::Openshift => Spelling::OpenShift,
                SpellingArg::Proposal => Spelling::Proposal,
            },
            unknown_instance_type: match self.unknown_instance_type {
                UnknownArg::Warn => UnknownInstanceType::Warn,
                UnknownArg::Deny => UnknownInstanceType::Deny,
            },
            default_region,
        }
    }
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to serve HTTPS on.
    #[arg(long, env = "EFA_WEBHOOK_LISTEN", default_value = "0.0.0.0:9443")]
    listen: SocketAddr,
    /// PEM certificate chain of the serving certificate.
    #[arg(long, env = "EFA_WEBHOOK_TLS_CERT")]
    tls_cert: PathBuf,
    /// PEM private key of the serving certificate.
    #[arg(long, env = "EFA_WEBHOOK_TLS_KEY")]
    tls_key: PathBuf,
    /// Where the instance-type table comes from: `embedded`, `ec2`, or a snapshot file's path.
    #[arg(long, env = "EFA_WEBHOOK_CAPABILITIES", default_value = "embedded")]
    capabilities: CapabilitySource,
    /// The webhook's own region, assumed when a machine sets none [default: from the AWS config chain, else us-east-1].
    #[arg(long, env = "EFA_WEBHOOK_REGION")]
    region: Option<String>,
    /// Regions to load from EC2 at start with `--capabilities ec2` [default: the own region].
    #[arg(long, env = "EFA_WEBHOOK_REGIONS", value_delimiter = ',')]
    regions: Vec<String>,
    /// How often to re-read each region from EC2.
    #[arg(long, env = "EFA_WEBHOOK_REFRESH_INTERVAL", default_value = "12h", value_parser = refresh_interval)]
    refresh_interval: Duration,
    /// With `ec2`: data a failed refresh could not replace is called stale in warnings once it is this old.
    #[arg(long, env = "EFA_WEBHOOK_STALE_AFTER", default_value = "24h", value_parser = humantime::parse_duration)]
    stale_after: Duration,
    /// Plain-HTTP address for /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "EFA_WEBHOOK_METRICS_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    metrics_listen: SocketAddr,
    /// Require client certificates signed by this PEM CA (API servers with an admission kubeconfig).
    #[arg(long, env = "EFA_WEBHOOK_CLIENT_CA")]
    client_ca: Option<PathBuf>,
    /// How often to look for a new certificate and key on disk.
    #[arg(long, env = "EFA_WEBHOOK_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = tls_reload_interval)]
    tls_reload_interval: Duration,
    /// With no --region, read the region of the OpenShift cluster's Infrastructure object (needs get on infrastructures/cluster).
    #[arg(long, env = "EFA_WEBHOOK_REGION_FROM_CLUSTER")]
    region_from_cluster: bool,
    /// Take the region of Cluster API AWSMachines from their AWSCluster's spec.region (needs get and list on awsclusters).
    #[arg(long, env = "EFA_WEBHOOK_CLUSTER_API_REGIONS")]
    cluster_api_regions: bool,
    #[command(flatten)]
    rules: RuleArgs,
    /// After SIGTERM: how long to keep accepting, not ready, while endpoints stop routing here.
    #[arg(long, env = "EFA_WEBHOOK_SHUTDOWN_DELAY", default_value = "5s", value_parser = humantime::parse_duration)]
    shutdown_delay: Duration,
    /// A client that has not sent its request headers by then is disconnected.
    #[arg(long, env = "EFA_WEBHOOK_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// A connection on which no byte moves for this long is closed.
    #[arg(long, env = "EFA_WEBHOOK_IDLE_TIMEOUT", default_value = "90s", value_parser = idle_timeout)]
    idle_timeout: Duration,
    /// Then: how long in-flight requests may take to finish.
    #[arg(long, env = "EFA_WEBHOOK_SHUTDOWN_GRACE", default_value = "20s", value_parser = humantime::parse_duration)]
    shutdown_grace: Duration,
    /// Log format.
    #[arg(
        long,
        env = "EFA_WEBHOOK_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

#[derive(clap::Args)]
struct SnapshotArgs {
    /// Regions to read, comma-separated, or `all` for every region DescribeRegions lists.
    #[arg(
        long,
        env = "EFA_WEBHOOK_REGIONS",
        value_delimiter = ',',
        required = true
    )]
    regions: Vec<String>,
    /// The snapshot file to write.
    #[arg(long, env = "EFA_WEBHOOK_SNAPSHOT_OUT")]
    out: PathBuf,
    /// Region to ask DescribeRegions in, for `--regions all`.
    #[arg(long, env = "EFA_WEBHOOK_REGION", default_value = "us-east-1")]
    region: String,
    /// What to record as the data's source in the file [default: the EC2 endpoint].
    #[arg(long, env = "EFA_WEBHOOK_SNAPSHOT_SOURCE")]
    source: Option<String>,
}

#[derive(clap::Args)]
struct CertsArgs {
    /// Directory to write ca.crt, tls.crt and tls.key to.
    #[arg(long, env = "EFA_WEBHOOK_CERTS_OUT")]
    out: PathBuf,
    /// DNS names of the serving certificate.
    #[arg(
        long = "dns",
        env = "EFA_WEBHOOK_CERTS_DNS",
        value_delimiter = ',',
        default_value = "localhost"
    )]
    dns: Vec<String>,
    /// IP addresses of the serving certificate.
    #[arg(
        long = "ip",
        env = "EFA_WEBHOOK_CERTS_IP",
        value_delimiter = ',',
        default_value = "127.0.0.1"
    )]
    ip: Vec<IpAddr>,
    /// Days the certificates are valid.
    #[arg(long, env = "EFA_WEBHOOK_CERTS_DAYS", default_value_t = 365)]
    days: i64,
    /// Replace certificates that already exist.
    #[arg(long, env = "EFA_WEBHOOK_CERTS_FORCE")]
    force: bool,
}

/// Between one minute (EC2 rate limits) and a week (the data goes stale).
fn refresh_interval(text: &str) -> Result<Duration, String> {
    bounded_duration(
        text,
        Duration::from_secs(60),
        Duration::from_secs(7 * 24 * 3600),
    )
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

/// Logs go to stderr through tracing-appender's writer thread, so that a stalled stderr
/// drops lines instead of stalling an admission; the guard flushes what is left at exit.
fn init_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    // Buffered: the writer thread flushes whenever it has written all it was given.
    let stderr = std::io::BufWriter::new(std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking(stderr);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => {
            let _flush_at_exit = init_logging(args.log_format);
            runtime.block_on(serve(*args))
        }
        Command::Snapshot(args) => {
            let _flush_at_exit = init_logging(LogFormat::Text);
            runtime.block_on(snapshot(args))
        }
        Command::Certs(args) => make_certs(args),
        Command::Check(args) => {
            let code = runtime.block_on(check(args));
            std::process::exit(code)
        }
        Command::InstanceTypes(args) => runtime.block_on(instance_types(args)),
    }
}

/// `--region`, else the AWS config chain (env, profile), else us-east-1; never IMDS,
/// so a laptop or a CI runner never waits on a metadata timeout.
async fn one_shot_region(args: &TableArgs) -> String {
    match &args.region {
        Some(region) => region.clone(),
        None => ec2::default_region(false)
            .await
            .unwrap_or_else(|| "us-east-1".to_owned()),
    }
}

/// The table for a one-shot command; with `ec2`, `regions` are read once, now.
async fn one_shot_table(
    source: &CapabilitySource,
    regions: impl IntoIterator<Item = String>,
    home_region: &str,
) -> Result<CapabilityTable> {
    Ok(match source {
        CapabilitySource::Embedded => capabilities::snapshot::embedded_table(),
        CapabilitySource::File(path) => SnapshotFile::read(path)?.to_table(SourceKind::File),
        CapabilitySource::Ec2 => {
            let sdk = ec2::sdk_config(home_region).await;
            let store = CapabilityStore::fixed(CapabilityTable::default());
            for region in regions {
                capabilities::refresh_region(&store, &sdk, &region, Duration::ZERO)
                    .await
                    .with_context(|| format!("reading {region} from EC2"))?;
            }
            CapabilityTable::clone(&store.current())
        }
    })
}

async fn check(args: CheckArgs) -> i32 {
    use machine_efa_webhook::check;
    let region = one_shot_region(&args.table).await;
    let (sources, unreadable) = check::read_inputs(&args.files);
    let parsed = check::parse(sources);
    let mut regions = check::regions_named(&parsed);
    regions.insert(region.clone());
    let table = match one_shot_table(&args.table.capabilities, regions, &region).await {
        Ok(table) => table,
        Err(err) => {
            eprintln!("error: the capability table: {}", error_chain(&err));
            return check::EXIT_UNREADABLE;
        }
    };
    let policy = args.rules.policy(region);
    let report = check::check(&parsed, unreadable, &policy, &table);
    let rendered = match args.output {
        CheckOutput::Text => report.to_text(),
        CheckOutput::Json => report.to_json(),
    };
    if args.fix {
        print!("{}", report.fixed);
        for name in &report.rewritten {
            eprintln!(
                "note: {name} could not be edited in place: written as JSON documents (comments dropped)"
            );
        }
        eprint!("{rendered}");
    } else {
        print!("{rendered}");
    }
    report.exit_code()
}

/// The error and its causes, leaving out a cause its message already quotes.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain().map(ToString::to_string) {
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

async fn instance_types(args: InstanceTypesArgs) -> Result<()> {
    use machine_efa_webhook::instance_types::{Query, list};
    let region = one_shot_region(&args.table).await;
    let table = one_shot_table(&args.table.capabilities, [region.clone()], &region).await?;
    let listing = list(
        &table,
        &Query {
            region: &region,
            efa_only: args.efa,
            families: &args.family,
        },
    );
    match args.output {
        ListOutput::Table => print!("{}", listing.to_table()),
        ListOutput::Json => print!("{}", listing.to_json()),
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    let region = own_region(&args).await;
    let policy = args.rules.policy(region.clone());
    let cert = Arc::new(
        tls::ReloadingCert::load(&args.tls_cert, &args.tls_key)
            .context("loading the serving certificate")?,
    );
    let tls =
        tls::server_config(cert.clone(), args.client_ca.as_deref()).context("configuring TLS")?;
    let metrics = Arc::new(Metrics::default());
    server::spawn_cert_reloader(cert, args.tls_reload_interval, metrics.clone());

    let store = match &args.capabilities {
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
            let store = Arc::new(store);
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
    log_table(&store.current(), &args.capabilities);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let mut state = server::AppState::new(policy, store, metrics);
    if args.cluster_api_regions {
        let client = cluster::client()
            .await
            .context("--cluster-api-regions needs a kube client")?;
        let (regions, lookups) = cluster::ClusterRegions::new();
        regions.spawn_lookups(client, lookups);
        state = state.with_cluster_regions(regions);
    }
    let state = Arc::new(state);
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
    Ok(())
}

/// `--region`; else the cluster's Infrastructure (when asked); else env and profile;
/// else IMDS (only when talking to EC2 anyway); else us-east-1.
async fn own_region(args: &ServeArgs) -> String {
    if let Some(region) = &args.region {
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
    if args.capabilities == CapabilitySource::Ec2
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

async fn snapshot(args: SnapshotArgs) -> Result<()> {
    let sdk = ec2::sdk_config(&args.region).await;
    let regions = if args.regions == ["all"] {
        ec2::list_regions(&sdk, &args.region).await?
    } else {
        args.regions.clone()
    };
    if regions.is_empty() {
        bail!("no regions to read");
    }
    let store = CapabilityStore::fixed(CapabilityTable::default());
    for region in &regions {
        capabilities::refresh_region(&store, &sdk, region, Duration::ZERO).await?;
    }
    let table = store.current();
    let source = args.source.unwrap_or_else(|| {
        let endpoint =
            std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "the AWS EC2 API".to_owned());
        format!("DescribeInstanceTypes and DescribeInstanceTypeOfferings from {endpoint}")
    });
    let file = SnapshotFile::new(source, capabilities::now_rfc3339(), &table);
    file.write(&args.out)?;
    eprintln!(
        "wrote {}: {} instance types ({} with EFA), {} regions",
        args.out.display(),
        file.instance_types.len(),
        file.instance_types
            .values()
            .filter(|t| t.efa_supported)
            .count(),
        file.regions.len()
    );
    Ok(())
}

fn make_certs(args: CertsArgs) -> Result<()> {
    let cert = args.out.join(certs::CERT_FILE);
    if cert.exists() && !args.force {
        eprintln!(
            "{} exists; keeping it (--force replaces it)",
            cert.display()
        );
    } else {
        certs::generate(&args.dns, &args.ip, args.days)?.write_to(&args.out)?;
        eprintln!("wrote {}/{{ca.crt,tls.crt,tls.key}}", args.out.display());
    }
    let ca = std::fs::read(args.out.join(certs::CA_FILE)).context("reading ca.crt")?;
    println!("{}", base64::engine::general_purpose::STANDARD.encode(ca));
    Ok(())
}
