//! The command line: one file per subcommand, and here what they share (the table's
//! source and the default region, the rules' flags, logging). `main.rs` parses and
//! dispatches; everything a command does starts in its `run`.

pub mod audit;
pub mod certs;
pub mod check;
pub mod instance_types;
pub mod serve;
pub mod snapshot;

use crate::capabilities::{
    self, CapabilitySource, CapabilityStore, Load, ec2, snapshot::SnapshotFile,
};
use crate::core::{CapabilityTable, Policy, SourceKind, Spelling, UnknownInstanceType};
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "machine-efa-webhook",
    version,
    about = "Admission webhook for networkInterfaceType (ENA/EFA) on OpenShift Machine API AWS machines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve /mutate and /validate over HTTPS.
    Serve(Box<serve::ServeArgs>),
    /// Read the capability table from EC2 and write it as a snapshot file.
    Snapshot(snapshot::SnapshotArgs),
    /// Make a CA and a serving certificate signed by it, and print the caBundle.
    Certs(certs::CertsArgs),
    /// Check manifests as the webhook would on CREATE (exit 0 clean, 1 denied, 2 unreadable).
    Check(check::CheckArgs),
    /// Audit the Machines, MachineSets, AWSMachines and AWSMachineTemplates in the cluster as a CREATE would be judged (exit 0 clean, 1 findings, 2 cannot read).
    Audit(Box<audit::AuditArgs>),
    /// List the instance-type capability table.
    InstanceTypes(instance_types::InstanceTypesArgs),
}

/// Where the instance-type table comes from, and the region assumed for objects that
/// name none.
#[derive(clap::Args)]
pub struct TableArgs {
    /// Where the instance-type table comes from: `embedded`, `ec2` (`serve` keeps it fresh in the background; other commands read the regions they need once), or a snapshot file's path.
    #[arg(long, env = "EFA_WEBHOOK_CAPABILITIES", default_value = "embedded")]
    pub capabilities: CapabilitySource,
    #[command(flatten)]
    pub region: RegionArg,
}

#[derive(clap::Args)]
pub struct RegionArg {
    /// The region assumed when an object names none [default: from the AWS config chain, else us-east-1].
    #[arg(long, env = "EFA_WEBHOOK_REGION")]
    pub region: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SpellingArg {
    Openshift,
    Proposal,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum UnknownArg {
    Warn,
    Deny,
}

/// The flags that shape every decision, for `serve` and `check` alike.
#[derive(clap::Args)]
pub struct RuleArgs {
    /// What to do with EFA on an instance type the table does not know or the region does not offer.
    #[arg(
        long,
        env = "EFA_WEBHOOK_UNKNOWN_INSTANCE_TYPE",
        value_enum,
        default_value = "warn"
    )]
    pub unknown_instance_type: UnknownArg,
    /// Canonical spelling for the Machine API: `openshift` (ENA/EFA) or `proposal` (interface/efa); Cluster API is always interface/efa.
    #[arg(
        long,
        env = "EFA_WEBHOOK_SPELLING",
        value_enum,
        default_value = "openshift"
    )]
    pub spelling: SpellingArg,
}

impl RuleArgs {
    pub fn policy(&self, default_region: String) -> Policy {
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

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr through tracing-appender's writer thread, so that a stalled stderr
/// drops lines instead of stalling an admission; the guard flushes what is left at exit.
/// `default_level` applies unless `RUST_LOG` says otherwise.
pub fn init_logging(
    format: LogFormat,
    default_level: &str,
) -> tracing_appender::non_blocking::WorkerGuard {
    // Buffered: the writer thread flushes whenever it has written all it was given.
    let stderr = std::io::BufWriter::new(std::io::stderr());
    let (writer, guard) = tracing_appender::non_blocking(stderr);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
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

/// `--region`, else the AWS config chain (env, profile), else us-east-1; never IMDS,
/// so a laptop or a CI runner never waits on a metadata timeout.
pub async fn one_shot_region(args: &RegionArg) -> String {
    match &args.region {
        Some(region) => region.clone(),
        None => ec2::default_region(false)
            .await
            .unwrap_or_else(|| "us-east-1".to_owned()),
    }
}

/// The table for a one-shot command; with `ec2`, what `loads` name is read once, now.
/// Instance types that cannot be read are an error; an account fact (zone names,
/// placement groups, security groups) that cannot be read is said on stderr, and the
/// checks that need it skip it.
pub async fn one_shot_table(
    source: &CapabilitySource,
    loads: impl IntoIterator<Item = Load>,
    home_region: &str,
) -> Result<CapabilityTable> {
    Ok(match source {
        CapabilitySource::Embedded => capabilities::snapshot::embedded_table(),
        CapabilitySource::File(path) => SnapshotFile::read(path)?.to_table(SourceKind::File),
        CapabilitySource::Ec2 => {
            let sdk = ec2::sdk_config(home_region).await;
            let store = CapabilityStore::fixed(CapabilityTable::default());
            for wanted in loads {
                let loaded = capabilities::load(&store, &sdk, &wanted, Duration::ZERO).await;
                match (loaded, &wanted) {
                    (Ok(()), _) => {}
                    (Err(err), Load::InstanceTypes(region)) => {
                        return Err(err).with_context(|| format!("reading {region} from EC2"));
                    }
                    (Err(err), _) => eprintln!(
                        "note: {} of {} not read from EC2, so not checked: {err}",
                        wanted.kind().replace('_', " "),
                        wanted.region()
                    ),
                }
            }
            CapabilityTable::clone(&store.current())
        }
    })
}

/// The error and its causes, leaving out a cause its message already quotes.
pub fn error_chain(err: &anyhow::Error) -> String {
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
