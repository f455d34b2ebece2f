//! Arbitrary bytes into the request decoder and the core (`Webhook::answer`), through
//! both endpoints. Besides "never a panic": every answered body is a well-formed
//! AdmissionReview response, a body is answered only when it is a JSON object whose
//! `request.uid` is a non-empty string (depth, lone surrogates and huge numbers in the
//! members the webhook skips aside), and the answer echoes that uid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use machine_efa_webhook::admission::{ADMISSION_API_VERSION, Endpoint, Webhook, prune};
use machine_efa_webhook::capabilities::{CapabilityStore, snapshot};
use machine_efa_webhook::core::{Policy, Spelling, UnknownInstanceType};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

fn webhook() -> &'static Webhook {
    static WEBHOOK: OnceLock<Webhook> = OnceLock::new();
    WEBHOOK.get_or_init(|| {
        let policy = Policy {
            spelling: Spelling::OpenShift,
            unknown_instance_type: UnknownInstanceType::Warn,
            default_region: "us-east-1".into(),
        };
        Webhook::new(
            policy,
            Arc::new(CapabilityStore::fixed(snapshot::embedded_table())),
        )
    })
}

/// The request's uid, when `data` is JSON with a non-empty string `request.uid`.
fn sent_uid(data: &[u8]) -> Option<String> {
    let sent: Value = match serde_json::from_slice(data) {
        Ok(sent) => sent,
        // Depth, a lone surrogate or a number past f64's range in a member the webhook
        // skips is no error to it (`admission::prune`); the members it reads are parsed as
        // serde_json parses them.
        Err(e)
            if ["recursion limit", "surrogate", "hex escape", "number out of range"]
                .iter()
                .any(|what| e.to_string().contains(what)) =>
        {
            prune::review_from_slice(data).ok()?
        }
        Err(_) => return None,
    };
    match sent.get("request")?.get("uid")? {
        Value::String(uid) if !uid.is_empty() => Some(uid.clone()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let uid = sent_uid(data);
    for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
        let Ok(answer) = webhook().answer(endpoint, data) else {
            continue;
        };
        let uid = uid
            .as_deref()
            .expect("answered a body without a non-empty string request.uid");
        let answer: Value = serde_json::from_slice(&answer.body).expect("the answer is not JSON");
        assert_eq!(answer["apiVersion"], ADMISSION_API_VERSION, "{answer}");
        assert_eq!(answer["kind"], "AdmissionReview", "{answer}");
        let response = &answer["response"];
        assert_eq!(response["uid"], uid, "the uid is not echoed: {answer}");
        let allowed = response["allowed"]
            .as_bool()
            .unwrap_or_else(|| panic!("response.allowed is not a bool: {answer}"));
        if let Some(patch) = response.get("patch") {
            assert!(allowed, "a patch on a denial: {answer}");
            assert_eq!(
                endpoint,
                Endpoint::Mutate,
                "a patch from /validate: {answer}"
            );
            assert!(patch.is_string(), "the patch is not base64 text: {answer}");
        }
        if !allowed {
            assert_eq!(response["status"]["code"], 403, "{answer}");
        }
    }
});
