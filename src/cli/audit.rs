//! `machine-efa-webhook audit`: the objects already in the cluster judged as `check`
//! judges files, printed like `check`'s report; `--report` also writes PolicyReports.

use super::check::CheckOutput;
use super::check::report::{EXIT_CLEAN, EXIT_DENIED, EXIT_UNREADABLE, ErrorReport, plural};
use super::{LogFormat, RuleArgs, TableArgs, error_chain, init_logging, one_shot_region};
use crate::audit::{self, Audit, AuditTable, Audited, Auditor, Keep, policy_report};
use crate::capabilities::{CapabilitySource, ec2, snapshot};
use crate::cluster;
use crate::core::{SourceKind, TargetKind};
use anyhow::Result;
use serde::Serialize;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(clap::Args)]
pub struct AuditArgs {
    /// Audit this namespace only [default: all namespaces].
    #[arg(short = 'n', long, env = "EFA_WEBHOOK_AUDIT_NAMESPACE")]
    pub namespace: Option<String>,
    /// Report format.
    #[arg(
        short = 'o',
        long,
        env = "EFA_WEBHOOK_AUDIT_OUTPUT",
        value_enum,
        default_value = "text"
    )]
    pub output: CheckOutput,
    /// Also write one wgpolicyk8s.io/v1alpha2 PolicyReport per namespace with findings, and delete ours where none are left; findings then exit 0 (they are in the reports), for a CronJob.
    #[arg(long, env = "EFA_WEBHOOK_AUDIT_REPORT")]
    pub report: bool,
    /// Objects asked for per list request.
    #[arg(long, env = "EFA_WEBHOOK_AUDIT_PAGE_SIZE", default_value_t = audit::PAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..=5000))]
    pub page_size: u32,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub table: TableArgs,
}

/// Audits the cluster; exit 0 clean (or findings reported with `--report`), 1 findings,
/// 2 something could not be read (or a report not written).
pub async fn run(args: AuditArgs) -> Result<ExitCode> {
    // Only what went wrong on the way (an AWSCluster or EC2 data not read) is logged.
    let _flush_logs_at_exit = init_logging(LogFormat::Text, "warn");
    let region = one_shot_region(&args.table.region).await;
    let client = match cluster::client().await {
        Ok(client) => client,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(ExitCode::from(EXIT_UNREADABLE));
        }
    };
    let mut table = match &args.table.capabilities {
        CapabilitySource::Embedded => AuditTable::fixed(snapshot::embedded_table()),
        CapabilitySource::File(path) => match snapshot::SnapshotFile::read(path) {
            Ok(file) => AuditTable::fixed(file.to_table(SourceKind::File)),
            Err(err) => {
                eprintln!("error: the capability table: {}", error_chain(&err.into()));
                return Ok(ExitCode::from(EXIT_UNREADABLE));
            }
        },
        CapabilitySource::Ec2 => AuditTable::ec2(ec2::sdk_config(&region).await),
    };
    let auditor = Auditor {
        client: client.clone(),
        namespace: args.namespace.clone(),
        policy: args.rules.policy(region),
        page_size: args.page_size,
    };
    let audit = match args.output {
        // Each object's lines as it is judged; only what the reports need is kept.
        CheckOutput::Text => {
            let keep = if args.report {
                Keep::Findings
            } else {
                Keep::Nothing
            };
            let mut stdout = std::io::stdout().lock();
            let audit = auditor
                .run(&mut table, keep, |audited| {
                    let _ = stdout.write_all(object_lines(audited).as_bytes());
                })
                .await;
            print!("{}", summary_text(&audit));
            audit
        }
        CheckOutput::Json => {
            let audit = auditor.run(&mut table, Keep::Everything, |_| {}).await;
            print!("{}", to_json(&audit));
            audit
        }
    };
    let mut code = if !audit.is_complete() {
        EXIT_UNREADABLE
    } else if audit.findings > 0 && !args.report {
        EXIT_DENIED
    } else {
        EXIT_CLEAN
    };
    if args.report {
        match policy_report::write(
            &client,
            args.namespace.as_deref(),
            &audit,
            SystemTime::now(),
        )
        .await
        {
            Ok(written) => eprintln!(
                "policy reports: {} created, {} updated, {} deleted",
                written.created.len(),
                written.updated.len(),
                written.deleted.len()
            ),
            Err(err) => {
                eprintln!("error: {}", error_chain(&err.into()));
                code = EXIT_UNREADABLE;
            }
        }
    }
    Ok(ExitCode::from(code))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    objects: usize,
    /// Objects a CREATE would be denied for.
    with_findings: usize,
    findings: usize,
    warnings: usize,
    unreadable: usize,
    /// Objects judged per kind.
    by_kind: std::collections::BTreeMap<&'static str, usize>,
}

impl Summary {
    fn of(audit: &Audit) -> Self {
        Summary {
            objects: audit.audited.iter().sum(),
            with_findings: audit.with_findings,
            findings: audit.findings,
            warnings: audit.warnings,
            unreadable: audit.unreadable.len(),
            by_kind: TargetKind::ALL
                .into_iter()
                .map(TargetKind::as_str)
                .zip(audit.audited)
                .collect(),
        }
    }
}

/// `namespace/Kind/name: <field error>` per finding, `Warning:` per warning.
fn object_lines(audited: &Audited) -> String {
    let mut out = String::new();
    let label = audited.object.label();
    for error in &audited.errors {
        let _ = writeln!(out, "{label}: {error}");
    }
    for warning in &audited.warnings {
        let _ = writeln!(out, "Warning: {label}: {warning}");
    }
    out
}

/// What could not be read, then `audited N objects (…): F with findings, W warnings`.
fn summary_text(audit: &Audit) -> String {
    let s = Summary::of(audit);
    let mut out = String::new();
    for unreadable in &audit.unreadable {
        let _ = writeln!(out, "error: {}", unreadable.error);
    }
    let kinds: Vec<String> = s
        .by_kind
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let _ = write!(
        out,
        "audited {} {}{}: {} with findings, {} {}",
        s.objects,
        plural(s.objects, "object", "objects"),
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        },
        s.with_findings,
        s.warnings,
        plural(s.warnings, "warning", "warnings"),
    );
    if s.unreadable > 0 {
        let _ = write!(out, "; {} unreadable", s.unreadable);
    }
    out.push('\n');
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectJson<'a> {
    api_version: &'a str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    uid: &'a str,
    errors: Vec<FindingJson>,
    warnings: &'a [String],
}

#[derive(Serialize)]
struct FindingJson {
    rule: &'static str,
    #[serde(flatten)]
    error: ErrorReport,
}

#[derive(Serialize)]
struct UnreadableJson<'a> {
    resource: String,
    error: &'a str,
}

fn to_json(audit: &Audit) -> String {
    let objects: Vec<ObjectJson> = audit
        .objects
        .iter()
        .map(|audited| ObjectJson {
            api_version: &audited.object.api_version,
            kind: audited.object.kind.as_str(),
            namespace: &audited.object.namespace,
            name: &audited.object.name,
            uid: &audited.object.uid,
            errors: audited
                .errors
                .iter()
                .map(|error| FindingJson {
                    rule: error.rule(),
                    error: ErrorReport::from(error),
                })
                .collect(),
            warnings: &audited.warnings,
        })
        .collect();
    let unreadable: Vec<UnreadableJson> = audit
        .unreadable
        .iter()
        .map(|u| UnreadableJson {
            resource: audit::resource_name(u.kind),
            error: &u.error,
        })
        .collect();
    let not_served: Vec<String> = audit
        .not_served
        .iter()
        .map(|k| audit::resource_name(*k))
        .collect();
    let body = serde_json::json!({
        "summary": Summary::of(audit),
        "objects": objects,
        "unreadable": unreadable,
        "notServed": not_served,
    });
    serde_json::to_string_pretty(&body).expect("always serialises") + "\n"
}
