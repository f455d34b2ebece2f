//! The log line of each answered review: who asked for what, and how it was decided.
//! Values a client sends are bounded, and the object itself is never logged.

use super::decode::Envelope;
use super::{Endpoint, Outcome};
use crate::core::{self, Decision, FieldError, Operation};
use crate::metrics::operation_label;
use std::fmt;
use std::time::Duration;

/// Object names are at most 253 bytes.
const MAX_LOGGED_BYTES: usize = 253;

/// `value`, cut to [`MAX_LOGGED_BYTES`] at a character boundary: the API server sends
/// short values, a direct caller might not. Logged as a `&str`, it is escaped by the
/// log format (quoted in text, a JSON string in JSON) without a copy.
fn bounded(value: &str) -> &str {
    let mut end = value.len().min(MAX_LOGGED_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

pub(super) fn log_decision(
    endpoint: Endpoint,
    envelope: &Envelope<'_>,
    decision: &Decision,
    outcome: Outcome,
    duration: Duration,
) {
    let name = if envelope.name.is_empty() {
        envelope
            .object
            .and_then(core::object::display_name)
            .unwrap_or("")
    } else {
        envelope.name
    };
    tracing::info!(
        endpoint = endpoint.as_str(),
        uid = bounded(envelope.uid),
        kind = bounded(envelope.kind),
        namespace = bounded(envelope.namespace),
        name = bounded(name),
        operation = operation_label(envelope.operation.and_then(Operation::from_api)),
        decision = outcome.as_str(),
        duration_us = duration.as_micros() as u64,
        errors = %ErrorList(&decision.errors),
        "admission"
    );
    if decision.capability_check_skipped {
        tracing::warn!(
            uid = bounded(envelope.uid),
            kind = bounded(envelope.kind),
            namespace = bounded(envelope.namespace),
            name = bounded(name),
            annotation = core::SKIP_CAPABILITY_CHECK_ANNOTATION,
            "EFA capability denial skipped by annotation"
        );
    }
}

/// The errors as a JSON array of strings, each as Kubernetes prints a field error.
struct ErrorList<'a>(&'a [FieldError]);

impl fmt::Display for ErrorList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&serde_json::to_string(&messages).map_err(|_| fmt::Error)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::FieldPath;

    #[test]
    fn the_log_lines_error_list_is_a_json_array_of_the_errors_as_kubernetes_prints_them() {
        let errors = [
            FieldError::unsupported(FieldPath::new(["spec", "q\"uote\\"]), "x\"y\n", &["EFA"]),
            FieldError::unsupported(FieldPath::new(["b"]), "é\u{1}", &["ENA"]),
        ];
        let listed: Vec<String> = serde_json::from_str(&ErrorList(&errors).to_string()).unwrap();
        let printed: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.path, e.body()))
            .collect();
        assert_eq!(listed, printed);
    }

    #[test]
    fn logged_values_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("prod-7x2kq-efa"), "prod-7x2kq-efa");
        let long = "é".repeat(200); // 400 bytes
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_LOGGED_BYTES && cut.len() >= MAX_LOGGED_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
