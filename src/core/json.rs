//! How the rules read JSON: through [`Json`], a borrowed handle on one value. It is a
//! `&serde_json::Value` for `check` and the tests, and on the admission path a handle on
//! the members of the review that the rules read, parsed without building a tree
//! (`crate::pruned`). The rules are written once, against this trait.

use super::field_error::quote;
use serde_json::Value;

/// A JSON value as the rules see it. Equality and display follow `serde_json::Value`:
/// a handle answers exactly as the `Value` parsed from the same text would.
pub trait Json<'a>: Copy {
    /// The member `key` of an object (null included); `None` when absent or when this
    /// is not an object.
    fn get(self, key: &str) -> Option<Self>;
    fn as_str(self) -> Option<&'a str>;
    fn is_null(self) -> bool;
    fn is_object(self) -> bool;
    /// How the API server prints an invalid value: scalars as themselves, containers by
    /// their type, so that whole objects are never echoed.
    fn display(self) -> String;
    /// The same JSON value, as `Value`'s `==` has it.
    fn same(self, other: Self) -> bool;

    /// A present, non-null member.
    fn present(self, key: &str) -> Option<Self> {
        self.get(key).filter(|value| !value.is_null())
    }

    /// The member at `path`.
    fn member(self, path: &[&str]) -> Option<Self> {
        path.iter().try_fold(self, |value, key| value.get(key))
    }
}

impl<'a> Json<'a> for &'a Value {
    fn get(self, key: &str) -> Option<Self> {
        self.as_object()?.get(key)
    }

    fn as_str(self) -> Option<&'a str> {
        Value::as_str(self)
    }

    fn is_null(self) -> bool {
        Value::is_null(self)
    }

    fn is_object(self) -> bool {
        Value::is_object(self)
    }

    fn display(self) -> String {
        display_value(self)
    }

    fn same(self, other: Self) -> bool {
        self == other
    }
}

/// [`Json::display`] of a `Value`.
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
