//! What `check` reports: per object its errors, warnings and patch, a summary, and the
//! exit code; as kubectl-like text or as JSON.

use super::inputs::Unreadable;
use crate::core::FieldError;
use serde::Serialize;
use std::fmt::Write as _;

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
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_DENIED: u8 = 1;
pub const EXIT_UNREADABLE: u8 = 2;

impl Report {
    pub fn exit_code(&self) -> u8 {
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

pub fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
