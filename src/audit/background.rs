//! `serve --audit-interval`: the audit in the background, read-only, so every replica
//! runs its own without coordination. Each complete run sets `audit_findings{kind,
//! rule}` and `audit_last_run_timestamp_seconds`, and logs a finding once when it
//! appears and once when it clears (the object named, never the whole object).
//! Admissions never wait on it: it runs on a thread of its own and reads the table
//! through the store as they do.

use super::{Audit, AuditTable, Auditor, Keep, ObjectRef, PAGE_SIZE};
use crate::core::Policy;
use crate::metrics::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A finding as the log tracks it: the object and the field. The message may change
/// (a new table names other alternatives) without the finding being new.
type FindingKey = (ObjectRef, String);

/// Runs the audit now and then every `interval`, for the life of the process, on a
/// thread of its own with its own runtime: parsing a page of 500 objects takes tens of
/// milliseconds, which on the admission runtime's workers would be tens of
/// milliseconds added to the reviews queued behind it.
pub fn spawn(
    kube_config: kube::Config,
    policy: Policy,
    mut table: AuditTable,
    interval: Duration,
    metrics: Arc<Metrics>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("audit".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(err) => {
                    tracing::error!(error = %err, "audit: no runtime, so no audit");
                    return;
                }
            };
            runtime.block_on(async move {
                let client = match kube::Client::try_from(kube_config) {
                    Ok(client) => client,
                    Err(err) => {
                        tracing::error!(error = %err, "audit: no kube client, so no audit");
                        return;
                    }
                };
                let auditor = Auditor {
                    client,
                    namespace: None,
                    policy,
                    page_size: PAGE_SIZE,
                };
                let mut known: HashMap<FindingKey, String> = HashMap::new();
                let mut ticks = tokio::time::interval(interval);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let audit = auditor.run(&mut table, Keep::Findings, |_| {}).await;
                    for unreadable in &audit.unreadable {
                        tracing::warn!(kind = unreadable.kind.as_str(), error = %unreadable.error, "audit: cannot read");
                    }
                    log_changes(&mut known, &audit);
                    metrics.observe_audit(&audit, SystemTime::now());
                }
            });
        })
}

/// Logs what appeared and what cleared since the last run, and remembers this one.
/// A kind that could not be read keeps what was known of it.
fn log_changes(known: &mut HashMap<FindingKey, String>, audit: &Audit) {
    let mut now: HashMap<FindingKey, String> = HashMap::new();
    for (object, error) in audit.kept_findings() {
        let key = (object.clone(), error.path.to_string());
        if !known.contains_key(&key) {
            tracing::info!(
                kind = object.kind.as_str(),
                namespace = object.namespace,
                name = object.name,
                rule = error.rule(),
                finding = %error,
                "audit: finding"
            );
        }
        now.insert(key, error.to_string());
    }
    for (key, message) in known.drain() {
        let (object, _) = &key;
        if now.contains_key(&key) {
            continue;
        }
        if !audit.kind_was_read(object.kind) {
            now.insert(key, message);
            continue;
        }
        tracing::info!(
            kind = object.kind.as_str(),
            namespace = object.namespace,
            name = object.name,
            finding = message,
            "audit: finding cleared"
        );
    }
    *known = now;
}
