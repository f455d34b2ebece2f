#![forbid(unsafe_code)]
//! The binary: parses the command line and runs the command it names (`cli`).

use clap::Parser;
use machine_efa_webhook::cli::{self, Cli, Command};
use std::process::ExitCode;

/// mimalloc: a review allocates a few hundred small blocks, and under load the system
/// allocator cost a sixth of the throughput (`bench/changes.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(cli::serve::run(*args)),
        Command::Snapshot(args) => runtime.block_on(cli::snapshot::run(args)),
        Command::Certs(args) => cli::certs::run(args),
        Command::Check(args) => runtime.block_on(cli::check::run(args)),
        Command::Audit(args) => runtime.block_on(cli::audit::run(*args)),
        Command::InstanceTypes(args) => runtime.block_on(cli::instance_types::run(args)),
    }
}
