//! Prometheus metrics, served in the text format on the plain-HTTP metrics port.
//! Every label value is from a fixed set: nothing a client sends becomes a label.

use crate::admission::{Endpoint, Outcome};
use crate::audit::Audit;
use crate::core::{CapabilityTable, FieldError, Operation, TargetKind};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum ReloadResult {
    Success,
    Failure,
}

impl EncodeLabelValue for ReloadResult {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        encoder.write_str(match self {
            ReloadResult::Success => "success",
            ReloadResult::Failure => "failure",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    pub result: ReloadResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdmissionLabels {
    pub endpoint: &'static str,
    pub kind: &'static str,
    pub operation: &'static str,
    pub decision: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionLabels {
    pub region: String,
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefreshLabels {
    /// What was loaded: `instance_types`, `zones`, `placement_groups`, `security_groups`.
    pub kind: &'static str,
    /// `success`, or why it failed: `throttled`, `auth`, `network`, `other`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AuditLabels {
    /// One of [`TargetKind::as_str`].
    pub kind: &'static str,
    /// One of [`crate::core::FieldError::RULES`].
    pub rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    /// As for [`RefreshLabels`].
    pub kind: &'static str,
    /// `hit`: live data answered; `miss`: it did not (yet), and a load was asked for.
    pub result: &'static str,
}

/// The kind as a metric label: one of [`TargetKind::as_str`], or `other`.
pub fn kind_label(kind: Option<TargetKind>) -> &'static str {
    kind.map_or("other", TargetKind::as_str)
}

/// The operation as the API names it, or `unknown`: a metric label and a log field.
pub fn operation_label(operation: Option<Operation>) -> &'static str {
    operation.map_or("unknown", Operation::as_str)
}

/// Bucket bounds from 10 µs to 10 s: the decision takes microseconds, and anything
/// near the API server's timeout must still be visible.
const LATENCY_BUCKETS: [f64; 16] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
    0.5, 1.0, 2.5, 10.0,
];

pub struct Metrics {
    registry: Registry,
    pub admissions: Family<AdmissionLabels, Counter>,
    pub admission_duration: Family<EndpointLabels, Histogram>,
    pub bad_requests: Family<ReasonLabels, Counter>,
    pub table_entries: Family<RegionLabels, Gauge>,
    pub table_age: Family<RegionLabels, Gauge>,
    pub refreshes: Family<RefreshLabels, Counter>,
    pub lookups: Family<LookupLabels, Counter>,
    /// EFA capability denials turned into warnings by the skip annotation.
    pub capability_check_skips: Family<KindLabels, Counter>,
    /// Certificate reloads: a new pair installed, or a changed pair refused.
    pub tls_reloads: Family<ReloadLabels, Counter>,
    /// When the certificate being served expires (seconds since the epoch).
    pub tls_expiry: Gauge,
    /// Findings of the last background audit that read the kind.
    pub audit_findings: Family<AuditLabels, Gauge>,
    /// When the last complete background audit finished (seconds since the epoch).
    pub audit_last_run: Gauge,
}

fn register<M: prometheus_client::registry::Metric + Clone>(
    registry: &mut Registry,
    name: &str,
    help: &str,
    metric: M,
) -> M {
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        let mut r = Registry::with_prefix("machine_efa_webhook");
        let admissions = register(
            &mut r,
            "admission_requests",
            "Admission reviews answered, by endpoint, kind, operation and decision",
            Family::default(),
        );
        let admission_duration = register(
            &mut r,
            "admission_duration_seconds",
            "Time to decode, decide and encode one review",
            Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(LATENCY_BUCKETS)
            }),
        );
        let bad_requests = register(
            &mut r,
            "bad_requests",
            "Requests answered with a 4xx instead of a review, by reason",
            Family::default(),
        );
        let table_entries = register(
            &mut r,
            "capability_table_instance_types",
            "Instance types the capability table lists as offered, by region and source",
            Family::default(),
        );
        let table_age = register(
            &mut r,
            "capability_table_age_seconds",
            "Age of each region's capability data, by region and source",
            Family::default(),
        );
        let refreshes = register(
            &mut r,
            "capability_refreshes",
            "Loads from EC2, by kind (instance_types, zones, placement_groups, security_groups) and result (success, throttled, auth, network, other)",
            Family::default(),
        );
        let lookups = register(
            &mut r,
            "capability_lookups",
            "Lookups of EC2 data by admissions with --capabilities ec2, by kind and result (hit: live data answered; miss: a background load was asked for)",
            Family::default(),
        );
        let capability_check_skips = register(
            &mut r,
            "capability_check_skips",
            "EFA capability denials turned into warnings by the skip-capability-check annotation, by kind",
            Family::default(),
        );
        let tls_reloads = register(
            &mut r,
            "tls_certificate_reloads",
            "Serving certificate reloads by result (failure: a changed pair was refused and the old one kept)",
            Family::default(),
        );
        let tls_expiry = register(
            &mut r,
            "tls_certificate_expiry_timestamp_seconds",
            "When the serving certificate expires (its notAfter), in seconds since the epoch",
            Gauge::default(),
        );
        let audit_findings = register(
            &mut r,
            "audit_findings",
            "Findings in the cluster (fields a CREATE would be denied for), by kind and rule, from the last background audit that read the kind (serve --audit-interval)",
            Family::default(),
        );
        let audit_last_run = register(
            &mut r,
            "audit_last_run_timestamp_seconds",
            "When the last complete background audit finished, in seconds since the epoch",
            Gauge::default(),
        );
        Metrics {
            registry: r,
            admissions,
            admission_duration,
            bad_requests,
            table_entries,
            table_age,
            refreshes,
            lookups,
            capability_check_skips,
            tls_reloads,
            tls_expiry,
            audit_findings,
            audit_last_run,
        }
    }
}

impl Metrics {
    /// Counts one answered review and observes its duration.
    pub fn record_admission(
        &self,
        endpoint: Endpoint,
        kind: Option<TargetKind>,
        operation: Option<Operation>,
        outcome: Outcome,
        duration: Duration,
    ) {
        self.admission_duration
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.as_str(),
            })
            .observe(duration.as_secs_f64());
        self.admissions
            .get_or_create(&AdmissionLabels {
                endpoint: endpoint.as_str(),
                kind: kind_label(kind),
                operation: operation_label(operation),
                decision: outcome.as_str(),
            })
            .inc();
    }

    /// Sets the audit gauges from `audit`: every kind and rule, zero included, for each
    /// kind it read; the timestamp when it read them all.
    pub fn observe_audit(&self, audit: &Audit, finished: std::time::SystemTime) {
        let mut counts: HashMap<AuditLabels, i64> = HashMap::new();
        for (object, error) in audit.kept_findings() {
            *counts
                .entry(AuditLabels {
                    kind: object.kind.as_str(),
                    rule: error.rule(),
                })
                .or_default() += 1;
        }
        for kind in TargetKind::ALL
            .into_iter()
            .filter(|k| audit.kind_was_read(*k))
        {
            for rule in FieldError::RULES {
                let labels = AuditLabels {
                    kind: kind.as_str(),
                    rule,
                };
                let count = counts.get(&labels).copied().unwrap_or_default();
                self.audit_findings.get_or_create(&labels).set(count);
            }
        }
        if audit.is_complete()
            && let Ok(since) = finished.duration_since(std::time::UNIX_EPOCH)
        {
            self.audit_last_run.set(since.as_secs() as i64);
        }
    }

    pub fn record_reload(&self, result: ReloadResult) {
        self.tls_reloads
            .get_or_create(&ReloadLabels { result })
            .inc();
    }

    pub fn record_refresh(&self, kind: &'static str, result: &'static str) {
        self.refreshes
            .get_or_create(&RefreshLabels { kind, result })
            .inc();
    }

    pub fn record_lookup(&self, kind: &'static str, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.lookups
            .get_or_create(&LookupLabels { kind, result })
            .inc();
    }

    /// Sets the table gauges from `table`, as of now; regions it no longer has vanish.
    pub fn observe_table(&self, table: &CapabilityTable) {
        self.table_entries.clear();
        self.table_age.clear();
        let now = std::time::SystemTime::now();
        for (region, offerings) in &table.regions {
            let labels = RegionLabels {
                region: region.clone(),
                source: offerings.provenance.source.as_str(),
            };
            self.table_entries
                .get_or_create(&labels)
                .set(offerings.offered.len() as i64);
            if let Ok(at) = humantime::parse_rfc3339(&offerings.provenance.fetched_at) {
                let age = now.duration_since(at).unwrap_or_default().as_secs();
                self.table_age.get_or_create(&labels).set(age as i64);
            }
        }
    }

    /// The registry in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_admissions_are_counted_under_their_labels() {
        let metrics = Metrics::default();
        for _ in 0..2 {
            metrics.record_admission(
                Endpoint::Validate,
                Some(TargetKind::MachineSet),
                Some(Operation::Create),
                Outcome::Denied,
                Duration::from_micros(7),
            );
        }
        metrics.record_admission(
            Endpoint::Mutate,
            None,
            None,
            Outcome::Allowed,
            Duration::ZERO,
        );
        let text = metrics.encode();
        assert!(text.contains(r#"admission_requests_total{endpoint="validate",kind="MachineSet",operation="CREATE",decision="denied"} 2"#), "{text}");
        assert!(text.contains(r#"admission_requests_total{endpoint="mutate",kind="other",operation="unknown",decision="allowed"} 1"#), "{text}");
        assert!(
            text.contains(r#"admission_duration_seconds_count{endpoint="validate"} 2"#),
            "{text}"
        );
    }
}
