//! `check`'s inputs: files, directories and stdin read into documents, and the objects
//! (and AWSClusters) found in them.

use super::yaml::{self, Document, ReadError};
use crate::capabilities::{Load, loads_for};
use crate::core::object::CLUSTER_API_AWS_GROUP;
use crate::core::{self, TargetKind};
use serde::Serialize;
use serde_json::Value;
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
            let documents = yaml::read(&source.text);
            Parsed { source, documents }
        })
        .collect()
}

/// An object found in a document: the document itself, or an item of a `List`.
pub(super) struct Found<'a> {
    pub(super) document: usize,
    /// JSON pointer of the object inside its document.
    pub(super) pointer: String,
    pub(super) value: &'a Value,
}

pub(super) fn objects(documents: &[Document]) -> Vec<Found<'_>> {
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

pub(super) fn target_kind(object: &Value) -> Option<TargetKind> {
    let api_version = object.get("apiVersion")?.as_str()?;
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    TargetKind::from_gvk(group, version, object.get("kind")?.as_str()?)
}

/// What `--capabilities ec2` reads for the input: for every region an object names (or
/// `default_region`, for those that name none), its instance types, zone names and
/// placement groups; and each security-group reference an object names there.
pub fn ec2_loads(parsed: &[Parsed], default_region: &str) -> Vec<Load> {
    let mut loads = Vec::new();
    let mut add = |load: Load| {
        if !loads.contains(&load) {
            loads.push(load);
        }
    };
    for documents in parsed.iter().filter_map(|p| p.documents.as_ref().ok()) {
        for found in objects(documents) {
            if let Some(kind) = target_kind(found.value) {
                loads_for(found.value, kind, default_region)
                    .into_iter()
                    .for_each(&mut add);
            }
        }
    }
    let regions = std::iter::once(default_region.to_owned())
        .chain(cluster_regions(parsed).into_iter().map(|c| c.region));
    for region in regions {
        add(Load::InstanceTypes(region.clone()));
        add(Load::ZoneNames(region.clone()));
        add(Load::PlacementGroups(region));
    }
    loads
}

/// An AWSCluster in the input: Cluster API objects of its cluster take its region.
pub(super) struct ClusterRegion {
    pub(super) namespace: Option<String>,
    pub(super) cluster: String,
    pub(super) region: String,
}

pub(super) fn cluster_regions(parsed: &[Parsed]) -> Vec<ClusterRegion> {
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
