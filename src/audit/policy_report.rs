//! `audit --report`: one `wgpolicyk8s.io/v1alpha2` PolicyReport per namespace with
//! findings, the way Kyverno and Kubewarden publish theirs, so `kubectl get
//! policyreports -A` and the tools that read them show ours beside theirs. Only reports
//! labelled as ours are touched: created, replaced, and deleted once their namespace
//! has no findings left.

use super::{Audit, ObjectRef};
use crate::core::{FieldError, TargetKind};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Each report's name, in its namespace, and the `source` of its results.
pub const REPORT_NAME: &str = "machine-efa-webhook";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(
        "the PolicyReport CRD (policyreports.wgpolicyk8s.io, v1alpha2) is not installed: install it (kubernetes-sigs/wg-policy-prototypes, or with Kyverno or Kubewarden), or run audit without --report"
    )]
    CrdMissing,
    #[error("{action} PolicyReport {namespace}/{REPORT_NAME}: {source}")]
    Write {
        action: &'static str,
        namespace: String,
        #[source]
        source: kube::Error,
    },
    #[error("listing PolicyReports: {0}")]
    List(#[source] kube::Error),
}

/// What writing the reports did, by namespace.
#[derive(Debug, Default, PartialEq)]
pub struct Written {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
}

fn policy_reports() -> ApiResource {
    ApiResource {
        group: "wgpolicyk8s.io".into(),
        version: "v1alpha2".into(),
        api_version: "wgpolicyk8s.io/v1alpha2".into(),
        kind: "PolicyReport".into(),
        plural: "policyreports".into(),
    }
}

/// Writes the reports for `audit`, read in `namespace` (or all). A report whose
/// namespace has no findings left is deleted only when the audit read every kind: an
/// unreadable list is no proof that a finding cleared.
pub async fn write(
    client: &kube::Client,
    namespace: Option<&str>,
    audit: &Audit,
    now: SystemTime,
) -> Result<Written, ReportError> {
    let resource = policy_reports();
    let all: Api<DynamicObject> = match namespace {
        Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
        None => Api::all_with(client.clone(), &resource),
    };
    let ours = ListParams::default().labels(&format!("{MANAGED_BY}={REPORT_NAME}"));
    let existing = all.list(&ours).await.map_err(|err| match &err {
        kube::Error::Api(status) if status.code == 404 => ReportError::CrdMissing,
        _ => ReportError::List(err),
    })?;
    let mut existing: BTreeMap<String, DynamicObject> = existing
        .items
        .into_iter()
        .filter(|report| report.metadata.name.as_deref() == Some(REPORT_NAME))
        .filter_map(|report| Some((report.metadata.namespace.clone()?, report)))
        .collect();

    let mut by_namespace: BTreeMap<&str, Vec<(&ObjectRef, &FieldError)>> = BTreeMap::new();
    for (object, error) in audit.kept_findings() {
        by_namespace
            .entry(&object.namespace)
            .or_default()
            .push((object, error));
    }
    let mut written = Written::default();
    for (ns, findings) in by_namespace {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
        let clean = audit.audited_in.get(ns).copied().unwrap_or_default();
        let objects_with_findings = {
            let mut objects: Vec<&ObjectRef> = findings.iter().map(|(object, _)| *object).collect();
            objects.dedup();
            objects.len()
        };
        let mut report = report(
            ns,
            &findings,
            clean.saturating_sub(objects_with_findings),
            now,
        );
        let write_error = |action| {
            let ns = ns.to_owned();
            move |source| ReportError::Write {
                action,
                namespace: ns,
                source,
            }
        };
        match existing.remove(ns) {
            Some(old) => {
                keep_unread_results(&mut report, &old, audit);
                report.metadata.resource_version = old.metadata.resource_version;
                api.replace(REPORT_NAME, &PostParams::default(), &report)
                    .await
                    .map_err(write_error("replacing"))?;
                written.updated.push(ns.to_owned());
            }
            None => {
                api.create(&PostParams::default(), &report)
                    .await
                    .map_err(write_error("creating"))?;
                written.created.push(ns.to_owned());
            }
        }
    }
    if audit.is_complete() {
        for ns in existing.into_keys() {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
            api.delete(REPORT_NAME, &DeleteParams::default())
                .await
                .map_err(|source| ReportError::Write {
                    action: "deleting",
                    namespace: ns.clone(),
                    source,
                })?;
            written.deleted.push(ns);
        }
    }
    Ok(written)
}

/// Carries into `report` the results of `old` about kinds `audit` could not read: as
/// for deleting, an unreadable list is no proof that those findings cleared.
fn keep_unread_results(report: &mut DynamicObject, old: &DynamicObject, audit: &Audit) {
    let unread = |result: &&Value| {
        let kind = result.pointer("/resources/0/kind").and_then(Value::as_str);
        TargetKind::ALL
            .into_iter()
            .any(|k| kind == Some(k.as_str()) && !audit.kind_was_read(k))
    };
    let kept: Vec<Value> = match old.data["results"].as_array() {
        Some(results) => results.iter().filter(unread).cloned().collect(),
        None => return,
    };
    if let Some(results) = report.data["results"].as_array_mut()
        && !kept.is_empty()
    {
        results.extend(kept);
        report.data["summary"]["fail"] = results.len().into();
    }
}

/// One namespace's report: a `fail` result per finding; `pass` counts its objects
/// without one.
fn report(
    namespace: &str,
    findings: &[(&ObjectRef, &FieldError)],
    passed: usize,
    now: SystemTime,
) -> DynamicObject {
    let seconds = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let results: Vec<Value> = findings
        .iter()
        .map(|(object, error)| {
            json!({
                "source": REPORT_NAME,
                "policy": REPORT_NAME,
                "rule": error.rule(),
                "result": "fail",
                "severity": "high",
                "category": "EC2 launch",
                "scored": true,
                "message": error.summary(),
                "properties": {"field": error.path.to_string()},
                "timestamp": {"seconds": seconds, "nanos": 0},
                "resources": [{
                    "apiVersion": object.api_version,
                    "kind": object.kind.as_str(),
                    "namespace": object.namespace,
                    "name": object.name,
                    "uid": object.uid,
                }],
            })
        })
        .collect();
    let body = json!({
        "apiVersion": "wgpolicyk8s.io/v1alpha2",
        "kind": "PolicyReport",
        "metadata": {
            "name": REPORT_NAME,
            "namespace": namespace,
            "labels": {MANAGED_BY: REPORT_NAME},
        },
        "summary": {"pass": passed, "fail": results.len(), "warn": 0, "error": 0, "skip": 0},
        "results": results,
    });
    serde_json::from_value(body).expect("a PolicyReport is a DynamicObject")
}
