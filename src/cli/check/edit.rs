//! `check --fix`: a patched string member written back into the manifest's text as a
//! one-line edit, keeping comments, key order, quoting and line endings.

use super::yaml::{Document, KeySpan, MappingLayout};
use serde_json::Value;

/// One replacement of `source[start..end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: String,
}

/// The edit that sets the string member `pointer` (whose parent is a mapping) to
/// `value` in `source`, keeping everything else as written. `None` when the layout
/// is one this simple editor does not handle (a multi-line value, say).
pub fn set_string(source: &str, document: &Document, pointer: &str, value: &str) -> Option<Edit> {
    let (parent, last) = pointer.rsplit_once('/')?;
    let key = last.replace("~1", "/").replace("~0", "~");
    let layout = document.mappings.get(parent)?;
    match layout.keys.iter().find(|k| k.name == key) {
        Some(existing) => replace_value(source, layout, existing, value),
        None => insert_member(source, layout, &key, value),
    }
}

/// Replaces the value written after an existing key on the same line.
fn replace_value(source: &str, layout: &MappingLayout, key: &KeySpan, value: &str) -> Option<Edit> {
    let after_key = skip_scalar(source, key.start)?;
    let rest = &source[after_key..];
    let colon = rest.find(|c: char| c != ' ' && c != '\t')?;
    if !rest[colon..].starts_with(':') {
        return None;
    }
    let mut start = after_key + colon + 1;
    let spaced = source[start..].starts_with([' ', '\t']);
    start += source[start..]
        .find(|c: char| c != ' ' && c != '\t')
        .unwrap_or(source.len() - start);
    let key_quote = source[key.start..].chars().next().filter(|c| *c == '"');
    let (end, quote) = match source[start..].chars().next() {
        Some(q @ ('"' | '\'')) => (skip_scalar(source, start)?, Some(q)),
        _ => {
            let stops: &[char] = if layout.flow {
                &[',', '}', ']', '\n', '#']
            } else {
                &['\n', '#']
            };
            let len = source[start..].find(stops).unwrap_or(source.len() - start);
            let end = start + source[start..start + len].trim_end().len();
            let written = &source[start..end];
            // A block scalar or a nested collection spans lines: not a one-line edit.
            if written.starts_with(['|', '>', '{', '[', '&', '*', '!']) {
                return None;
            }
            // A plain scalar continued on the next, deeper-indented line.
            if !layout.flow && continues_on_next_line(source, key.start, end) {
                return None;
            }
            (end, key_quote)
        }
    };
    let mut text = quoted(value, quote);
    if start == end && !spaced && !layout.flow {
        text.insert(0, ' ');
    }
    Some(Edit { start, end, text })
}

/// Adds `key: value` to a mapping, before the first key that sorts after it (the
/// order `kubectl` and Kubernetes write keys in), on its own line when the mapping is
/// written one key per line.
fn insert_member(source: &str, layout: &MappingLayout, key: &str, value: &str) -> Option<Edit> {
    // A file written with CRLF gets CRLF on the new line too.
    let newline = if source.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    if layout.flow {
        let json_style = layout
            .keys
            .first()
            .is_some_and(|k| source[k.start..].starts_with('"'));
        let member = if json_style {
            format!("{}: {}", quoted(key, Some('"')), quoted(value, Some('"')))
        } else {
            format!("{key}: {value}")
        };
        return Some(match layout.keys.iter().find(|k| k.name.as_str() > key) {
            Some(next) => {
                let separator = match line_indent(source, next.start) {
                    Some(indent) => format!(",{newline}{indent}"),
                    None => ", ".to_owned(),
                };
                Edit {
                    start: next.start,
                    end: next.start,
                    text: format!("{member}{separator}"),
                }
            }
            None if layout.keys.is_empty() => Edit {
                start: layout.start + 1,
                end: layout.start + 1,
                text: member,
            },
            None => {
                let first = &layout.keys[0];
                Edit {
                    start: first.start,
                    end: first.start,
                    text: format!("{member}, "),
                }
            }
        });
    }
    let line = format!("{key}: {value}");
    if let Some(next) = layout
        .keys
        .iter()
        .find(|k| k.name.as_str() > key && line_indent(source, k.start).is_some())
    {
        let indent = line_indent(source, next.start)?;
        let at = next.start - indent.len();
        return Some(Edit {
            start: at,
            end: at,
            text: format!("{indent}{line}{newline}"),
        });
    }
    // Sorts last: after the last key, when its value ends on the key's own line.
    let last = layout.keys.last()?;
    let indent = " ".repeat(column_of(source, last.start));
    let line_end = source[last.start..]
        .find('\n')
        .map_or(source.len(), |i| last.start + i);
    let written = source[last.start..line_end].split_once(':')?.1.trim();
    if written.is_empty() || written.starts_with(['|', '>', '&', '*', '!']) {
        return None;
    }
    if continues_on_next_line(source, last.start, line_end) {
        return None;
    }
    Some(if line_end == source.len() {
        Edit {
            start: line_end,
            end: line_end,
            text: format!("{newline}{indent}{line}"),
        }
    } else {
        Edit {
            start: line_end + 1,
            end: line_end + 1,
            text: format!("{indent}{line}{newline}"),
        }
    })
}

/// The end of the scalar (a key, or a quoted value) that starts at `start`.
fn skip_scalar(source: &str, start: usize) -> Option<usize> {
    let mut chars = source[start..].char_indices();
    match chars.next()? {
        (_, '"') => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => return Some(start + i + 1),
                    _ => {}
                }
            }
            None
        }
        (_, '\'') => {
            let bytes = source.as_bytes();
            let mut i = start + 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return Some(i + 1);
                }
                i += 1;
            }
            None
        }
        _ => {
            let len = source[start..]
                .find([':', '\n'])
                .unwrap_or(source.len() - start);
            Some(start + source[start..start + len].trim_end().len())
        }
    }
}

/// The whitespace before `at` when only whitespace precedes it on its line.
fn line_indent(source: &str, at: usize) -> Option<&str> {
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = &source[line_start..at];
    before
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then_some(before)
}

fn column_of(source: &str, at: usize) -> usize {
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    source[line_start..at].chars().count()
}

/// Whether the line after `line_end` (not blank, not a comment) is indented deeper
/// than the key at `key_start`: the value goes on.
fn continues_on_next_line(source: &str, key_start: usize, line_end: usize) -> bool {
    let key_column = column_of(source, key_start);
    source
        .get(line_end..)
        .unwrap_or("")
        .lines()
        .skip(1)
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .is_some_and(|next| next.len() - next.trim_start().len() > key_column)
}

fn quoted(text: &str, quote: Option<char>) -> String {
    match quote {
        Some('"') => Value::from(text).to_string(),
        Some(_) => format!("'{}'", text.replace('\'', "''")),
        None => text.to_owned(),
    }
}

/// Applies `edits` (non-overlapping) to `source`.
pub fn apply(source: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.start));
    let mut out = source.to_owned();
    for edit in edits {
        out.replace_range(edit.start..edit.end, &edit.text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::check::yaml::read;
    use serde_json::json;

    const MACHINESET: &str = r#"# Worker pool with EFA (ticket HPC-142)
apiVersion: machine.openshift.io/v1beta1
kind: MachineSet
metadata:
  name: prod-7x2kq-efa-us-east-1c   # naming: <infra>-<pool>-<zone>
  namespace: openshift-machine-api
spec:
  template:
    spec:
      providerSpec:
        value:
          apiVersion: machine.openshift.io/v1beta1
          kind: AWSMachineProviderConfig
          instanceType: c5n.18xlarge
          # the rest as the installer made it
          placement:
            availabilityZone: us-east-1c
            region: us-east-1
---
apiVersion: v1
kind: ConfigMap
metadata: {name: "é-notes", namespace: default}
data:
  note: "é"
"#;

    fn edit(source: &str, pointer: &str, value: &str) -> String {
        let docs = read(source).unwrap();
        let edit = set_string(source, &docs[0], pointer, value).expect("an in-place edit");
        let out = apply(source, vec![edit]);
        // The edited text reads back as the original with the one member set.
        let mut want = docs[0].value.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        want.pointer_mut(parent).unwrap()[key] = json!(value);
        assert_eq!(read(&out).unwrap()[0].value, want, "{out}");
        out
    }

    #[test]
    fn inserts_in_key_order_keeping_comments() {
        let out = edit(
            MACHINESET,
            "/spec/template/spec/providerSpec/value/networkInterfaceType",
            "EFA",
        );
        assert!(out.contains(
            "          instanceType: c5n.18xlarge\n          # the rest as the installer made it\n          networkInterfaceType: EFA\n          placement:"
        ), "{out}");
        assert!(out.contains("# naming: <infra>-<pool>-<zone>"));
        assert!(out.ends_with("  note: \"é\"\n"));
    }

    #[test]
    fn replaces_values_keeping_quotes_and_comments() {
        let source =
            "spec:\n  networkInterfaceType: \"efa\"  # HPC\n  instanceType: p4d.24xlarge\n";
        let out = edit(source, "/spec/networkInterfaceType", "EFA");
        assert_eq!(
            out,
            "spec:\n  networkInterfaceType: \"EFA\"  # HPC\n  instanceType: p4d.24xlarge\n"
        );
        let out = edit(
            "spec:\n  networkInterfaceType: efa\n",
            "/spec/networkInterfaceType",
            "EFA",
        );
        assert_eq!(out, "spec:\n  networkInterfaceType: EFA\n");
        let out = edit(
            "spec:\n  networkInterfaceType:\n  x: 1\n",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(out, "spec:\n  networkInterfaceType: ENA\n  x: 1\n");
        let out = edit(
            "spec:\n  networkInterfaceType: ''\n",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(out, "spec:\n  networkInterfaceType: 'ENA'\n");
    }

    #[test]
    fn offsets_count_bytes_after_multibyte_text() {
        let out = edit(
            "# café ☕ naïve\nspec:\n  instanceType: m5.large\n  zone: a\n",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(
            out,
            "# café ☕ naïve\nspec:\n  instanceType: m5.large\n  networkInterfaceType: ENA\n  zone: a\n"
        );
    }

    #[test]
    fn crlf_files_keep_crlf() {
        let out = edit(
            "spec:\r\n  instanceType: m5.large\r\n  zone: a\r\n",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(
            out,
            "spec:\r\n  instanceType: m5.large\r\n  networkInterfaceType: ENA\r\n  zone: a\r\n"
        );
        let out = edit(
            "spec:\r\n  instanceType: m5.large\r\n",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(
            out,
            "spec:\r\n  instanceType: m5.large\r\n  networkInterfaceType: ENA\r\n"
        );
        let out = edit(
            "spec:\r\n  networkInterfaceType: efa\r\n",
            "/spec/networkInterfaceType",
            "EFA",
        );
        assert_eq!(out, "spec:\r\n  networkInterfaceType: EFA\r\n");
    }

    #[test]
    fn appends_after_the_last_key_when_it_sorts_last() {
        let out = edit(
            "spec:\n  ami: {id: ami-1}\n  instanceType: m5.large\nkind: X\n",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(
            out,
            "spec:\n  ami: {id: ami-1}\n  instanceType: m5.large\n  networkInterfaceType: ENA\nkind: X\n"
        );
        let out = edit(
            "spec:\n  instanceType: m5.large",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(
            out,
            "spec:\n  instanceType: m5.large\n  networkInterfaceType: ENA"
        );
    }

    #[test]
    fn edits_json_and_flow_mappings() {
        let json = "{\n  \"spec\": {\n    \"instanceType\": \"m5.large\",\n    \"placement\": {\"region\": \"us-east-1\"}\n  }\n}\n";
        let out = edit(json, "/spec/networkInterfaceType", "ENA");
        assert!(out.contains("\"instanceType\": \"m5.large\",\n    \"networkInterfaceType\": \"ENA\",\n    \"placement\""), "{out}");
        serde_json::from_str::<Value>(&out).unwrap();
        let out = edit(
            "{\"spec\": {\"networkInterfaceType\": \"efa\"}}",
            "/spec/networkInterfaceType",
            "EFA",
        );
        assert_eq!(out, "{\"spec\": {\"networkInterfaceType\": \"EFA\"}}");
        let out = edit("spec: {}\n", "/spec/networkInterfaceType", "ENA");
        assert_eq!(out, "spec: {networkInterfaceType: ENA}\n");
        let out = edit(
            "spec: {ami: x, zone: b}\n",
            "/spec/networkInterfaceType",
            "ENA",
        );
        assert_eq!(out, "spec: {ami: x, networkInterfaceType: ENA, zone: b}\n");
    }

    #[test]
    fn values_spanning_lines_are_not_edited_in_place() {
        let source = "spec:\n  networkInterfaceType: |\n    efa\n";
        let docs = read(source).unwrap();
        assert_eq!(
            set_string(source, &docs[0], "/spec/networkInterfaceType", "EFA"),
            None
        );
        let source = "spec:\n  alpha:\n    nested: 1\n";
        let docs = read(source).unwrap();
        assert_eq!(
            set_string(source, &docs[0], "/spec/networkInterfaceType", "ENA"),
            None
        );
    }
}
