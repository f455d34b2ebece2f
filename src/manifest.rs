//! Reading Kubernetes manifests (YAML, multi-document, or JSON) into JSON values while
//! remembering where each mapping key sits in the text, so that a patch of one field
//! can be written back as a one-line edit that keeps comments and key order.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Why a text could not be read: the parser's message and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} column {column}: {message}")]
pub struct ReadError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// One document of a stream: its value and where its mappings' keys are.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    /// The line its content starts on (1-based).
    pub line: usize,
    /// Mapping layout by JSON pointer (`""` is the document's root).
    mappings: HashMap<String, MappingLayout>,
}

#[derive(Debug, Default)]
struct MappingLayout {
    /// `{ ... }` rather than indented lines.
    flow: bool,
    /// Byte offset of the opening brace of a flow mapping.
    start: usize,
    keys: Vec<KeySpan>,
}

#[derive(Debug)]
struct KeySpan {
    name: String,
    /// Byte offset of the key's first character (its quote, if quoted).
    start: usize,
}

/// Reads every document of `text`. Empty documents are left out.
pub fn read(text: &str) -> Result<Vec<Document>, ReadError> {
    let mut builder = Builder::new(text);
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| ReadError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_owned(),
    })?;
    if let Some(message) = builder.error {
        return Err(message);
    }
    Ok(builder.documents)
}

struct Frame {
    pointer: String,
    anchor: usize,
    node: Node,
}

enum Node {
    Sequence(Vec<Value>),
    Mapping {
        map: Map<String, Value>,
        layout: MappingLayout,
        key: Option<String>,
    },
}

struct Builder<'t> {
    text: &'t str,
    /// Byte offset of each char index: the parser's markers count characters.
    char_offsets: Vec<usize>,
    documents: Vec<Document>,
    stack: Vec<Frame>,
    root: Option<Value>,
    line: usize,
    mappings: HashMap<String, MappingLayout>,
    anchors: HashMap<usize, Value>,
    error: Option<ReadError>,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Self {
        let mut char_offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        char_offsets.push(text.len());
        Builder {
            text,
            char_offsets,
            documents: Vec::new(),
            stack: Vec::new(),
            root: None,
            line: 1,
            mappings: HashMap::new(),
            anchors: HashMap::new(),
            error: None,
        }
    }

    fn offset(&self, mark: &Marker) -> usize {
        // Markers count characters or bytes depending on the version; both agree on
        // ASCII, and a byte offset is recovered from a char offset here.
        self.char_offsets
            .get(mark.index())
            .copied()
            .unwrap_or(self.text.len())
    }

    /// The pointer of the node that starts now, under the current frame.
    fn child_pointer(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(frame) => match &frame.node {
                Node::Sequence(items) => format!("{}/{}", frame.pointer, items.len()),
                Node::Mapping { key, .. } => format!(
                    "{}/{}",
                    frame.pointer,
                    key.as_deref()
                        .unwrap_or("")
                        .replace('~', "~0")
                        .replace('/', "~1")
                ),
            },
        }
    }

    /// Places a finished node in its parent (or as the document's root).
    fn finish(&mut self, value: Value, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame {
                node: Node::Sequence(items),
                ..
            }) => items.push(value),
            Some(Frame {
                node: Node::Mapping { map, key, .. },
                ..
            }) => match key.take() {
                Some(key) => {
                    map.insert(key, value);
                }
                None => self.fail_at_line("a mapping key must be a scalar"),
            },
        }
    }

    fn fail_at_line(&mut self, message: &str) {
        self.error.get_or_insert(ReadError {
            line: self.line,
            column: 1,
            message: message.to_owned(),
        });
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::DocumentStart => {
                self.root = None;
                self.mappings.clear();
                self.line = mark.line();
            }
            Event::DocumentEnd => {
                if let Some(value) = self.root.take().filter(|v| !v.is_null()) {
                    self.documents.push(Document {
                        value,
                        line: self.line,
                        mappings: std::mem::take(&mut self.mappings),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let start = self.offset(&mark);
                if let Some(Frame {
                    node:
                        Node::Mapping {
                            key: key @ None,
                            layout,
                            ..
                        },
                    ..
                }) = self.stack.last_mut()
                {
                    layout.keys.push(KeySpan {
                        name: text.clone(),
                        start,
                    });
                    *key = Some(text);
                    return;
                }
                let value = resolve_scalar(text, style, tag.as_ref());
                self.finish(value, anchor);
            }
            Event::Alias(anchor) => {
                let value = self.anchors.get(&anchor).cloned().unwrap_or(Value::Null);
                if let Some(Frame {
                    node:
                        Node::Mapping {
                            key: key @ None, ..
                        },
                    ..
                }) = self.stack.last_mut()
                {
                    *key = Some(match value {
                        Value::String(s) => s,
                        other => other.to_string(),
                    });
                    return;
                }
                self.finish(value, 0);
            }
            Event::SequenceStart(anchor, _) => {
                let pointer = self.child_pointer();
                self.stack.push(Frame {
                    pointer,
                    anchor,
                    node: Node::Sequence(Vec::new()),
                });
            }
            Event::MappingStart(anchor, _) => {
                let pointer = self.child_pointer();
                let start = self.offset(&mark);
                let layout = MappingLayout {
                    flow: self.text[start..].starts_with('{'),
                    start,
                    keys: Vec::new(),
                };
                self.stack.push(Frame {
                    pointer,
                    anchor,
                    node: Node::Mapping {
                        map: Map::new(),
                        layout,
                        key: None,
                    },
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let value = match frame.node {
                    Node::Sequence(items) => Value::Array(items),
                    Node::Mapping { map, layout, .. } => {
                        self.mappings.insert(frame.pointer, layout);
                        Value::Object(map)
                    }
                };
                self.finish(value, frame.anchor);
            }
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
        }
    }
}

/// YAML 1.2 core schema, as Kubernetes reads it for the values that matter here:
/// quoted or `!!str` scalars are strings; plain ones may be null, bool or numbers.
fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str") {
        return Value::String(text);
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(int) = text.parse::<i64>() {
        return Value::from(int);
    }
    let looks_numeric = text
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if looks_numeric && let Some(number) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(number);
    }
    Value::String(text)
}

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
    fn reads_multi_document_yaml_with_lines() {
        let docs = read(MACHINESET).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["kind"], "MachineSet");
        assert_eq!(docs[1].value["metadata"]["name"], "é-notes");
        assert!(docs[1].line >= 19, "{}", docs[1].line);
    }

    #[test]
    fn scalars_resolve_like_kubernetes() {
        let docs =
            read("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: yes\ng: !!str 2\nh: 0x1F\n").unwrap();
        assert_eq!(
            docs[0].value,
            json!({"a": 1, "b": "1", "c": true, "d": null, "e": 1.5, "f": "yes", "g": "2", "h": "0x1F"})
        );
    }

    #[test]
    fn errors_name_the_line() {
        let err = read("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
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
