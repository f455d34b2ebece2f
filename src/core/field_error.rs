//! Field errors that read like the Kubernetes API server's (`<path>: <Type>: <detail>`).

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// A dotted field path such as `spec.providerSpec.value.instanceType`. Every segment
/// is a field name the webhook knows, so a path of fixed segments costs no allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath(Cow<'static, [&'static str]>);

impl FieldPath {
    pub fn new<I>(segments: I) -> Self
    where
        I: IntoIterator<Item = &'static str>,
    {
        Self(Cow::Owned(segments.into_iter().collect()))
    }

    /// A path known when the program is written.
    pub const fn fixed(segments: &'static [&'static str]) -> Self {
        Self(Cow::Borrowed(segments))
    }

    pub fn child(&self, segment: &'static str) -> Self {
        let mut segments = Vec::with_capacity(self.0.len() + 1);
        segments.extend_from_slice(&self.0);
        segments.push(segment);
        Self(Cow::Owned(segments))
    }

    pub fn segments(&self) -> &[&'static str] {
        &self.0
    }

    /// RFC 6901 pointer to the same place, for JSON Patch.
    pub fn to_pointer(&self) -> json_patch::jsonptr::PointerBuf {
        json_patch::jsonptr::PointerBuf::from_tokens(self.0.iter().copied())
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            f.write_str(segment)?;
        }
        Ok(())
    }
}

/// The kinds of field error this webhook reports, named as Kubernetes names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Unsupported value: "x": supported values: "A", "B"`.
    Unsupported {
        value: String,
        supported: Vec<String>,
    },
    /// `Invalid value: <value>: <detail>`.
    Invalid { value: String, detail: String },
    /// `Required value: <detail>`.
    Required { detail: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub path: FieldPath,
    pub kind: FieldErrorKind,
    /// Advice after the error proper (`did you mean "EFA"?`, alternatives), left out
    /// where the error is only restated.
    pub hint: Option<String>,
}

impl FieldError {
    fn new(path: FieldPath, kind: FieldErrorKind) -> Self {
        Self {
            path,
            kind,
            hint: None,
        }
    }

    pub fn unsupported(path: FieldPath, value: &str, supported: &[&str]) -> Self {
        Self::new(
            path,
            FieldErrorKind::Unsupported {
                value: quote(value),
                supported: supported.iter().map(|s| quote(s)).collect(),
            },
        )
    }

    pub fn invalid(path: FieldPath, value: &Value, detail: impl Into<String>) -> Self {
        Self::new(
            path,
            FieldErrorKind::Invalid {
                value: display_value(value),
                detail: detail.into(),
            },
        )
    }

    pub fn required(path: FieldPath, detail: impl Into<String>) -> Self {
        Self::new(
            path,
            FieldErrorKind::Required {
                detail: detail.into(),
            },
        )
    }

    #[must_use]
    pub fn with_hint(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// Which rule found the error, from the field it names: a label for metrics and
    /// reports, one of [`FieldError::RULES`].
    pub fn rule(&self) -> &'static str {
        match self.path.segments().last().copied() {
            Some("networkInterfaceType") => "network-interface-type",
            Some("instanceType") => "efa-instance-type",
            Some("availabilityZone" | "failureDomain" | "filters") => "zone-offering",
            Some("placementGroupName") => "placement-group",
            _ => "malformed",
        }
    }

    pub const RULES: [&'static str; 5] = [
        "network-interface-type",
        "efa-instance-type",
        "zone-offering",
        "placement-group",
        "malformed",
    ];

    /// The `reason` of a `StatusCause`, as the API server spells it.
    pub fn cause_reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Unsupported { .. } => "FieldValueNotSupported",
            FieldErrorKind::Invalid { .. } => "FieldValueInvalid",
            FieldErrorKind::Required { .. } => "FieldValueRequired",
        }
    }

    /// The error without its path: the `message` of a `StatusCause`.
    pub fn body(&self) -> Body<'_> {
        Body {
            error: self,
            with_hint: true,
        }
    }

    /// Path and error without the hint: for restating an error that was already explained.
    pub fn summary(&self) -> String {
        let bare = Body {
            error: self,
            with_hint: false,
        };
        format!("{}: {bare}", self.path)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.body())
    }
}

/// A field error without its path, written where it is needed rather than built.
pub struct Body<'a> {
    error: &'a FieldError,
    with_hint: bool,
}

impl fmt::Display for Body<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error.kind {
            FieldErrorKind::Unsupported { value, supported } => {
                write!(f, "Unsupported value: {value}: supported values: ")?;
                for (i, one) in supported.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(one)?;
                }
            }
            FieldErrorKind::Invalid { value, detail } => {
                write!(f, "Invalid value: {value}: {detail}")?;
            }
            FieldErrorKind::Required { detail } => write!(f, "Required value: {detail}")?,
        }
        match &self.error.hint {
            Some(hint) if self.with_hint => write!(f, "; {hint}"),
            _ => Ok(()),
        }
    }
}

/// How the API server prints an invalid value: scalars as themselves, containers by
/// their type, so that whole objects are never echoed.
pub fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => quote(s),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(_) => "\"array\"".to_owned(),
        Value::Object(_) => "\"object\"".to_owned(),
    }
}

/// Most characters of a user-supplied string echoed into a message, counted after
/// escaping; the rest is elided so that a hostile object cannot make the answer, the
/// logs or kubectl's output huge.
const MAX_ECHOED_CHARS: usize = 64;

/// Quotes and escapes a user-supplied string for a message, elided past [`MAX_ECHOED_CHARS`].
pub fn quote(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len().min(MAX_ECHOED_CHARS) + 5);
    quoted.push('"');
    let mut chars = 0;
    for c in s.chars() {
        let escaped = c.escape_debug();
        if chars + escaped.len() > MAX_ECHOED_CHARS {
            quoted.push_str("...");
            break;
        }
        chars += escaped.len();
        quoted.extend(escaped);
    }
    quoted.push('"');
    quoted
}

/// Kubernetes may truncate warnings longer than this.
pub const MAX_WARNING_CHARS: usize = 256;

/// A warning cut to [`MAX_WARNING_CHARS`] at a character boundary.
pub fn bounded_warning(warning: String) -> String {
    if warning.chars().count() <= MAX_WARNING_CHARS {
        return warning;
    }
    let mut cut: String = warning.chars().take(MAX_WARNING_CHARS - 3).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unsupported_reads_like_kubernetes() {
        let path = FieldPath::new(["spec", "providerSpec", "value", "networkInterfaceType"]);
        let err = FieldError::unsupported(path, "foo", &["EFA", "ENA"]);
        assert_eq!(
            err.to_string(),
            r#"spec.providerSpec.value.networkInterfaceType: Unsupported value: "foo": supported values: "EFA", "ENA""#
        );
        assert_eq!(err.cause_reason(), "FieldValueNotSupported");
        let hinted = err.with_hint(Some(r#"did you mean "EFA"?"#.into()));
        assert!(
            hinted
                .to_string()
                .ends_with(r#""EFA", "ENA"; did you mean "EFA"?"#)
        );
        assert!(hinted.summary().ends_with(r#""EFA", "ENA""#));
    }

    #[test]
    fn invalid_never_echoes_containers_or_huge_strings() {
        let path = FieldPath::new(["x"]);
        assert_eq!(
            FieldError::invalid(path.clone(), &json!({"a": 1}), "must be a string").to_string(),
            r#"x: Invalid value: "object": must be a string"#
        );
        assert_eq!(
            FieldError::invalid(path.clone(), &json!(5), "must be a string").to_string(),
            "x: Invalid value: 5: must be a string"
        );
        let control = "\u{1}".repeat(64);
        assert!(quote(&control).len() <= 64 + 5, "{}", quote(&control));
        assert_eq!(bounded_warning("w".repeat(300)).chars().count(), 256);
        let huge = "a".repeat(10_000);
        assert!(
            FieldError::invalid(path, &json!(huge), "d")
                .to_string()
                .len()
                < 100
        );
    }

    #[test]
    fn quote_escapes_like_debug_and_elides_long_strings() {
        for (input, quoted) in [
            ("m5.2xlarge", r#""m5.2xlarge""#),
            ("", r#""""#),
            ("it's", r#""it\'s""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("tab\there", r#""tab\there""#),
            ("é", r#""é""#),
            ("\u{7f}", r#""\u{7f}""#),
        ] {
            assert_eq!(quote(input), quoted, "{input:?}");
        }
        let at_limit = "a".repeat(MAX_ECHOED_CHARS);
        assert_eq!(quote(&at_limit), format!("\"{at_limit}\""));
        let over = "a".repeat(MAX_ECHOED_CHARS + 1);
        assert_eq!(quote(&over), format!("\"{at_limit}...\""));
    }

    #[test]
    fn json_pointer_escapes_tokens() {
        let path = FieldPath::new(["metadata", "labels", "a/b~c"]);
        assert_eq!(path.to_pointer().as_str(), "/metadata/labels/a~1b~0c");
    }
}
