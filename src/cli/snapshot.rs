//! `machine-efa-webhook snapshot`: the capability table read from EC2, written as the
//! snapshot file that `--capabilities PATH` serves and `make snapshot` embeds.

use super::{LogFormat, RegionArg, init_logging, one_shot_region};
use crate::capabilities::{self, CapabilityStore, ec2, snapshot::SnapshotFile};
use crate::core::CapabilityTable;
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// Regions to read, comma-separated, or `all` for every region DescribeRegions lists.
    #[arg(
        long,
        env = "EFA_WEBHOOK_REGIONS",
        value_delimiter = ',',
        required = true
    )]
    pub regions: Vec<String>,
    /// The snapshot file to write.
    #[arg(long, env = "EFA_WEBHOOK_SNAPSHOT_OUT")]
    pub out: PathBuf,
    /// For `--regions all`: the region DescribeRegions is asked in.
    #[command(flatten)]
    pub region: RegionArg,
    /// What to record as the data's source in the file [default: the EC2 endpoint].
    #[arg(long, env = "EFA_WEBHOOK_SNAPSHOT_SOURCE")]
    pub source: Option<String>,
}

/// Reads every region asked for from EC2, then writes the file whole.
pub async fn run(args: SnapshotArgs) -> Result<ExitCode> {
    let _flush_logs_at_exit = init_logging(LogFormat::Text, "info");
    let home = one_shot_region(&args.region).await;
    let sdk = ec2::sdk_config(&home).await;
    let regions = if args.regions == ["all"] {
        ec2::list_regions(&sdk, &home).await?
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
    Ok(ExitCode::SUCCESS)
}
