//! `machine-efa-webhook check`: the webhook's rules applied to manifests on disk, for
//! CI before a merge. Every Machine, MachineSet, AWSMachine and AWSMachineTemplate
//! goes through the same core as a CREATE does: `/mutate`, then `/validate` on the
//! mutated object, as the API server would call them.

use crate::core::object::CLUSTER_API_AWS_GROUP;
use crate::core::{self, CapabilityLookup, FieldError, Operation, Policy, TargetKind};
use crate::manifest::{self, Document, Edit, ReadError};
use json_patch::PatchOperation;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How `-` is named in reports.
pub const STDIN_NAME: &str = "<stdin>";

/// One input text and what it was read from.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// An input that could not be read or parsed.
#[derive(Debug, Clone, Serialize)]
pub struct Unreadable {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub error: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.file, self.error)
            }
            _ => write!(f, "{}: {}", self.file, self.error),
        }
    }
}

/// Files named by `-f`: a file, every `.yaml`, `.yml` and `.json` file under a
/// directory (recursively, in name order), or `-` for stdin.
pub fn read_inputs(paths: &[PathBuf]) -> (Vec<Source>, Vec<Unreadable>) {
    let mut sources = Vec::new();
    let mut unreadable = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                Ok(_) => sources.push(Source {
                    name: STDIN_NAME.to_owned(),
                    text,
                }),
                Err(e) => unreadable.push(io_error(STDIN_NAME, &e)),
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = collect_files(path, true, &mut files) {
            unreadable.push(io_error(&path.display().to_string(), &e));
        }
        for file in files {
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => sources.push(Source { name, text }),
                Err(e) => unreadable.push(io_error(&name, &e)),
            }
        }
    }
    (sources, unreadable)
}

fn io_error(file: &str, error: &std::io::Error) -> Unreadable {
    Unreadable {
        file: file.to_owned(),
        line: None,
        column: None,
        error: error.to_string(),
    }
}

fn collect_files(path: &Path, named: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !std::fs::metadata(path)?.is_dir() {
        let manifest = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
        // A file named on the command line is read whatever its name.
        if named || manifest {
            out.push(path.to_owned());
        }
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        collect_files(&entry, false, out)?;
    }
    Ok(())
}

/// A source read into documents.
pub struct Parsed {
    pub source: Source,
    pub documents: Result<Vec<Document>, ReadError>,
}

pub fn parse(sources: Vec<Source>) -> Vec<Parsed> {
    sources
        .into_iter()
        .map(|source| {
            let documents = manifest::read(&source.text);
            Parsed { source, documents }
        })
        .collect()
}

/// An object found in a document: the document itself, or an item of a `List`.
struct Found<'a> {
    document: usize,
    /// JSON pointer of the object inside its document.
    pointer: String,
    value: &'a Value,
}

fn objects(documents: &[Document]) -> Vec<Found<'_>> {
    let mut found = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let is_list = document.value["kind"]
            .as_str()
            .is_some_and(|k| k.ends_with("List"));
        match document.value.get("items").and_then(Value::as_array) {
            Some(items) if is_list => {
                found.extend(items.iter().enumerate().map(|(i, value)| Found {
                    document: index + 1,
                    pointer: format!("/items/{i}"),
                    value,
                }))
            }
            _ => found.push(Found {
                document: index + 1,
                pointer: String::new(),
                value: &document.value,
            }),
        }
    }
    found
}

fn target_kind(object: &Value) -> Option<TargetKind> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    TargetKind::from_gvk(group, version, object.get("kind")?.as_str()?)
}

/// Regions the objects name (`placement.region`), for loading just those from EC2.
pub fn regions_named(parsed: &[Parsed]) -> BTreeSet<String> {
    let mut regions = BTreeSet::new();
    for documents in parsed.iter().filter_map(|p| p.documents.as_ref().ok()) {
        for found in objects(documents) {
            if let Some(kind) = target_kind(found.value)
                && let Ok(Some(config)) = core::object::find_provider_config(found.value, kind)
                && let Some(region) = config.region.and_then(Value::as_str)
            {
                regions.insert(region.to_owned());
            }
        }
    }
    regions.extend(cluster_regions(parsed).into_iter().map(|c| c.region));
    regions
}

/// An AWSCluster in the input: Cluster API objects of its cluster take its region.
struct ClusterRegion {
    namespace: Option<String>,
    cluster: String,
    region: String,
}

fn cluster_regions(parsed: &[Parsed]) -> Vec<ClusterRegion> {
    let mut found = Vec::new();
    for documents in parsed.iter().filter_map(|p| p.documents.as_ref().ok()) {
        for object in objects(documents).into_iter().map(|f| f.value) {
            let is_aws_cluster = object["kind"] == "AWSCluster"
                && object["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with(&format!("{CLUSTER_API_AWS_GROUP}/")));
            let region = object.pointer("/spec/region").and_then(Value::as_str);
            let cluster = core::object::cluster_name(object)
                .or_else(|| object.pointer("/metadata/name").and_then(Value::as_str));
            if let (true, Some(region), Some(cluster)) = (is_aws_cluster, region, cluster) {
                found.push(ClusterRegion {
                    namespace: core::object::namespace(object).map(str::to_owned),
                    cluster: cluster.to_owned(),
                    region: region.to_owned(),
                });
            }
        }
    }
    found
}

/// What was decided for one object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReport {
    pub file: String,
    /// 1-based index of the document in its file.
    pub document: usize,
    /// JSON pointer of the object in its document: empty, or `/items/N` in a List.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pointer: String,
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
    pub allowed: bool,
    pub errors: Vec<ErrorReport>,
    pub warnings: Vec<String>,
    /// What `/mutate` would patch (RFC 6902), relative to the object.
    pub patch: json_patch::Patch,
}

/// A field error as `kubectl` shows it, and in parts for tools.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub field: String,
    /// Kubernetes' cause type: `FieldValueInvalid`, `FieldValueNotSupported`, ...
    pub reason: &'static str,
    pub message: String,
}

impl From<&FieldError> for ErrorReport {
    fn from(error: &FieldError) -> Self {
        ErrorReport {
            field: error.path.to_string(),
            reason: error.cause_reason(),
            message: error.to_string(),
        }
    }
}

impl ObjectReport {
    /// `FILE:DOC Kind/name`, as every output line starts.
    pub fn label(&self) -> String {
        format!(
            "{}:{} {}/{}",
            self.file, self.document, self.kind, self.name
        )
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub files: usize,
    pub documents: usize,
    pub objects: usize,
    pub allowed: usize,
    pub denied: usize,
    pub patched: usize,
    pub warnings: usize,
    pub unreadable: usize,
}

/// Everything `check` found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub objects: Vec<ObjectReport>,
    pub unreadable: Vec<Unreadable>,
    /// With `--fix`: the inputs with the patches applied, one stream.
    #[serde(skip)]
    pub fixed: String,
    /// With `--fix`: inputs that could not be edited in place and were re-written.
    #[serde(skip)]
    pub rewritten: Vec<String>,
}

/// Exit codes: clean (warnings allowed), a denial, unreadable input.
pub const EXIT_CLEAN: i32 = 0;
pub const EXIT_DENIED: i32 = 1;
pub const EXIT_UNREADABLE: i32 = 2;

impl Report {
    pub fn exit_code(&self) -> i32 {
        if !self.unreadable.is_empty() {
            EXIT_UNREADABLE
        } else if self.summary.denied > 0 {
            EXIT_DENIED
        } else {
            EXIT_CLEAN
        }
    }

    /// kubectl-like lines: one per error, `Warning:` per warning, then a summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for unreadable in &self.unreadable {
            let _ = writeln!(out, "error: {unreadable}");
        }
        for object in &self.objects {
            let label = object.label();
            for error in &object.errors {
                let _ = writeln!(out, "{label}: {}", error.message);
            }
            for warning in &object.warnings {
                let _ = writeln!(out, "Warning: {label}: {warning}");
            }
        }
        let s = &self.summary;
        let _ = write!(
            out,
            "checked {} {} in {} {} ({} {}): {} denied, {} allowed, {} {}",
            s.objects,
            plural(s.objects, "object", "objects"),
            s.files,
            plural(s.files, "file", "files"),
            s.documents,
            plural(s.documents, "document", "documents"),
            s.denied,
            s.allowed,
            s.warnings,
            plural(s.warnings, "warning", "warnings"),
        );
        if s.unreadable > 0 {
            let _ = write!(out, "; {} unreadable", s.unreadable);
        }
        out.push('\n');
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises") + "\n"
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
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
            let object = decide(&source.name, &found, kind, &clusters, policy, capabilities);
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
                    .and_then(|v| manifest::set_string(&source.text, document, &pointer, v))
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
            manifest::apply(&source.text, edits)
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

fn decide(
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
    let (group, version, kind_name) = kind.gvk();
    let request = |object| core::Request {
        group,
        version,
        kind: kind_name,
        operation: Operation::Create,
        object: Some(object),
        old_object: None,
        cluster_region,
    };
    let mutated = core::mutate(&request(object), policy);
    let mut after = object.clone();
    if mutated.allowed() {
        json_patch::patch(&mut after, &mutated.patch)
            .expect("the core's patch applies to its object");
    }
    let validated = core::validate(&request(&after), policy, capabilities);
    let errors: Vec<ErrorReport> = mutated
        .errors
        .iter()
        .chain(&validated.errors)
        .map(ErrorReport::from)
        .collect();
    let name = core::object::display_name(object).unwrap_or("(unnamed)");
    ObjectReport {
        file: file.to_owned(),
        document: found.document,
        pointer: found.pointer.clone(),
        api_version: object["apiVersion"].as_str().unwrap_or_default().to_owned(),
        kind: kind_name.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.to_owned(),
        allowed: errors.is_empty(),
        errors,
        warnings: mutated
            .warnings
            .into_iter()
            .chain(validated.warnings)
            .collect(),
        patch: mutated.patch,
    }
}
