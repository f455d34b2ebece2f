//! Properties of the request decoder and the core together (`Webhook::answer`, no
//! HTTP), over arbitrary JSON in every place of a review, arbitrary mutations of the
//! realistic fixtures, and arbitrary bytes:
//!
//! - never a panic;
//! - a body with a usable envelope (see [`usable_uid`]) is always answered, and any
//!   other body is always refused (a 400); a body that is JSON but for depth or a lone
//!   surrogate, which the webhook may find only in members it skips, may be either;
//! - every answer is a well-formed AdmissionReview that echoes the uid; a denial is a 403
//!   with a message and causes; a patch comes only from `/mutate` on an allowed answer, is
//!   base64 of a JSON Patch that applies to the sent object and changes nothing but
//!   `networkInterfaceType`, to a canonical value; every warning is single-line and at
//!   most 256 characters;
//! - another kind's review, and a DELETE or CONNECT of ours, is allowed untouched;
//! - the rules decide the same on the pruned parse as on a full `serde_json::Value`.
//!
//! More than 100,000 cases per run in all (see `CASES_*`), each answered by both
//! endpoints. Failures are not persisted to files; a failure names the minimal input
//! and the body.

use crate::common;

use base64::Engine;
use machine_efa_webhook::admission::{self, ADMISSION_API_VERSION, BadRequest, Endpoint, Webhook};
use machine_efa_webhook::capabilities::CapabilityStore;
use machine_efa_webhook::core::{
    self, InterfaceType, Operation, Policy, Spelling, TargetKind, UnknownInstanceType,
};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::string::string_regex;
use proptest::test_runner::{RngAlgorithm, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use std::fmt::Debug;
use std::sync::{Arc, LazyLock};

const CASES_ARBITRARY_JSON: u32 = 30_000;
const CASES_MUTATED_MACHINESET_CREATES: u32 = 25_000;
const CASES_MUTATED_MACHINESET_UPDATES: u32 = 20_000;
const CASES_MUTATED_MACHINES: u32 = 20_000;
const CASES_BYTES: u32 = 12_000;
const _: () = assert!(
    CASES_ARBITRARY_JSON
        + CASES_MUTATED_MACHINESET_CREATES
        + CASES_MUTATED_MACHINESET_UPDATES
        + CASES_MUTATED_MACHINES
        + CASES_BYTES
        >= 100_000,
    "issue 4 asks for at least 100k cases per run"
);

/// The longest warning the API server passes on untruncated.
const MAX_WARNING_CHARS: usize = 256;

const MACHINESET_CREATE: &str = "machineset-create-efa-m5.json";
const MACHINESET_UPDATE: &str = "machineset-update-ratchet.json";
const MACHINE_CREATE: &str = "machine-create-efa-m5.json";

static STORE: LazyLock<Arc<CapabilityStore>> = LazyLock::new(common::embedded_store);

fn run<S>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        // ChaCha took a fifth of the run time in the dev profile.
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    };
    if let Err(error) = TestRunner::new(config).run(&strategy, test) {
        panic!("{error}");
    }
}

/// The answer to `body`, as the server gives it, under `policy`.
fn review(endpoint: Endpoint, body: &[u8], policy: &Policy) -> Result<Vec<u8>, BadRequest> {
    Webhook::new(policy.clone(), STORE.clone())
        .answer(endpoint, body)
        .map(|answer| answer.body)
}

// ---------------------------------------------------------------------------------------
// The checks

/// The uid of a body the webhook must answer, or `None` for one it must refuse: a usable
/// envelope is an object with `apiVersion: admission.k8s.io/v1`, `kind: AdmissionReview`
/// and a `request` object with a non-empty string `uid` and a `kind` object of `group`,
/// `version` and `kind` strings.
fn usable_uid(sent: &Value) -> Option<&str> {
    if sent.get("apiVersion")?.as_str()? != ADMISSION_API_VERSION
        || sent.get("kind")?.as_str()? != "AdmissionReview"
    {
        return None;
    }
    let request = sent.get("request").filter(|r| r.is_object())?;
    let kind = request.get("kind")?;
    for part in ["group", "version", "kind"] {
        kind.get(part)?.as_str()?;
    }
    request.get("uid")?.as_str().filter(|uid| !uid.is_empty())
}

fn our_kind(request: &Value) -> bool {
    target_kind(request).is_some()
}

fn target_kind(request: &Value) -> Option<TargetKind> {
    let kind = &request["kind"];
    TargetKind::from_gvk(
        kind["group"].as_str()?,
        kind["version"].as_str()?,
        kind["kind"].as_str()?,
    )
}

fn shown(body: &[u8]) -> String {
    const MAX: usize = 20_000;
    let text = String::from_utf8_lossy(body);
    if text.len() <= MAX {
        text.into_owned()
    } else {
        let cut = (0..=MAX).rev().find(|&i| text.is_char_boundary(i)).unwrap();
        format!("{}… ({} bytes)", &text[..cut], body.len())
    }
}

/// Answers `review` on both endpoints under `policy` and checks every answer.
fn check_value(review: &Value, policy: &Policy) -> Result<(), TestCaseError> {
    let body = serde_json::to_vec(review).unwrap();
    check_sent(&body, Some(review), policy)
}

/// Answers `body` on both endpoints under `policy` and checks every answer.
fn check(body: &[u8], policy: &Policy) -> Result<(), TestCaseError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(sent) => check_sent(body, Some(&sent), policy),
        // The webhook skips the members it does not read without recursing or decoding
        // escapes, so depth or a lone surrogate there is no error to it: such a body may
        // be answered or refused, but an answer must still be a review.
        Err(e) if is_only_skippable(&e) => {
            for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
                if let Ok(answer) = review(endpoint, body, policy) {
                    let answer: Value = serde_json::from_slice(&answer)
                        .map_err(|e| TestCaseError::fail(format!("the answer is not JSON: {e}")))?;
                    prop_assert_eq!(&answer["kind"], "AdmissionReview");
                    prop_assert!(answer["response"]["allowed"].is_boolean());
                }
            }
            Ok(())
        }
        Err(_) => check_sent(body, None, policy),
    }
}

/// JSON that only serde_json's depth limit, surrogate check or number range refuses.
fn is_only_skippable(error: &serde_json::Error) -> bool {
    let text = error.to_string();
    [
        "recursion limit exceeded",
        "surrogate",
        "hex escape",
        "number out of range",
    ]
    .iter()
    .any(|what| text.contains(what))
}

/// `sent` is `body` parsed, or `None` when it is not JSON.
fn check_sent(body: &[u8], sent: Option<&Value>, policy: &Policy) -> Result<(), TestCaseError> {
    let uid = sent.and_then(usable_uid);
    for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
        let answer = review(endpoint, body, policy);
        match (answer, uid) {
            (Err(refusal), None) => {
                prop_assert!(!refusal.reason().is_empty());
                let message = refusal.to_string();
                let error_body: Value =
                    serde_json::from_slice(&admission::error_body(&message)).unwrap();
                prop_assert_eq!(&error_body["error"], &Value::from(message));
            }
            (Err(refusal), Some(uid)) => {
                return Err(TestCaseError::fail(format!(
                    "{endpoint:?} refused ({refusal}) a review with uid {uid:?}; body: {}",
                    shown(body)
                )));
            }
            (Ok(answer), None) => {
                return Err(TestCaseError::fail(format!(
                    "{endpoint:?} answered a body without a usable envelope: {}; body: {}",
                    shown(&answer),
                    shown(body)
                )));
            }
            (Ok(answer), Some(uid)) => {
                let request = &sent.unwrap()["request"];
                decides_as_a_full_parse(body, policy)?;
                check_answer(endpoint, policy, request, uid, &answer).map_err(|e| {
                    TestCaseError::fail(format!(
                        "{endpoint:?}: {e}\nanswer: {}\nbody: {}",
                        shown(&answer),
                        shown(body)
                    ))
                })?;
            }
        }
    }
    Ok(())
}

/// The rules read the pruned parse (what the server answers from) exactly as they read
/// the full `Value` of the same body: the same decision from both, on both endpoints.
fn decides_as_a_full_parse(body: &[u8], policy: &Policy) -> Result<(), TestCaseError> {
    // The body parsed, not the `Value` it was written from: floats need not round-trip.
    let Ok(full) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    let request = &full["request"];
    let operation = match request["operation"].as_str() {
        Some("CREATE") => Operation::Create,
        Some("UPDATE") => Operation::Update,
        Some("DELETE") => Operation::Delete,
        Some("CONNECT") => Operation::Connect,
        _ => return Ok(()),
    };
    let kind = &request["kind"];
    let gvk = (
        kind["group"].as_str(),
        kind["version"].as_str(),
        kind["kind"].as_str(),
    );
    let (Some(group), Some(version), Some(kind)) = gvk else {
        return Ok(());
    };
    let lean = admission::prune::review_from_slice(body).unwrap();
    let lean = &lean["request"];
    let full_request = core::Request {
        group,
        version,
        kind,
        operation,
        object: core::object::present(request, "object"),
        old_object: core::object::present(request, "oldObject"),
        cluster_region: None,
    };
    let lean_request = core::Request {
        group,
        version,
        kind,
        operation,
        object: core::object::present(lean, "object"),
        old_object: core::object::present(lean, "oldObject"),
        cluster_region: None,
    };
    prop_assert_eq!(
        core::mutate(&full_request, policy),
        core::mutate(&lean_request, policy)
    );
    prop_assert_eq!(
        core::validate(&full_request, policy, &STORE.view()),
        core::validate(&lean_request, policy, &STORE.view())
    );
    Ok(())
}

fn check_answer(
    endpoint: Endpoint,
    policy: &Policy,
    request: &Value,
    uid: &str,
    answer: &[u8],
) -> Result<(), TestCaseError> {
    let answer: Value = serde_json::from_slice(answer)
        .map_err(|e| TestCaseError::fail(format!("the answer is not JSON: {e}")))?;
    prop_assert_eq!(&answer["apiVersion"], ADMISSION_API_VERSION);
    prop_assert_eq!(&answer["kind"], "AdmissionReview");
    let response = &answer["response"];
    prop_assert!(response.is_object(), "no response object");
    prop_assert_eq!(response["uid"].as_str(), Some(uid), "uid not echoed");
    let allowed = response["allowed"].as_bool();
    prop_assert!(allowed.is_some(), "response.allowed is not a bool");
    let allowed = allowed.unwrap();

    if !allowed {
        let status = &response["status"];
        prop_assert_eq!(status["code"].as_u64(), Some(403), "a denial is not a 403");
        prop_assert!(
            status["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a denial without a message"
        );
        let causes = status["details"]["causes"].as_array();
        prop_assert!(
            causes.is_some_and(|c| !c.is_empty()),
            "a denial without causes"
        );
        for cause in causes.unwrap() {
            prop_assert!(cause["reason"].as_str().is_some_and(|r| !r.is_empty()));
            prop_assert!(cause["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
    }

    match response.get("warnings") {
        None | Some(Value::Null) => {}
        Some(Value::Array(warnings)) => {
            for warning in warnings {
                let text = warning.as_str();
                prop_assert!(text.is_some(), "a warning is not a string: {}", warning);
                let text = text.unwrap();
                prop_assert!(!text.is_empty(), "an empty warning");
                prop_assert!(
                    text.chars().count() <= MAX_WARNING_CHARS,
                    "a warning of {} chars (> {MAX_WARNING_CHARS}): {text}",
                    text.chars().count()
                );
                prop_assert!(
                    !text.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']),
                    "a warning spans lines: {text:?}"
                );
            }
        }
        Some(other) => {
            return Err(TestCaseError::fail(format!(
                "warnings is not an array: {other}"
            )));
        }
    }

    let patch = response.get("patch").filter(|p| !p.is_null());
    if let Some(patch) = patch {
        prop_assert_eq!(
            endpoint,
            Endpoint::Mutate,
            "/validate answered with a patch"
        );
        prop_assert!(allowed, "a denial carries a patch");
        prop_assert_eq!(&response["patchType"], "JSONPatch");
        check_patch(policy, request, patch)?;
    }

    // Nothing but an AWS Machine or MachineSet under CREATE or UPDATE is ever touched.
    let operation = request.get("operation").and_then(Value::as_str);
    if !our_kind(request) || matches!(operation, Some("DELETE" | "CONNECT")) {
        prop_assert!(allowed, "another kind, or a DELETE or CONNECT, was denied");
        prop_assert!(
            patch.is_none(),
            "another kind, or a DELETE or CONNECT, was patched"
        );
        prop_assert!(
            response.get("warnings").is_none_or(Value::is_null),
            "another kind, or a DELETE or CONNECT, was warned about"
        );
    }
    Ok(())
}

fn check_patch(policy: &Policy, request: &Value, patch: &Value) -> Result<(), TestCaseError> {
    let encoded = patch.as_str();
    prop_assert!(encoded.is_some(), "the patch is not a string: {}", patch);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.unwrap())
        .map_err(|e| TestCaseError::fail(format!("the patch is not base64: {e}")))?;
    let operations: json_patch::Patch = serde_json::from_slice(&decoded)
        .map_err(|e| TestCaseError::fail(format!("the patch is not a JSON Patch: {e}")))?;
    prop_assert!(!operations.0.is_empty(), "an empty patch");

    let object = request.get("object").filter(|o| o.is_object());
    prop_assert!(object.is_some(), "a patch without an object to apply it to");
    let object = object.unwrap();
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &operations)
        .map_err(|e| TestCaseError::fail(format!("the patch does not apply: {e}")))?;

    // Cluster API's enum is interface/efa whatever the configured spelling.
    let spelling = match target_kind(request) {
        Some(kind) if kind.is_cluster_api() => Spelling::Proposal,
        _ => policy.spelling,
    };
    let canonical = [
        spelling.canonical(InterfaceType::Standard),
        spelling.canonical(InterfaceType::Efa),
    ];
    let mut before = object.clone();
    for operation in &operations.0 {
        let (path, value) = match operation {
            json_patch::PatchOperation::Add(add) => (add.path.as_str(), &add.value),
            json_patch::PatchOperation::Replace(replace) => (replace.path.as_str(), &replace.value),
            other => {
                return Err(TestCaseError::fail(format!(
                    "a patch operation other than add or replace: {other:?}"
                )));
            }
        };
        prop_assert!(
            path.ends_with("/networkInterfaceType"),
            "the patch touches {path}"
        );
        prop_assert!(
            value.as_str().is_some_and(|v| canonical.contains(&v)),
            "the patch sets a value that is not canonical: {}",
            value
        );
        // Everything but the patched member is as sent.
        for side in [&mut before, &mut patched] {
            let (parent, _) = path.rsplit_once('/').unwrap();
            if let Some(Value::Object(map)) = side.pointer_mut(parent) {
                map.remove("networkInterfaceType");
            }
        }
    }
    prop_assert!(
        before == patched,
        "the patch changes more than networkInterfaceType"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Policies

#[derive(Clone, Debug)]
struct PolicyChoice {
    proposal_spelling: bool,
    deny_unknown: bool,
    default_region: &'static str,
}

impl PolicyChoice {
    fn policy(&self) -> Policy {
        Policy {
            spelling: if self.proposal_spelling {
                Spelling::Proposal
            } else {
                Spelling::OpenShift
            },
            unknown_instance_type: if self.deny_unknown {
                UnknownInstanceType::Deny
            } else {
                UnknownInstanceType::Warn
            },
            default_region: self.default_region.to_owned(),
        }
    }
}

fn policies() -> impl Strategy<Value = PolicyChoice> {
    (
        any::<bool>(),
        any::<bool>(),
        select(&["us-east-1", "us-east-2", "eu-west-1", "nowhere-1"][..]),
    )
        .prop_map(
            |(proposal_spelling, deny_unknown, default_region)| PolicyChoice {
                proposal_spelling,
                deny_unknown,
                default_region,
            },
        )
}

// ---------------------------------------------------------------------------------------
// Values

/// Strings the rules read specially, near misses, and hostile ones.
const SPECIAL: &[&str] = &[
    "efa",
    "EFA",
    "ENA",
    "interface",
    "Efa",
    "",
    "ena",
    "Interface",
    "INTERFACE",
    "eFA",
    " EFA",
    "EFA ",
    "EFA\n",
    "E\u{0}FA",
    "\u{0}",
    "\u{1b}[31mEFA\u{1b}[0m",
    "\u{202e}AFE",
    "EFA\u{200b}",
    "ＥＦＡ",
    "null",
    "true",
    "0",
    "m5.2xlarge",
    "m5.xlarge",
    "p4d.24xlarge",
    "hpc6a.48xlarge",
    "m5zn.metal",
    "c5n.18xlarge",
    "trn1.32xlarge",
    "M5.2XLARGE",
    "nonexistent.large",
    "us-east-1",
    "us-east-2",
    "eu-west-1",
    "mars-north-1",
    "US-EAST-1",
    "us-east-1 ",
    "\n",
    "\r\n",
    "\u{2028}",
    "\u{85}",
    "\"",
    "\\",
    "%s%n",
    "🦀",
    "master",
    "worker",
    "2026-11-25T00:00:00Z",
];

/// Keys that occur in reviews, so that arbitrary objects sometimes resemble one.
const KEYS: &[&str] = &[
    "apiVersion",
    "kind",
    "request",
    "uid",
    "operation",
    "object",
    "oldObject",
    "group",
    "version",
    "metadata",
    "labels",
    "deletionTimestamp",
    "spec",
    "template",
    "providerSpec",
    "value",
    "networkInterfaceType",
    "instanceType",
    "placement",
    "region",
    "machine.openshift.io/cluster-api-machine-role",
    "",
];

/// Repetitions of one unit around the length where messages elide (64 characters), and
/// (when `huge`) far past it.
fn long_string(huge: bool) -> impl Strategy<Value = String> {
    let units = select(
        &[
            "a", "é", "\u{1}", "\n", "\u{202e}", "🦀", "\"", "\\", "EFA", "\u{0}",
        ][..],
    );
    let near_elision = prop_oneof![
        select(&[63usize, 64, 65, 66, 85, 86, 128, 200, 256, 257][..]),
        0usize..400,
    ];
    let lengths = if huge {
        prop_oneof![8 => near_elision, 1 => select(&[4_096usize, 70_000][..])].boxed()
    } else {
        near_elision.boxed()
    };
    (select(SPECIAL), units, lengths).prop_map(|(prefix, unit, n)| {
        let mut s = String::with_capacity(prefix.len() + unit.len() * n);
        s.push_str(prefix);
        for _ in 0..n {
            s.push_str(unit);
        }
        s
    })
}

fn strings() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(SPECIAL).prop_map(str::to_owned),
        4 => string_regex("(?s).{0,24}").unwrap(),
        2 => "[a-z0-9.-]{0,20}",
        1 => long_string(false),
    ]
    .boxed()
}

fn keys() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(KEYS).prop_map(str::to_owned),
        1 => string_regex("(?s).{0,12}").unwrap(),
    ]
    .boxed()
}

/// Arbitrary JSON of bounded depth and size.
fn json_values() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        strings().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((keys(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
    .boxed()
}

/// A value for a field the rules read: mostly strings, sometimes another type.
fn field_values() -> BoxedStrategy<Value> {
    prop_oneof![
        8 => select(SPECIAL).prop_map(Value::from),
        3 => strings().prop_map(Value::from),
        2 => long_string(true).prop_map(Value::from),
        2 => json_values(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Envelopes

/// A replacement for one member of `request` (or the top level), or its removal.
#[derive(Clone, Debug)]
enum Member {
    Absent,
    Set(Value),
}

fn member(common: &'static [&'static str], weight: u32) -> BoxedStrategy<Member> {
    prop_oneof![
        weight => select(common).prop_map(|s| Member::Set(Value::from(s))),
        1 => Just(Member::Absent),
        1 => strings().prop_map(|s| Member::Set(Value::from(s))),
        1 => json_values().prop_map(Member::Set),
    ]
    .boxed()
}

fn api_versions() -> BoxedStrategy<Member> {
    member(
        &[
            ADMISSION_API_VERSION,
            ADMISSION_API_VERSION,
            "admission.k8s.io/v1beta1",
            "admission.k8s.io/v2",
            "",
        ],
        6,
    )
}

fn uids() -> BoxedStrategy<Member> {
    member(
        &[
            "cdf6c947-b21d-4703-ae6d-29ae24454af8",
            "705ab4f5-6393-11e8-b7cc-42010a800002",
            "",
            "x",
        ],
        6,
    )
}

fn operations() -> BoxedStrategy<Member> {
    member(
        &[
            "CREATE", "UPDATE", "DELETE", "CONNECT", "create", "PATCH", "",
        ],
        8,
    )
}

fn gvks() -> BoxedStrategy<Member> {
    let part = |common: &'static [&'static str]| {
        prop_oneof![
            6 => select(common).prop_map(Value::from),
            1 => strings().prop_map(Value::from),
            1 => json_values(),
        ]
    };
    prop_oneof![
        6 => (
            part(&["machine.openshift.io", "machine.openshift.io", "infrastructure.cluster.x-k8s.io", "", "apps"]),
            part(&["v1beta1", "v1beta1", "v1beta2", "v1", ""]),
            part(&["Machine", "MachineSet", "MachineSet", "AWSMachine", "AWSMachineTemplate", "machineset", "Pod", ""]),
        )
            .prop_map(|(g, v, k)| Member::Set(json!({"group": g, "version": v, "kind": k}))),
        1 => Just(Member::Absent),
        1 => json_values().prop_map(Member::Set),
    ]
    .boxed()
}

fn set_member(map: &mut Map<String, Value>, key: &str, member: Member) {
    match member {
        Member::Absent => {
            map.remove(key);
        }
        Member::Set(value) => {
            map.insert(key.to_owned(), value);
        }
    }
}

fn review_kinds() -> BoxedStrategy<Member> {
    member(
        &["AdmissionReview", "AdmissionReview", "admissionreview", ""],
        8,
    )
}

#[derive(Clone, Debug)]
struct EnvelopeChoice {
    api_version: Member,
    review_kind: Member,
    uid: Member,
    operation: Member,
    gvk: Member,
}

fn envelopes() -> impl Strategy<Value = EnvelopeChoice> {
    (api_versions(), review_kinds(), uids(), operations(), gvks()).prop_map(
        |(api_version, review_kind, uid, operation, gvk)| EnvelopeChoice {
            api_version,
            review_kind,
            uid,
            operation,
            gvk,
        },
    )
}

/// A review with the chosen envelope around `object` and `old_object`.
fn review_with(envelope: EnvelopeChoice, object: Member, old_object: Member) -> Value {
    let mut request = Map::new();
    set_member(&mut request, "uid", envelope.uid);
    set_member(&mut request, "kind", envelope.gvk);
    set_member(&mut request, "operation", envelope.operation);
    set_member(&mut request, "object", object);
    set_member(&mut request, "oldObject", old_object);
    let mut review = Map::new();
    set_member(&mut review, "apiVersion", envelope.api_version);
    set_member(&mut review, "kind", envelope.review_kind);
    review.insert("request".into(), Value::Object(request));
    Value::Object(review)
}

/// The fixtures as parsed once; each case clones one.
static FIXTURES: LazyLock<Vec<(&'static str, Value)>> = LazyLock::new(|| {
    [MACHINESET_CREATE, MACHINESET_UPDATE, MACHINE_CREATE]
        .into_iter()
        .map(|name| (name, common::fixture(name)))
        .collect()
});

fn fixture(name: &str) -> Value {
    FIXTURES.iter().find(|(n, _)| *n == name).unwrap().1.clone()
}

// ---------------------------------------------------------------------------------------
// Strategy 1: arbitrary JSON in every place of a review

#[derive(Clone, Debug)]
enum Placement {
    /// The whole body.
    Body(Value),
    /// `request` of an otherwise valid review.
    Request(Value),
    /// `request.object` (and maybe `oldObject`) under an arbitrary envelope.
    Object(EnvelopeChoice, Value, Member),
    /// `oldObject` beside a realistic MachineSet object, under an arbitrary envelope.
    OldObject(EnvelopeChoice, Value),
    /// The provider config of a realistic MachineSet (object or oldObject).
    ProviderConfig { old: bool, value: Value },
}

fn placements() -> impl Strategy<Value = Placement> {
    let maybe_old = prop_oneof![
        2 => Just(Member::Absent),
        1 => Just(Member::Set(Value::Null)),
        2 => json_values().prop_map(Member::Set),
    ];
    prop_oneof![
        2 => json_values().prop_map(Placement::Body),
        2 => json_values().prop_map(Placement::Request),
        3 => (envelopes(), json_values(), maybe_old)
            .prop_map(|(e, object, old)| Placement::Object(e, object, old)),
        2 => (envelopes(), json_values()).prop_map(|(e, old)| Placement::OldObject(e, old)),
        2 => (any::<bool>(), json_values())
            .prop_map(|(old, value)| Placement::ProviderConfig { old, value }),
    ]
}

fn placed(placement: Placement) -> Value {
    match placement {
        Placement::Body(value) => value,
        Placement::Request(request) => json!({
            "apiVersion": ADMISSION_API_VERSION,
            "kind": "AdmissionReview",
            "request": request,
        }),
        Placement::Object(envelope, object, old) => review_with(envelope, Member::Set(object), old),
        Placement::OldObject(envelope, old) => review_with(
            envelope,
            Member::Set(fixture(MACHINESET_CREATE)["request"]["object"].take()),
            Member::Set(old),
        ),
        Placement::ProviderConfig { old, value } => {
            let mut review = fixture(MACHINESET_UPDATE);
            let at = if old { "oldObject" } else { "object" };
            review["request"][at]["spec"]["template"]["spec"]["providerSpec"]["value"] = value;
            review
        }
    }
}

#[test]
fn arbitrary_json_in_every_place() {
    run(
        CASES_ARBITRARY_JSON,
        (placements(), policies()),
        |(placement, policy)| check_value(&placed(placement), &policy.policy()),
    );
}

// ---------------------------------------------------------------------------------------
// Strategy 2: mutations of the realistic fixtures

/// Where a mutation picks its path.
#[derive(Clone, Copy, Debug)]
enum Scope {
    Review,
    Object,
    OldObject,
    ProviderConfig,
    OldProviderConfig,
}

#[derive(Clone, Copy, Debug)]
enum Field {
    NetworkInterfaceType,
    InstanceType,
    Region,
    ProviderApiVersion,
    ProviderKind,
    DeletionTimestamp,
    RoleLabel,
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Replace the value at an existing path.
    Replace(Scope, Index, Value),
    /// Delete an existing path (an object member or an array element).
    Delete(Scope, Index),
    /// Add a member under an existing object.
    AddMember(Scope, Index, String, Value),
    /// Set one of the fields the rules read, in the object or the old object.
    SetField {
        old: bool,
        field: Field,
        value: Value,
    },
    /// Change the envelope.
    Envelope(EnvelopeChoice),
    /// Make the old object a copy of the object (the ratchet's favourite), or the reverse.
    CopyObject { to_old: bool },
}

fn scopes() -> impl Strategy<Value = Scope> {
    prop_oneof![
        2 => Just(Scope::Review),
        3 => Just(Scope::Object),
        1 => Just(Scope::OldObject),
        4 => Just(Scope::ProviderConfig),
        1 => Just(Scope::OldProviderConfig),
    ]
}

fn fields() -> impl Strategy<Value = Field> {
    prop_oneof![
        5 => Just(Field::NetworkInterfaceType),
        3 => Just(Field::InstanceType),
        3 => Just(Field::Region),
        1 => Just(Field::ProviderApiVersion),
        1 => Just(Field::ProviderKind),
        1 => Just(Field::DeletionTimestamp),
        1 => Just(Field::RoleLabel),
    ]
}

fn mutations() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (scopes(), any::<Index>(), json_values())
            .prop_map(|(s, i, v)| Mutation::Replace(s, i, v)),
        2 => (scopes(), any::<Index>()).prop_map(|(s, i)| Mutation::Delete(s, i)),
        2 => (scopes(), any::<Index>(), keys(), json_values())
            .prop_map(|(s, i, k, v)| Mutation::AddMember(s, i, k, v)),
        8 => (prop::bool::weighted(0.2), fields(), field_values())
            .prop_map(|(old, field, value)| Mutation::SetField { old, field, value }),
        2 => envelopes().prop_map(Mutation::Envelope),
        1 => any::<bool>().prop_map(|to_old| Mutation::CopyObject { to_old }),
    ]
}

/// RFC 6901 escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn children(value: &Value) -> Box<dyn Iterator<Item = (String, &Value)> + '_> {
    match value {
        Value::Object(map) => Box::new(map.iter().map(|(k, v)| (escape(k), v))),
        Value::Array(items) => Box::new(items.iter().enumerate().map(|(i, v)| (i.to_string(), v))),
        _ => Box::new(std::iter::empty()),
    }
}

/// How many paths `value` has (itself included); `objects_only` counts objects only.
fn count_paths(value: &Value, objects_only: bool) -> usize {
    let own = usize::from(!objects_only || value.is_object());
    let below: usize = match value {
        Value::Object(map) => map.values().map(|v| count_paths(v, objects_only)).sum(),
        Value::Array(items) => items.iter().map(|v| count_paths(v, objects_only)).sum(),
        _ => 0,
    };
    own + below
}

/// Appends to `path` the `n`th path of `value` in pre-order (see [`count_paths`]).
fn nth_path(value: &Value, mut n: usize, objects_only: bool, path: &mut String) {
    if !objects_only || value.is_object() {
        if n == 0 {
            return;
        }
        n -= 1;
    }
    for (token, child) in children(value) {
        let size = count_paths(child, objects_only);
        if n < size {
            path.push('/');
            path.push_str(&token);
            return nth_path(child, n, objects_only, path);
        }
        n -= size;
    }
    unreachable!("fewer paths than counted");
}

fn provider_config_pointer(review: &Value) -> &'static str {
    if review["request"]["kind"]["kind"] == "Machine" {
        "/spec/providerSpec/value"
    } else {
        "/spec/template/spec/providerSpec/value"
    }
}

/// The pointer of a scope's root, in `review` as it is now.
fn scope_base(review: &Value, scope: Scope) -> String {
    let provider = provider_config_pointer(review);
    match scope {
        Scope::Review => String::new(),
        Scope::Object => "/request/object".into(),
        Scope::OldObject => "/request/oldObject".into(),
        Scope::ProviderConfig => format!("/request/object{provider}"),
        Scope::OldProviderConfig => format!("/request/oldObject{provider}"),
    }
}

/// A path that exists in the scope now, chosen by `index`; the scope's root when the
/// scope is gone.
fn pick(review: &Value, scope: Scope, index: &Index, objects_only: bool) -> Option<String> {
    let mut base = scope_base(review, scope);
    while review.pointer(&base).is_none() {
        base.truncate(base.rfind('/')?);
    }
    let root = review.pointer(&base).unwrap();
    let count = count_paths(root, objects_only);
    if count == 0 {
        return None;
    }
    nth_path(root, index.index(count), objects_only, &mut base);
    Some(base)
}

/// Sets `pointer` to `value` when its parent is an object.
fn set_at(review: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    if let Some(Value::Object(map)) = review.pointer_mut(parent) {
        map.insert(unescape(key), value);
    }
}

fn mutate(review: &mut Value, mutation: Mutation) {
    match mutation {
        Mutation::Replace(scope, index, value) => {
            if let Some(path) = pick(review, scope, &index, false) {
                *review.pointer_mut(&path).unwrap() = value;
            }
        }
        Mutation::Delete(scope, index) => {
            let Some(path) = pick(review, scope, &index, false) else {
                return;
            };
            let Some((parent, key)) = path.rsplit_once('/') else {
                return;
            };
            match review.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&unescape(key));
                }
                Some(Value::Array(items)) => {
                    items.remove(key.parse::<usize>().unwrap());
                }
                _ => {}
            }
        }
        Mutation::AddMember(scope, index, key, value) => {
            if let Some(path) = pick(review, scope, &index, true)
                && let Some(Value::Object(map)) = review.pointer_mut(&path)
            {
                map.insert(key, value);
            }
        }
        Mutation::SetField { old, field, value } => {
            let object = if old {
                "/request/oldObject"
            } else {
                "/request/object"
            };
            let provider = provider_config_pointer(review);
            let role = "machine.openshift.io~1cluster-api-machine-role";
            let pointer = match field {
                Field::NetworkInterfaceType => format!("{object}{provider}/networkInterfaceType"),
                Field::InstanceType => format!("{object}{provider}/instanceType"),
                Field::Region => format!("{object}{provider}/placement/region"),
                Field::ProviderApiVersion => format!("{object}{provider}/apiVersion"),
                Field::ProviderKind => format!("{object}{provider}/kind"),
                Field::DeletionTimestamp => format!("{object}/metadata/deletionTimestamp"),
                Field::RoleLabel if provider.starts_with("/spec/template") => {
                    format!("{object}/spec/template/metadata/labels/{role}")
                }
                Field::RoleLabel => format!("{object}/metadata/labels/{role}"),
            };
            set_at(review, &pointer, value);
        }
        Mutation::Envelope(envelope) => {
            if let Value::Object(top) = review {
                set_member(top, "apiVersion", envelope.api_version);
                set_member(top, "kind", envelope.review_kind);
                if let Some(Value::Object(request)) = top.get_mut("request") {
                    set_member(request, "uid", envelope.uid);
                    set_member(request, "operation", envelope.operation);
                    set_member(request, "kind", envelope.gvk);
                }
            }
        }
        Mutation::CopyObject { to_old } => {
            let (from, to) = if to_old {
                ("object", "oldObject")
            } else {
                ("oldObject", "object")
            };
            if let Some(Value::Object(request)) = review.get_mut("request") {
                let copy = request.get(from).cloned().unwrap_or(Value::Null);
                request.insert(to.to_owned(), copy);
            }
        }
    }
}

/// Up to three mutations of the review in fixture `name`, under any policy.
fn mutated(name: &'static str, cases: u32) {
    let fixture = fixture(name);
    run(
        cases,
        (prop::collection::vec(mutations(), 1..4), policies()),
        |(mutations, policy)| {
            let mut review = fixture.clone();
            for mutation in mutations {
                mutate(&mut review, mutation);
            }
            check_value(&review, &policy.policy())
        },
    );
}

#[test]
fn mutated_machineset_creates() {
    mutated(MACHINESET_CREATE, CASES_MUTATED_MACHINESET_CREATES);
}

#[test]
fn mutated_machineset_updates() {
    mutated(MACHINESET_UPDATE, CASES_MUTATED_MACHINESET_UPDATES);
}

#[test]
fn mutated_machine_creates() {
    mutated(MACHINE_CREATE, CASES_MUTATED_MACHINES);
}

// ---------------------------------------------------------------------------------------
// Strategy 3: bytes

#[derive(Clone, Debug)]
enum Edit {
    Truncate(Index),
    Overwrite(Index, u8),
    Insert(Index, Vec<u8>),
}

#[derive(Clone, Debug)]
enum Bytes {
    /// Arbitrary bytes.
    Raw(Vec<u8>),
    /// A fixture's text with bytes edited.
    Edited(&'static str, Vec<Edit>),
    /// A review whose object is nested `depth` arrays deep.
    Nested(usize),
}

/// Byte strings that break JSON, UTF-8 or the envelope where they land.
const INSERTS: &[&[u8]] = &[
    b"\"uid\":\"dup\",",
    b"\xff",
    b"\xc3",
    b"\\u0000",
    b"\\ud800",
    b"{",
    b"]",
    b",",
    b"\"\"",
];

fn edits() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => any::<Index>().prop_map(Edit::Truncate),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Overwrite(i, b)),
        2 => (
            any::<Index>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..8),
                select(INSERTS)
                    .prop_map(<[u8]>::to_vec),
            ],
        )
            .prop_map(|(i, bytes)| Edit::Insert(i, bytes)),
    ]
}

fn byte_bodies() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Bytes::Raw),
        6 => (
            select(&[MACHINESET_CREATE, MACHINESET_UPDATE, MACHINE_CREATE][..]),
            prop::collection::vec(edits(), 1..4),
        )
            .prop_map(|(name, edits)| Bytes::Edited(name, edits)),
        1 => (0usize..300).prop_map(Bytes::Nested),
    ]
}

fn bytes_of(bytes: Bytes) -> Vec<u8> {
    match bytes {
        Bytes::Raw(bytes) => bytes,
        Bytes::Edited(name, edits) => {
            let mut body = std::fs::read(common::fixture_path(name)).unwrap();
            for edit in edits {
                match edit {
                    Edit::Truncate(i) => body.truncate(i.index(body.len() + 1)),
                    Edit::Overwrite(_, _) if body.is_empty() => {}
                    Edit::Overwrite(i, b) => {
                        let at = i.index(body.len());
                        body[at] = b;
                    }
                    Edit::Insert(i, bytes) => {
                        let at = i.index(body.len() + 1);
                        body.splice(at..at, bytes);
                    }
                }
            }
            body
        }
        Bytes::Nested(depth) => {
            let mut object = String::new();
            object.push_str(&"[".repeat(depth));
            object.push_str(&"]".repeat(depth));
            format!(
                r#"{{"apiVersion":"{ADMISSION_API_VERSION}","kind":"AdmissionReview","request":{{"uid":"u","kind":{{"group":"machine.openshift.io","version":"v1beta1","kind":"Machine"}},"operation":"CREATE","object":{{"spec":{{"providerSpec":{{"value":{object}}}}}}}}}}}"#
            )
            .into_bytes()
        }
    }
}

#[test]
fn arbitrary_and_corrupted_bytes() {
    run(
        CASES_BYTES,
        (byte_bodies(), policies()),
        |(bytes, policy)| check(&bytes_of(bytes), &policy.policy()),
    );
}
