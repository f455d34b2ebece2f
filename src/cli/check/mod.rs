//! `machine-efa-webhook check`: the webhook's rules applied to manifests on disk, for
//! CI before a merge. Every Machine, MachineSet, AWSMachine and AWSMachineTemplate
//! goes through the same core as a CREATE does: `/mutate`, then `/validate` on the
//! mutated object, as the API server would call them.

mod edit;
pub mod inputs;
pub mod report;
mod yaml;

use super::{RuleArgs, TableArgs, error_chain, one_shot_region, one_shot_table};
use crate::core::{self, CapabilityLookup, Policy, TargetKind};
use anyhow::Result;
use clap::ValueEnum;
use edit::Edit;
use inputs::{ClusterRegion, Found, Parsed, Unreadable, cluster_regions, objects, target_kind};
use json_patch::PatchOperation;
use report::{ErrorReport, ObjectReport, Report};
use serde_json::Value;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
pub enum CheckOutput {
    Text,
    Json,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// A YAML or JSON file (multi-document, List), a directory (read recursively), or `-` for stdin; repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        env = "EFA_WEBHOOK_CHECK_FILES",
        value_delimiter = ',',
        required = true
    )]
    pub files: Vec<PathBuf>,
    /// Report format.
    #[arg(
        short = 'o',
        long,
        env = "EFA_WEBHOOK_CHECK_OUTPUT",
        value_enum,
        default_value = "text"
    )]
    pub output: CheckOutput,
    /// Write the documents to stdout with defaults and canonical spellings applied (reports go to stderr).
    #[arg(long, env = "EFA_WEBHOOK_CHECK_FIX")]
    pub fix: bool,
    #[command(flatten)]
    pub rules: RuleArgs,
    #[command(flatten)]
    pub table: TableArgs,
}

/// Checks the files; the exit code says whether anything was denied or unreadable.
pub async fn run(args: CheckArgs) -> Result<ExitCode> {
    let region = one_shot_region(&args.table.region).await;
    let (sources, unreadable) = inputs::read_inputs(&args.files);
    let parsed = inputs::parse(sources);
    let loads = inputs::ec2_loads(&parsed, &region);
    let table = match one_shot_table(&args.table.capabilities, loads, &region).await {
        Ok(table) => table,
        Err(err) => {
            eprintln!("error: the capability table: {}", error_chain(&err));
            return Ok(ExitCode::from(report::EXIT_UNREADABLE));
        }
    };
    let policy = args.rules.policy(region);
    let report = check(&parsed, unreadable, &policy, &table);
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
    Ok(ExitCode::from(report.exit_code()))
}

/// Runs every object of `parsed` through the core as a CREATE.
pub fn check(
    parsed: &[Parsed],
    mut unreadable: Vec<Unreadable>,
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
) -> Report {
    let clusters = cluster_regions(parsed);
    let mut report = Report::default();
    let mut fixed_sources = Vec::new();
    for parsed_source in parsed {
        let source = &parsed_source.source;
        let documents = match &parsed_source.documents {
            Ok(documents) => documents,
            Err(error) => {
                unreadable.push(Unreadable {
                    file: source.name.clone(),
                    line: Some(error.line),
                    column: Some(error.column),
                    error: error.message.clone(),
                });
                // Passed through untouched: --fix never loses input.
                fixed_sources.push(source.text.clone());
                continue;
            }
        };
        report.summary.files += 1;
        report.summary.documents += documents.len();
        let mut edits: Vec<Edit> = Vec::new();
        let mut in_place = true;
        let mut patched_documents: Vec<Value> = documents.iter().map(|d| d.value.clone()).collect();
        for found in objects(documents) {
            let Some(kind) = target_kind(found.value) else {
                continue;
            };
            let object = check_object(&source.name, &found, kind, &clusters, policy, capabilities);
            for op in &object.patch.0 {
                let (path, value) = match op {
                    PatchOperation::Add(add) => (&add.path, &add.value),
                    PatchOperation::Replace(replace) => (&replace.path, &replace.value),
                    _ => continue,
                };
                let pointer = format!("{}{path}", found.pointer);
                let document = &documents[found.document - 1];
                match value
                    .as_str()
                    .and_then(|v| edit::set_string(&source.text, document, &pointer, v))
                {
                    Some(edit) => edits.push(edit),
                    None => in_place = false,
                }
                if let Some(slot) =
                    patched_documents[found.document - 1].pointer_mut(&found.pointer)
                {
                    let _ = json_patch::patch(slot, std::slice::from_ref(op));
                }
            }
            report.objects.push(object);
        }
        fixed_sources.push(if in_place {
            edit::apply(&source.text, edits)
        } else {
            report.rewritten.push(source.name.clone());
            // JSON is YAML: each document written whole, comments lost.
            patched_documents
                .iter()
                .map(|d| serde_json::to_string_pretty(d).expect("always serialises") + "\n")
                .collect::<Vec<_>>()
                .join("---\n")
        });
    }
    report.fixed = join_streams(&fixed_sources);
    let s = &mut report.summary;
    s.objects = report.objects.len();
    s.denied = report.objects.iter().filter(|o| !o.allowed).count();
    s.allowed = s.objects - s.denied;
    s.patched = report
        .objects
        .iter()
        .filter(|o| !o.patch.0.is_empty())
        .count();
    s.warnings = report.objects.iter().map(|o| o.warnings.len()).sum();
    s.unreadable = unreadable.len();
    report.unreadable = unreadable;
    report
}

/// Several YAML streams as one, each file's documents kept apart.
fn join_streams(texts: &[String]) -> String {
    let mut out = String::new();
    for text in texts {
        if !out.is_empty() {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            if !text.starts_with("---") {
                out.push_str("---\n");
            }
        }
        out.push_str(text);
    }
    out
}

fn check_object(
    file: &str,
    found: &Found<'_>,
    kind: TargetKind,
    clusters: &[ClusterRegion],
    policy: &Policy,
    capabilities: &dyn CapabilityLookup,
) -> ObjectReport {
    let object = found.value;
    let namespace = core::object::namespace(object);
    let cluster_region = core::object::cluster_name(object).and_then(|cluster| {
        clusters
            .iter()
            .find(|c| {
                c.cluster == cluster
                    && (c.namespace.is_none()
                        || namespace.is_none()
                        || c.namespace.as_deref() == namespace)
            })
            .map(|c| c.region.as_str())
    });
    let request = core::Request::create(kind, object, cluster_region);
    let decision = core::check_as_create(&request, policy, capabilities);
    let errors: Vec<ErrorReport> = decision.errors.iter().map(ErrorReport::from).collect();
    let name = core::object::display_name(object).unwrap_or("(unnamed)");
    ObjectReport {
        file: file.to_owned(),
        document: found.document,
        pointer: found.pointer.clone(),
        api_version: object["apiVersion"].as_str().unwrap_or_default().to_owned(),
        kind: kind.as_str().to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
        allowed: errors.is_empty(),
        errors,
        warnings: decision.warnings,
        patch: decision.patch,
    }
}
