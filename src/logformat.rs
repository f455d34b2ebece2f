//! `--log-format json`: one JSON object per line, as tracing-subscriber's own JSON
//! format with flattened events writes it (the same members, in the same order), but
//! written straight into the line as the fields are visited. tracing-subscriber's
//! formatter puts each field through a `serde_json::Value` first, which cost a fifth of
//! an admission (`logged` against `review` in `make bench`).

use crate::jsontext::{write_json_display, write_json_str};
use std::fmt::{self, Write};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// The event format of `--log-format json`.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Built whole, then written once: the writer is a `dyn Write`, and a line is
        // some sixty small writes.
        let mut line = String::with_capacity(1024);
        let metadata = event.metadata();
        line.push_str("{\"timestamp\":\"");
        write_timestamp(&mut line, std::time::SystemTime::now());
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push('"');
        let mut fields = Members {
            line: &mut line,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        if let Some(scope) = ctx.event_scope() {
            // As tracing-subscriber has it: the innermost span, then all of them, root first.
            let spans: Vec<String> = scope
                .from_root()
                .map(|span| span_object::<S, N>(&span))
                .collect();
            if let Some(current) = spans.last() {
                write!(line, ",\"span\":{current},\"spans\":[{}]", spans.join(","))?;
            }
        }
        line.push_str(",\"target\":");
        write_json_str(&mut line, metadata.target())?;
        line.push_str("}\n");
        writer.write_str(&line)
    }
}

/// `at` as RFC 3339 in UTC to the microsecond (`2026-12-01T08:27:17.823097Z`), as
/// tracing-subscriber's default timer writes it.
fn write_timestamp(line: &mut String, at: std::time::SystemTime) {
    let since_epoch = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), for days since 1970-01-01.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let of_era = shifted % 146_097;
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    for (value, width, then) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (of_day / 3600, 2, ':'),
        (of_day / 60 % 60, 2, ':'),
        (of_day % 60, 2, '.'),
        (u64::from(since_epoch.subsec_micros()), 6, 'Z'),
    ] {
        let mut buffer = itoa::Buffer::new();
        let text = buffer.format(value);
        for _ in text.len()..width {
            line.push('0');
        }
        line.push_str(text);
        line.push(then);
    }
}

/// A span as tracing-subscriber's JSON format shows it: its fields (as the subscriber's
/// field formatter, JSON, wrote them), then its name.
fn span_object<R, N>(span: &SpanRef<'_, R>) -> String
where
    R: for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let mut object = String::from("{");
    if let Some(fields) = span.extensions().get::<FormattedFields<N>>() {
        let fields = fields.trim();
        let inner = fields
            .strip_prefix('{')
            .and_then(|f| f.strip_suffix('}'))
            .unwrap_or(fields);
        if !inner.is_empty() {
            object.push_str(inner);
            object.push(',');
        }
    }
    object.push_str("\"name\":");
    let _ = write_json_str(&mut object, span.metadata().name());
    object.push('}');
    object
}

/// Writes each field as `,"name":value`.
struct Members<'l> {
    line: &'l mut String,
    result: fmt::Result,
}

impl Members<'_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut String) -> fmt::Result) {
        if self.result.is_ok() {
            self.line.push(',');
            self.result = write_json_str(self.line, field.name()).and_then(|()| {
                self.line.push(':');
                value(self.line)
            });
        }
    }

    fn integer(&mut self, field: &Field, value: impl itoa::Integer) {
        self.member(field, |line| {
            line.push_str(itoa::Buffer::new().format(value));
            Ok(())
        });
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |line| write_json_str(line, value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.integer(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.integer(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |line| {
            line.push_str(if value { "true" } else { "false" });
            Ok(())
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: serde_json writes null for them.
        self.member(field, |line| match serde_json::Number::from_f64(value) {
            Some(number) => write!(line, "{number}"),
            None => {
                line.push_str("null");
                Ok(())
            }
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.member(field, |line| write_json_display(line, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |line| {
            write_json_display(line, format_args!("{value:?}"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;

        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    fn events() {
        let span = tracing::info_span!("refresh", region = "us-east-1", attempt = 2);
        let _entered = span.enter();
        tracing::info!(
            uid = "a\"b\\c\n\u{1}é",
            count = 3u64,
            delta = -4i64,
            ok = true,
            ratio = 0.25,
            reason = %"shown with Display",
            list = ?["x", "y"],
            "admission"
        );
        let inner = tracing::info_span!("page", n = 1);
        inner.in_scope(|| tracing::warn!(error = %std::io::Error::other("boom\tbang"), "failed"));
        drop(_entered);
        tracing::error!("outside any span: {}", 42);
    }

    fn logged(format: impl Fn(Lines) -> Box<dyn tracing::Subscriber + Send + Sync>) -> Vec<Value> {
        let lines = Lines::default();
        tracing::subscriber::with_default(format(lines.clone()), events);
        String::from_utf8(lines.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|line| {
                let mut value: Value = serde_json::from_str(line).unwrap();
                value.as_object_mut().unwrap().remove("timestamp");
                value
            })
            .collect()
    }

    #[test]
    fn lines_read_as_tracing_subscribers_own_json() {
        let ours = logged(|lines| {
            Box::new(
                tracing_subscriber::fmt()
                    .with_writer(lines)
                    .json()
                    .event_format(JsonLines)
                    .finish(),
            )
        });
        let theirs = logged(|lines| {
            Box::new(
                tracing_subscriber::fmt()
                    .with_writer(lines)
                    .json()
                    .flatten_event(true)
                    .finish(),
            )
        });
        assert_eq!(ours.len(), 3);
        assert_eq!(ours, theirs);
    }

    #[test]
    fn timestamps_read_as_rfc_3339_to_the_microsecond() {
        let start = std::time::UNIX_EPOCH;
        let day = std::time::Duration::from_secs(86_400);
        // Every day from 1970 to 2100 (leap years, centuries), at a time with micros.
        for n in 0..(130 * 366) {
            let at = start + day * n + std::time::Duration::from_micros(86_399_000_017);
            let mut ours = String::new();
            write_timestamp(&mut ours, at);
            assert_eq!(ours, humantime::format_rfc3339_micros(at).to_string());
        }
    }
}
