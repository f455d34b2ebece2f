//! Reading Kubernetes manifests (YAML, multi-document, or JSON) into JSON values while
//! remembering where each mapping key sits in the text, so that a patch of one field
//! can be written back as a one-line edit that keeps comments and key order (`edit`).

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
    pub(super) mappings: HashMap<String, MappingLayout>,
}

#[derive(Debug, Default)]
pub(super) struct MappingLayout {
    /// `{ ... }` rather than indented lines.
    pub(super) flow: bool,
    /// Byte offset of the opening brace of a flow mapping.
    pub(super) start: usize,
    pub(super) keys: Vec<KeySpan>,
}

#[derive(Debug)]
pub(super) struct KeySpan {
    pub(super) name: String,
    /// Byte offset of the key's first character (its quote, if quoted).
    pub(super) start: usize,
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
    pub(super) mappings: HashMap<String, MappingLayout>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_multi_document_yaml_with_lines() {
        let text = "# a comment\nkind: MachineSet\nspec:\n  replicas: 1\n---\nkind: ConfigMap\nmetadata: {name: \"é-notes\"}\n";
        let docs = read(text).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value["kind"], "MachineSet");
        assert_eq!(docs[1].value["metadata"]["name"], "é-notes");
        assert_eq!(docs[1].line, 5);
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
}
