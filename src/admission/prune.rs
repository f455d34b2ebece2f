//! Parsing an AdmissionReview into a `Value` that holds only the members the webhook
//! reads. The rest of the body (managedFields, block devices, tags, user info, the
//! last-applied annotation) is still checked to be valid JSON, but skipped: on a
//! realistic MachineSet that is most of the body, and most of the time a full parse
//! would spend.
//!
//! What is read is fixed ([`REVIEW`]). A member on a path of interest keeps its JSON
//! type: an object keeps its members of interest, a value read whole is kept as sent
//! (a container there too, for its error), and an array where an object was expected
//! is kept empty, which every check treats as the non-object it is.

use serde::Deserialize;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// Which members of a value to keep.
enum Interest {
    /// The whole value.
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
    (
        "placement",
        Members(&[("region", All), ("availabilityZone", All)]),
    ),
    ("placementGroupName", All),
    ("securityGroups", All),
]);

/// A Cluster API machine's subnet, whose filters may name its zone.
const SUBNET: Interest = Members(&[("filters", All)]);

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
            ("placementGroupName", All),
            ("failureDomain", All),
            ("subnet", SUBNET),
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
                            ("placementGroupName", All),
                            ("failureDomain", All),
                            ("subnet", SUBNET),
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

/// The review in `body`, with only what the webhook reads. Fails where
/// `serde_json::from_slice::<Value>` fails (invalid JSON or UTF-8, trailing bytes,
/// nesting past serde_json's recursion limit), except inside members that are skipped,
/// as serde's `IgnoredAny` skips them: there deep nesting is no error, escapes are not
/// decoded (a lone surrogate is no error), and a number past f64's range is no error.
pub fn review_from_slice(body: &[u8]) -> Result<Value, serde_json::Error> {
    // Skipped strings are not decoded, so the body's UTF-8 is checked here, whole.
    let text = std::str::from_utf8(body).map_err(|e| {
        <serde_json::Error as de::Error>::custom(format_args!(
            "invalid unicode code point at byte {}",
            e.valid_up_to()
        ))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let review = Pruned(&REVIEW).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(review)
}

/// One value, kept as far as its interest says.
#[derive(Clone, Copy)]
struct Pruned(&'static Interest);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            All => Value::deserialize(deserializer),
            Members(_) => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for Pruned {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Members(members) = self.0 else {
            return Value::deserialize(MapAccessDeserializer::new(map));
        };
        let mut kept = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            match members.iter().find(|(name, _)| *name == key) {
                // A member given twice keeps the last, as a parsed `Value` does.
                Some((name, interest)) => {
                    kept.insert((*name).to_owned(), map.next_value_seed(Pruned(interest))?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let Members(_) = self.0 else {
            return Value::deserialize(SeqAccessDeserializer::new(seq));
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(Vec::new()))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // JSON has no NaN or infinity; serde_json's `Value` makes the same null of one.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// A member name, borrowed from the body unless it has escapes: most names are
/// skipped, and a name copied for each would be most of the parse's allocations.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The parse refuses `body` exactly when serde_json refuses it as a `Value`.
    fn agrees_with_serde_json(body: &[u8]) {
        assert_eq!(
            review_from_slice(body).is_ok(),
            serde_json::from_slice::<Value>(body).is_ok(),
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    #[test]
    fn takes_only_json() {
        let good = r#"{"apiVersion": "admission.k8s.io/v1", "request": {"uid": "u", "dryRun": false, "options": {"a": [1, -2.5e+3, 0.1, true, null, "x\n\u00e9"]}, "object": null}}"#;
        assert!(review_from_slice(good.as_bytes()).is_ok());
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
            agrees_with_serde_json(body.as_bytes());
        }
    }

    #[test]
    fn takes_every_body_of_the_corpus_that_serde_json_takes() {
        // It refuses more only where the doc comment says: in members it skips.
        for dir in ["tests/fixtures", "tests/fixtures/bad"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    continue;
                }
                let body = std::fs::read(&path).unwrap();
                if serde_json::from_slice::<Value>(&body).is_ok() {
                    assert!(review_from_slice(&body).is_ok(), "{}", path.display());
                }
            }
        }
    }

    #[test]
    fn skipped_strings_with_escapes_end_where_serde_json_ends_them() {
        // An embedded document, as a last-applied annotation holds one, with characters
        // outside ASCII, ending in each kind of escape; and the same broken.
        let document =
            r#"{\"a\":\"b\",\"cd\":[\"e\\\\\",\"\u00e9\"],\"日本\":\"é\",\"f\":\"g\\n\"}"#;
        for end in ["", "\\\\", "\\\"", "\\n", "x\\\"\\\"", "\\\\\\\\"] {
            let string = format!("\\\"{document}{end}");
            let review = |text: &str| {
                format!(r#"{{"request": {{"userInfo": {{"note": "{text}"}}, "uid": "u"}}}}"#)
            };
            assert!(
                review_from_slice(review(&string).as_bytes()).is_ok(),
                "{string}"
            );
            for broken in [
                format!("{string}\\"),
                format!("{string}\\\"\\"),
                string.replacen("\\\"b", "\\\"\u{1}", 1),
                string.replacen("\\\"b", "\\\"\\q", 1),
                string.replacen("\\\"cd", "\"cd", 1),
            ] {
                let body = review(&broken);
                assert!(review_from_slice(body.as_bytes()).is_err(), "{broken}");
                agrees_with_serde_json(body.as_bytes());
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
        let good: [&[u8]; 4] = [
            b"",
            "é".as_bytes(),
            "€ and 😀".as_bytes(),
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
                assert!(
                    review_from_slice(&body).is_ok(),
                    "{}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        for text in bad {
            for body in [review(text, b"n"), review(b"s", text)] {
                assert!(review_from_slice(&body).is_err(), "{:?}", body);
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
        let pruned = review_from_slice(body.to_string().as_bytes()).unwrap();
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
                            "placement": {"region": "us-east-1", "availabilityZone": "us-east-1a"}
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
            review_from_slice(body).unwrap(),
            json!({"request": {"object": {"spec": [], "metadata": "x"}, "oldObject": 7, "uid": {"a": 1}}})
        );
        // Escaped member names are matched after unescaping, as serde_json reads them;
        // a member given twice keeps the last.
        let body = br#"{"request": {"u\u0069d": "escaped", "name": "a", "name": "b"}}"#;
        let pruned = review_from_slice(body).unwrap();
        assert_eq!(pruned["request"]["uid"], "escaped");
        assert_eq!(pruned["request"]["name"], "b");
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
            agrees_with_serde_json(body);
        }
        // In a skipped member, deep nesting is skipped without recursion.
        let skipped = format!(
            "{{\"request\": {{\"userInfo\": {}{}}}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(
            review_from_slice(skipped.as_bytes()).unwrap(),
            json!({"request": {}})
        );
    }
}
