//! The bad-input corpus: every file in `tests/fixtures/bad/` is posted to both endpoints
//! over HTTP/2 and HTTP/1.1, and each answer is checked against
//! `tests/fixtures/bad/expected.json`, which maps a file to what a user sees on
//! `/mutate` and on `/validate`.

use crate::common;

use common::{TestServer, embedded_store, fixture_path, policy};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// No answer echoes the body, however big the body is.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

#[tokio::test]
async fn every_bad_input_gets_its_expected_answer() {
    let dir = fixture_path("bad");
    let expected: Map<String, Value> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "expected.json")
        .collect();
    let listed: BTreeSet<String> = expected.keys().cloned().collect();
    assert_eq!(
        files, listed,
        "every corpus file needs an entry in expected.json, and every entry a file"
    );

    let server = TestServer::start(policy(), embedded_store()).await;
    let mut wrong = Vec::new();
    for (http2, protocol) in [(true, "HTTP/2"), (false, "HTTP/1.1")] {
        let client = server.client(http2);
        for file in &files {
            let body = std::fs::read(dir.join(file)).unwrap();
            for endpoint in ["mutate", "validate"] {
                let answer = client
                    .post(server.url(&format!("/{endpoint}?timeout=10s")))
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                if let Err(problem) = check(answer, &expected[file][endpoint]).await {
                    wrong.push(format!("{file} /{endpoint} over {protocol}: {problem}"));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} answers differ from tests/fixtures/bad/expected.json:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Why `answer` is not the one `want` describes: `{"status", "error_contains"}` for an
/// HTTP error, `{"status": 200, "allowed", "uid", "message_starts_with"?}` for a review.
async fn check(answer: reqwest::Result<reqwest::Response>, want: &Value) -> Result<(), String> {
    let answer = answer.map_err(|e| format!("no answer: {e:?}"))?;
    let status = answer.status().as_u16();
    let text = answer.text().await.map_err(|e| format!("no body: {e:?}"))?;
    let shown: String = text.chars().take(400).collect();
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{status} with a body that is not JSON ({e}): {shown}"))?;
    if want["status"] != status {
        return Err(format!(
            "want status {}, got {status}: {shown}",
            want["status"]
        ));
    }
    if text.len() > MAX_ANSWER_BYTES {
        return Err(format!("the answer is {} bytes: {shown}", text.len()));
    }
    if status != 200 {
        let needle = want["error_contains"].as_str().unwrap();
        return match body["error"].as_str() {
            Some(error) if error.contains(needle) => Ok(()),
            _ => Err(format!(
                "want an \"error\" containing {needle:?}, got {shown}"
            )),
        };
    }
    let response = &body["response"];
    if body["apiVersion"] != "admission.k8s.io/v1" || body["kind"] != "AdmissionReview" {
        return Err(format!(
            "not an admission.k8s.io/v1 AdmissionReview: {shown}"
        ));
    }
    if response["uid"] != want["uid"] || response["allowed"] != want["allowed"] {
        return Err(format!(
            "want uid {} and allowed {}, got {shown}",
            want["uid"], want["allowed"]
        ));
    }
    if let Some(prefix) = want.get("message_starts_with").and_then(Value::as_str) {
        let message = response["status"]["message"].as_str().unwrap_or_default();
        if !message.starts_with(prefix) || response["status"]["code"] != 403 {
            return Err(format!(
                "want a 403 message starting {prefix:?}, got {shown}"
            ));
        }
    }
    Ok(())
}
