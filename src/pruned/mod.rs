//! Parsing an AdmissionReview into only the members the webhook reads, without
//! building a tree. The rest of the body (managedFields, block devices, tags, user
//! info, ...) is still checked to be valid JSON but skipped: on a realistic MachineSet
//! that is most of the body, and most of the time spent parsing.
//!
//! What is read is fixed ([`REVIEW`]), so the parse fills one slot per member of that
//! tree, borrowing strings from the body, and the rules read the slots through
//! [`Json`]. Every member on a path of interest keeps its JSON type: an object stays an
//! object (with its members of interest), a scalar stays exactly as sent, a container
//! where a scalar is read is kept whole (as a `Value`, only ever on bad input), and an
//! array where an object was expected is an array whose items are skipped, which every
//! check treats as the non-object it is.

use crate::core::Json;
use crate::core::field_error::quote;
use crate::core::json::display_value;
use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

mod scan;

/// Which members of an object to keep.
enum Interest {
    /// The whole value: a scalar the rules read (a container there is kept whole, for
    /// its error).
    All,
    /// These members, each with its own interest; the others are skipped.
    Members(&'static [(&'static str, Interest)]),
}

use Interest::{All, Members};

/// The provider config fields the rules read (Machine API), or the machine spec
/// fields (Cluster API).
const MACHINE_FIELDS: Interest = Members(&[
    ("apiVersion", All),
    ("kind", All),
    ("networkInterfaceType", All),
    ("instanceType", All),
    ("placement", Members(&[("region", All)])),
]);

const PROVIDER_SPEC: Interest = Members(&[("value", MACHINE_FIELDS)]);

/// The labels the rules read.
const LABELS: Interest = Members(&[
    (crate::core::object::ROLE_LABEL, All),
    (crate::core::object::CLUSTER_NAME_LABEL, All),
    (crate::core::object::CONTROL_PLANE_LABEL, All),
]);

const METADATA: Interest = Members(&[
    ("name", All),
    ("generateName", All),
    ("namespace", All),
    ("deletionTimestamp", All),
    ("labels", LABELS),
    (
        "annotations",
        Members(&[(crate::core::SKIP_CAPABILITY_CHECK_ANNOTATION, All)]),
    ),
]);

/// An object of any kind this webhook decides on: Machine, MachineSet, AWSMachine,
/// AWSMachineTemplate. Their paths do not collide, so one tree serves them all.
const OBJECT: Interest = Members(&[
    ("apiVersion", All),
    ("kind", All),
    ("metadata", METADATA),
    (
        "spec",
        Members(&[
            // Machine.
            ("providerSpec", PROVIDER_SPEC),
            // AWSMachine.
            ("networkInterfaceType", All),
            ("instanceType", All),
            (
                "template",
                Members(&[
                    ("metadata", Members(&[("labels", LABELS)])),
                    (
                        "spec",
                        Members(&[
                            // MachineSet.
                            ("providerSpec", PROVIDER_SPEC),
                            // AWSMachineTemplate.
                            ("networkInterfaceType", All),
                            ("instanceType", All),
                        ]),
                    ),
                ]),
            ),
        ]),
    ),
]);

const REVIEW: Interest = Members(&[
    ("apiVersion", All),
    ("kind", All),
    (
        "request",
        Members(&[
            ("uid", All),
            (
                "kind",
                Members(&[("group", All), ("version", All), ("kind", All)]),
            ),
            ("operation", All),
            ("name", All),
            ("namespace", All),
            ("object", OBJECT),
            ("oldObject", OBJECT),
        ]),
    ),
]);

/// [`REVIEW`] flattened: node 0 is the review, and each node lists its members' nodes.
struct Node {
    /// The names and nodes of its members; `None` for a member read whole.
    members: Option<Vec<(&'static str, u16)>>,
}

static TREE: LazyLock<Vec<Node>> = LazyLock::new(|| {
    fn add(tree: &mut Vec<Node>, interest: &Interest) -> u16 {
        let id = u16::try_from(tree.len()).expect("a small tree");
        tree.push(Node { members: None });
        if let Members(members) = interest {
            let ids = members
                .iter()
                .map(|(key, interest)| (*key, add(tree, interest)))
                .collect();
            tree[usize::from(id)].members = Some(ids);
        }
        id
    }
    let mut tree = Vec::new();
    add(&mut tree, &REVIEW);
    tree
});

/// The member `key` of node `id` in the tree.
fn child(id: u16, key: &str) -> Option<u16> {
    member_named(TREE[usize::from(id)].members.as_deref()?, key.as_bytes())
}

/// The node of the member called `name` among `members`, if it is read. Most names
/// are not: their length or first byte tells, without a comparison call.
#[inline(always)]
fn member_named(members: &[(&'static str, u16)], name: &[u8]) -> Option<u16> {
    members
        .iter()
        .find(|(known, _)| {
            let known = known.as_bytes();
            known.len() == name.len() && known.first() == name.first() && known == name
        })
        .map(|&(_, member)| member)
}

/// What the body holds at one node of the tree.
#[derive(Clone, Debug, Default, PartialEq)]
enum Slot<'a> {
    #[default]
    Absent,
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    /// An object whose members of interest are in their own slots.
    Object,
    /// An array where an object was expected; its items are skipped.
    Array,
    /// A container where a scalar was expected, kept whole for display and equality.
    Whole(Box<Value>),
}

/// The members of one AdmissionReview that the webhook reads.
#[derive(Debug, PartialEq)]
pub struct PrunedReview<'a> {
    slots: Vec<Slot<'a>>,
}

/// The review in `body`, with only what the webhook reads. Fails where
/// `serde_json::from_slice::<Value>` fails (invalid JSON or UTF-8, trailing bytes,
/// nesting past serde_json's recursion limit), except inside members that are skipped:
/// there deep nesting is skipped without recursion, escapes are not decoded (a lone
/// surrogate, which no API server sends, is not an error), and numbers are checked
/// against JSON's grammar but not converted (one past f64's range is not an error).
pub fn review_from_slice(body: &[u8]) -> Result<PrunedReview<'_>, serde_json::Error> {
    let text = utf8(body)?;
    match scan::scan(text) {
        Some(slots) => Ok(PrunedReview { slots }),
        None => exact(text),
    }
}

/// [`review_from_slice`] by serde_json alone: the reference its fast path is tested
/// against, and what answers the bodies that path gives up on.
pub fn review_from_slice_exact(body: &[u8]) -> Result<PrunedReview<'_>, serde_json::Error> {
    exact(utf8(body)?)
}

/// Skipped strings are not decoded, so the body's UTF-8 is checked here, whole.
fn utf8(body: &[u8]) -> Result<&str, serde_json::Error> {
    std::str::from_utf8(body).map_err(|e| {
        <serde_json::Error as de::Error>::custom(format_args!(
            "invalid unicode code point at byte {}",
            e.valid_up_to()
        ))
    })
}

fn exact(text: &str) -> Result<PrunedReview<'_>, serde_json::Error> {
    let mut slots = vec![Slot::Absent; TREE.len()];
    let mut deserializer = serde_json::Deserializer::from_str(text);
    Fill {
        slots: &mut slots,
        id: 0,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(PrunedReview { slots })
}

impl PrunedReview<'_> {
    /// The review itself.
    pub fn root(&self) -> Pruned<'_> {
        Pruned {
            slots: &self.slots,
            id: 0,
        }
    }
}

/// A handle on one member of a [`PrunedReview`], read by the rules as [`Json`].
#[derive(Clone, Copy)]
pub struct Pruned<'v> {
    slots: &'v [Slot<'v>],
    id: u16,
}

impl<'v> Pruned<'v> {
    fn slot(self) -> &'v Slot<'v> {
        &self.slots[usize::from(self.id)]
    }

    fn at(self, id: u16) -> Option<Self> {
        let found = Pruned { id, ..self };
        (!matches!(found.slot(), Slot::Absent)).then_some(found)
    }
}

impl Pruned<'_> {
    /// What was kept, as a `Value`: what a full parse would give with the members the
    /// webhook does not read removed (and arrays where objects were expected emptied).
    pub fn to_value(self) -> Value {
        match self.slot() {
            Slot::Absent | Slot::Null => Value::Null,
            Slot::Bool(b) => Value::Bool(*b),
            Slot::Number(n) => Value::Number(n.clone()),
            Slot::String(s) => Value::String(s.to_string()),
            Slot::Array => Value::Array(Vec::new()),
            Slot::Whole(value) => (**value).clone(),
            Slot::Object => Value::Object(
                TREE[usize::from(self.id)]
                    .members
                    .iter()
                    .flatten()
                    .filter_map(|&(name, id)| Some((name.to_owned(), self.at(id)?.to_value())))
                    .collect(),
            ),
        }
    }
}

impl fmt::Debug for Pruned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.slot().fmt(f)
    }
}

impl<'v> Json<'v> for Pruned<'v> {
    fn get(self, key: &str) -> Option<Self> {
        if !matches!(self.slot(), Slot::Object) {
            return None;
        }
        let Some(id) = child(self.id, key) else {
            // The rules read only what the tree keeps: a miss here is a bug in REVIEW.
            debug_assert!(false, "member {key:?} is read but not kept by the parse");
            return None;
        };
        self.at(id)
    }

    fn as_str(self) -> Option<&'v str> {
        match self.slot() {
            Slot::String(text) => Some(text),
            _ => None,
        }
    }

    fn is_null(self) -> bool {
        matches!(self.slot(), Slot::Null)
    }

    fn is_object(self) -> bool {
        match self.slot() {
            Slot::Object => true,
            Slot::Whole(value) => value.is_object(),
            _ => false,
        }
    }

    fn display(self) -> String {
        match self.slot() {
            Slot::Absent | Slot::Null => "null".to_owned(),
            Slot::Bool(b) => b.to_string(),
            Slot::Number(n) => n.to_string(),
            Slot::String(s) => quote(s),
            Slot::Object => "\"object\"".to_owned(),
            Slot::Array => "\"array\"".to_owned(),
            Slot::Whole(value) => display_value(value),
        }
    }

    fn same(self, other: Self) -> bool {
        match (self.slot(), other.slot()) {
            // Objects read member by member: the same as far as the rules read them.
            (Slot::Object, Slot::Object) => {
                let members = TREE[usize::from(self.id)].members.as_deref();
                let other_members = TREE[usize::from(other.id)].members.as_deref();
                members.zip(other_members).is_some_and(|(a, b)| {
                    a.len() == b.len()
                        && a.iter().zip(b).all(|(&(_, a), &(_, b))| {
                            match (self.at(a), other.at(b)) {
                                (None, None) => true,
                                (Some(a), Some(b)) => a.same(b),
                                _ => false,
                            }
                        })
                })
            }
            // Their items were skipped unread.
            (Slot::Array, Slot::Array) => false,
            (a, b) => a == b,
        }
    }
}

/// Fills the slots of node `id` (and its members') from one JSON value.
struct Fill<'s, 'a> {
    slots: &'s mut [Slot<'a>],
    id: u16,
}

impl Fill<'_, '_> {
    /// A member seen twice replaces the first whole, as in a parsed `Value`.
    fn clear(&mut self, id: u16) {
        let slot = &mut self.slots[usize::from(id)];
        if matches!(slot, Slot::Absent) {
            return;
        }
        *slot = Slot::Absent;
        for &(_, member) in TREE[usize::from(id)].members.as_deref().unwrap_or_default() {
            self.clear(member);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Fill<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Fill<'_, 'de> {
    fn set<E>(self, slot: Slot<'de>) -> Result<(), E> {
        self.slots[usize::from(self.id)] = slot;
        Ok(())
    }

    fn is_read_whole(&self) -> bool {
        TREE[usize::from(self.id)].members.is_none()
    }
}

impl<'de> Visitor<'de> for Fill<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        if self.is_read_whole() {
            let value = Value::deserialize(MapAccessDeserializer::new(map))?;
            return self.set(Slot::Whole(Box::new(value)));
        }
        self.slots[usize::from(self.id)] = Slot::Object;
        while let Some(Key(key)) = map.next_key()? {
            match child(self.id, &key) {
                Some(member) => {
                    self.clear(member);
                    map.next_value_seed(Fill {
                        slots: &mut *self.slots,
                        id: member,
                    })?;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.is_read_whole() {
            let value = Value::deserialize(SeqAccessDeserializer::new(seq))?;
            return self.set(Slot::Whole(Box::new(value)));
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.set(Slot::Array)
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.set(Slot::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.set(Slot::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.set(Slot::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        // JSON has no NaN or infinity; serde_json's `Value` makes the same null of one.
        self.set(Number::from_f64(v).map_or(Slot::Null, Slot::Number))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.set(Slot::String(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.set(Slot::String(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.set(Slot::String(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.set(Slot::Null)
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.set(Slot::Null)
    }
}

/// A member name, borrowed from the body unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fast path's slots, if it takes the body, and the exact path's answer.
    fn both(body: &[u8]) -> (Option<Vec<Slot<'_>>>, Result<Vec<Slot<'_>>, String>) {
        // As review_from_slice runs it: on UTF-8 only.
        let fast = std::str::from_utf8(body).ok().and_then(scan::scan);
        let exact = utf8(body)
            .and_then(exact)
            .map(|r| r.slots)
            .map_err(|e| e.to_string());
        if let Some(fast) = &fast {
            assert_eq!(
                Ok(fast),
                exact.as_ref(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        (fast, exact)
    }

    fn fixtures(dir: &str) -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut found: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .map(|path| (path.display().to_string(), std::fs::read(&path).unwrap()))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn the_fast_path_takes_every_review_fixture_as_written_and_as_the_api_server_writes_it() {
        let reviews = fixtures("tests/fixtures");
        assert!(reviews.len() >= 10);
        for (path, body) in reviews {
            let compact =
                serde_json::to_vec(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
            for body in [body, compact] {
                assert!(both(&body).0.is_some(), "{path}: the fast path gave up");
            }
        }
    }

    #[test]
    fn the_fast_path_agrees_on_the_bad_input_corpus() {
        for (_, body) in fixtures("tests/fixtures/bad") {
            let _ = both(&body);
        }
    }

    #[test]
    fn the_fast_path_gives_up_on_what_only_the_exact_path_reads_right() {
        let review = |member: &str| {
            format!(
                r#"{{"apiVersion": "admission.k8s.io/v1", "request": {{"uid": "u", {member}, "object": null}}}}"#
            )
        };
        let deep = format!(r#""userInfo": {}{}"#, "[".repeat(200), "]".repeat(200));
        for member in [
            r#""name": "esc\u0061ped""#,
            r#""n\u0061me": "escaped key""#,
            r#""name": 7"#,
            r#""name": 1e400"#,
            r#""name": ["a"]"#,
            r#""name": "a", "name": "b""#,
            r#""kind": "MachineSet""#,
            &deep,
        ] {
            let body = review(member);
            let (fast, exact) = both(body.as_bytes());
            assert!(fast.is_none(), "{body}");
            // `1e400` is out of range only where it is read.
            assert_eq!(exact.is_ok(), !member.contains("1e400"), "{body}");
        }
    }

    #[test]
    fn the_fast_path_takes_only_json() {
        let good = r#"{"apiVersion": "admission.k8s.io/v1", "request": {"uid": "u", "dryRun": false, "options": {"a": [1, -2.5e+3, 0.1, true, null, "x\n\u00e9"]}, "object": null}}"#;
        let (fast, exact) = both(good.as_bytes());
        assert!(fast.is_some() && exact.is_ok());
        // Every prefix is broken JSON; so is each of these edits.
        let mut broken: Vec<String> = (0..good.len()).map(|n| good[..n].to_owned()).collect();
        for (from, to) in [
            ("false", "fals"),
            ("false", "False"),
            ("-2.5e+3", "-2.5e"),
            ("-2.5e+3", "-.5"),
            ("-2.5e+3", "02"),
            ("0.1", "1."),
            ("\\n", "\\x"),
            ("\\u00e9", "\\u00g9"),
            ("\"]}", "\",]}"),
            ("\"a\": [", "\"a\" ["),
            ("\"x", "\"\u{1}x"),
        ] {
            assert!(good.contains(from), "{from}");
            broken.push(good.replacen(from, to, 1));
        }
        broken.push(format!("{good} {{}}"));
        for body in broken {
            let (fast, exact) = both(body.as_bytes());
            assert!(fast.is_none() && exact.is_err(), "{body}");
        }
    }

    #[test]
    fn skipped_strings_with_escapes_end_where_serde_json_ends_them() {
        // An embedded document, as a last-applied annotation holds one, at every
        // alignment after a first escape (where words start to pass whole), with
        // characters outside ASCII, ending in each kind of escape; and the same broken.
        let document =
            r#"{\"a\":\"b\",\"cd\":[\"e\\\\\",\"\u00e9\"],\"日本\":\"é\",\"f\":\"g\\n\"}"#;
        for pad in 0..9 {
            for end in ["", "\\\\", "\\\"", "\\n", "x\\\"\\\"", "\\\\\\\\"] {
                let string = format!("\\\"{}{document}{end}", "p".repeat(pad));
                let review = |text: &str| {
                    format!(r#"{{"request": {{"userInfo": {{"note": "{text}"}}, "uid": "u"}}}}"#)
                };
                let body = review(&string);
                let (fast, exact) = both(body.as_bytes());
                assert!(fast.is_some() && exact.is_ok(), "{string}");
                for broken in [
                    format!("{string}\\"),
                    format!("{string}\\\"\\"),
                    string.replacen("\\\"b", "\\\"\u{1}", 1),
                    string.replacen("\\\"b", "\\\"\\q", 1),
                    string.replacen("\\\"cd", "\"cd", 1),
                ] {
                    let body = review(&broken);
                    let (fast, exact) = both(body.as_bytes());
                    assert!(fast.is_none() && exact.is_err(), "{broken}");
                }
            }
        }
    }

    #[test]
    fn utf8_is_checked_in_skipped_and_read_strings() {
        let review = |skipped: &[u8], read: &[u8]| {
            [
                &br#"{"request": {"userInfo": {"note": "x"#[..],
                skipped,
                br#"y"}, "name": ""#,
                read,
                br#"", "uid": "u"}}"#,
            ]
            .concat()
        };
        let good: [&[u8]; 5] = [
            b"",
            "é".as_bytes(),
            "€ and 😀".as_bytes(),
            "ab".as_bytes(),
            "日本語のテキストです".as_bytes(),
        ];
        let bad: [&[u8]; 6] = [
            b"\xc3",             // cut short
            b"\xc3\x28",         // a lead byte, then ASCII
            b"\x80",             // a continuation byte alone
            b"\xc0\xaf",         // overlong
            b"\xed\xa0\x80",     // a surrogate
            b"\xf4\x90\x80\x80", // past U+10FFFF
        ];
        for text in good {
            for body in [review(text, b"n"), review(b"s", text)] {
                let (fast, exact) = both(&body);
                assert!(
                    fast.is_some() && exact.is_ok(),
                    "{}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        for text in bad {
            for body in [
                review(text, b"n"),
                review(b"s", text),
                review(&[b"long enough ", text].concat(), b"n"),
            ] {
                let (fast, exact) = both(&body);
                assert!(fast.is_none() && exact.is_err(), "{:?}", body);
            }
        }
    }

    #[test]
    fn keeps_what_is_read_and_drops_the_rest() {
        let body = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u", "kind": {"group": "machine.openshift.io", "version": "v1beta1", "kind": "MachineSet"},
                "operation": "CREATE", "userInfo": {"username": "jane"}, "dryRun": false,
                "object": {
                    "metadata": {"name": "ms", "labels": {"a": "b", "machine.openshift.io/cluster-api-machine-role": "worker"}, "managedFields": [{"manager": "kubectl"}],
                                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}",
                                                 "machine-efa-webhook.io/skip-capability-check": "true"}},
                    "spec": {"replicas": 3, "template": {"metadata": {"labels": {"r": "w"}}, "spec": {"providerSpec": {"value": {
                        "kind": "AWSMachineProviderConfig", "instanceType": "m5.2xlarge", "networkInterfaceType": "EFA",
                        "blockDevices": [{"ebs": {"volumeSize": 120}}], "placement": {"region": "us-east-1", "availabilityZone": "us-east-1a"}
                    }}}}}
                },
                "oldObject": null
            }
        });
        let pruned = review_from_slice(body.to_string().as_bytes())
            .unwrap()
            .root()
            .to_value();
        assert_eq!(
            pruned,
            json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {
                    "uid": "u", "kind": {"group": "machine.openshift.io", "version": "v1beta1", "kind": "MachineSet"},
                    "operation": "CREATE",
                    "object": {
                        "metadata": {"name": "ms", "labels": {"machine.openshift.io/cluster-api-machine-role": "worker"},
                                     "annotations": {"machine-efa-webhook.io/skip-capability-check": "true"}},
                        "spec": {"template": {"metadata": {"labels": {}}, "spec": {"providerSpec": {"value": {
                            "kind": "AWSMachineProviderConfig", "instanceType": "m5.2xlarge", "networkInterfaceType": "EFA",
                            "placement": {"region": "us-east-1"}
                        }}}}}
                    },
                    "oldObject": null
                }
            })
        );
    }

    #[test]
    fn types_on_the_paths_are_kept() {
        let body = br#"{"request": {"object": {"spec": [1, 2], "metadata": "x"}, "oldObject": 7, "uid": {"a": 1}}}"#;
        assert_eq!(
            review_from_slice(body).unwrap().root().to_value(),
            json!({"request": {"object": {"spec": [], "metadata": "x"}, "oldObject": 7, "uid": {"a": 1}}})
        );
        // Escaped member names are matched after unescaping, as serde_json reads them.
        let body = br#"{"request": {"u\u0069d": "escaped"}}"#;
        assert_eq!(
            review_from_slice(body).unwrap().root().to_value()["request"]["uid"],
            "escaped"
        );
    }

    #[test]
    fn fails_where_a_full_parse_fails() {
        // Deep nesting in a member that is read.
        let deep = format!(
            "{{\"request\": {{\"uid\": {}{}}}}}",
            "[".repeat(200),
            "]".repeat(200)
        );
        let cut_utf8: &[u8] = b"{\"request\": {\"userInfo\": \"\xe2\x82\"}}";
        for body in [
            &b"{"[..],
            b"{} x",
            b"[1,]",
            b"{\"a\": tru}",
            b"",
            deep.as_bytes(),
            cut_utf8,
        ] {
            assert_eq!(
                review_from_slice(body).is_err(),
                serde_json::from_slice::<Value>(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // In a skipped member, deep nesting is skipped without recursion.
        let skipped = format!(
            "{{\"request\": {{\"userInfo\": {}{}}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            review_from_slice(skipped.as_bytes())
                .unwrap()
                .root()
                .to_value(),
            json!({"request": {}})
        );
    }
}
