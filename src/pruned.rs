//! Parsing an AdmissionReview into a `Value` that holds only the members the webhook
//! reads. The rest of the body (managedFields, block devices, tags, user info, ...) is
//! still checked to be valid JSON but skipped without building anything: on a
//! realistic MachineSet that is most of the tree, and most of the time spent parsing.
//!
//! Every member on a path of interest keeps its JSON type: an object stays an object
//! (with its members of interest), a scalar stays exactly as sent, and an array where
//! an object was expected becomes an empty array, which every check treats as the
//! non-object it is.

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// Which members of an object to keep.
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
            ("kind", All),
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
/// nesting past serde_json's recursion limit), except inside members that are skipped:
/// there deep nesting is skipped without recursion, and escapes are not decoded (a lone
/// surrogate, which no API server sends, is not an error).
pub fn review_from_slice(body: &[u8]) -> Result<Value, serde_json::Error> {
    // Skipped strings are not decoded, so the body's UTF-8 is checked here, whole.
    let text = std::str::from_utf8(body).map_err(|e| {
        <serde_json::Error as de::Error>::custom(format_args!(
            "invalid unicode code point at byte {}",
            e.valid_up_to()
        ))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let value = Pruned(&REVIEW).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

struct Pruned(&'static Interest);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            All => serde::Deserialize::deserialize(deserializer),
            Members(members) => deserializer.deserialize_any(MembersVisitor(members)),
        }
    }
}

struct MembersVisitor(&'static [(&'static str, Interest)]);

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(Key(key)) = map.next_key()? {
            match self.0.iter().find(|(name, _)| *name == key) {
                Some((name, interest)) => {
                    let value = map.next_value_seed(Pruned(interest))?;
                    kept.insert((*name).to_owned(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Array(Vec::new()))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
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
            review_from_slice(body).unwrap(),
            json!({"request": {"object": {"spec": [], "metadata": "x"}, "oldObject": 7, "uid": {"a": 1}}})
        );
        // Escaped member names are matched after unescaping, as serde_json reads them.
        let body = br#"{"request": {"u\u0069d": "escaped"}}"#;
        assert_eq!(
            review_from_slice(body).unwrap()["request"]["uid"],
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
            review_from_slice(skipped.as_bytes()).unwrap(),
            json!({"request": {}})
        );
    }
}
