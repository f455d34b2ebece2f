//! The real server over HTTPS on loopback, HTTP/1.1 and HTTP/2, with realistic fixtures.

use crate::common;

use common::{TestServer, admit, denial, embedded_store, fixture, patched, policy, post, warnings};
use reqwest::{StatusCode, Version};
use serde_json::{Value, json};

const PROTOCOLS: [(bool, Version); 2] = [(true, Version::HTTP_2), (false, Version::HTTP_11)];

#[tokio::test]
async fn fixtures_over_both_protocols() {
    let server = TestServer::start(policy(), embedded_store()).await;
    for (http2, _) in PROTOCOLS {
        // Defaulting: one op, every other byte kept (the unknown field included).
        let review = fixture("machineset-create-default.json");
        let response = admit(&server, http2, "mutate", &review).await;
        assert_eq!(response["allowed"], true);
        let object = patched(&review, &response);
        let config = "/spec/template/spec/providerSpec/value";
        assert_eq!(
            object.pointer(&format!("{config}/networkInterfaceType")),
            Some(&json!("ENA"))
        );
        assert_eq!(
            object.pointer(&format!("{config}/futureField")),
            Some(&json!({"keep": true}))
        );
        let mut undone = object.clone();
        undone
            .pointer_mut(config)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove("networkInterfaceType");
        assert_eq!(undone, review["request"]["object"]);
        let validated = admit(&server, http2, "validate", &json!({"apiVersion": review["apiVersion"], "kind": "AdmissionReview", "request": {"uid": "after-mutate", "kind": review["request"]["kind"], "operation": "CREATE", "object": object}})).await;
        assert_eq!(validated["allowed"], true);

        // Alias: normalised with a warning, then accepted by /validate with EFA advice.
        let review = fixture("machineset-create-alias.json");
        let response = admit(&server, http2, "mutate", &review).await;
        assert!(
            warnings(&response).contains(r#""efa" was normalised to the canonical "EFA""#),
            "{response}"
        );
        let object = patched(&review, &response);
        assert_eq!(
            object.pointer(&format!("{config}/networkInterfaceType")),
            Some(&json!("EFA"))
        );
        let mut after = review.clone();
        after["request"]["object"] = object;
        let response = admit(&server, http2, "validate", &after).await;
        assert_eq!(response["allowed"], true, "{response}");
        assert!(warnings(&response).contains(r#"EFA on "c5n.18xlarge" needs a security group"#));
        // Without the mutating hook, the alias is denied with a hint.
        let response = admit(&server, http2, "validate", &review).await;
        assert_eq!(response["allowed"], false);
        assert!(denial(&response).ends_with(r#"did you mean "EFA"?"#));

        // EFA on a type without it: 403 Forbidden, one cause, closest alternatives.
        let review = fixture("machineset-create-efa-m5.json");
        let response = admit(&server, http2, "validate", &review).await;
        assert_eq!(response["allowed"], false);
        let status = &response["status"];
        assert_eq!(status["code"], 403);
        assert_eq!(status["reason"], "Forbidden");
        let message = status["message"].as_str().unwrap();
        assert!(message.starts_with(r#"spec.template.spec.providerSpec.value.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-1; EFA-capable types offered in us-east-1, closest first: m5"#), "{message}");
        assert_eq!(
            status["details"]["causes"],
            json!([{
                "reason": "FieldValueInvalid",
                "field": "spec.template.spec.providerSpec.value.instanceType",
                "message": message.split_once("instanceType: ").unwrap().1,
            }])
        );
        assert!(response.get("patch").is_none());

        let review = fixture("machine-create-efa-m5.json");
        let response = admit(&server, http2, "validate", &review).await;
        assert_eq!(response["allowed"], false);
        assert!(
            denial(&response).starts_with("spec.providerSpec.value.instanceType: Invalid value")
        );

        // EFA on an EFA type: allowed with the prerequisites.
        let review = fixture("machineset-create-efa-p4d.json");
        assert!(
            admit(&server, http2, "mutate", &review)
                .await
                .get("patch")
                .is_none()
        );
        let response = admit(&server, http2, "validate", &review).await;
        assert_eq!(response["allowed"], true);
        assert!(
            warnings(&response).contains("EFA device plugin"),
            "{response}"
        );

        // The region decides: hpc6a is offered in us-east-2, not in us-east-1.
        let review = fixture("machineset-create-hpc6a-us-east-2.json");
        let response = admit(&server, http2, "validate", &review).await;
        assert_eq!(response["allowed"], true, "{response}");
        assert!(!warnings(&response).contains("not offered"), "{response}");
        let mut moved = review.clone();
        moved["request"]["object"]["spec"]["template"]["spec"]["providerSpec"]["value"]["placement"]
            ["region"] = json!("us-east-1");
        let response = admit(&server, http2, "validate", &moved).await;
        assert_eq!(response["allowed"], true);
        assert!(
            warnings(&response).contains(
                r#"instance type "hpc6a.48xlarge" supports EFA but is not offered in us-east-1"#
            ),
            "{response}"
        );

        // Ratcheting: an UPDATE that leaves the offending fields alone goes through.
        let review = fixture("machineset-update-ratchet.json");
        let response = admit(&server, http2, "validate", &review).await;
        assert_eq!(response["allowed"], true, "{response}");
        assert!(warnings(&response).contains("(allowed: this update does not change it)"));

        // DELETE and other providers pass untouched.
        for name in ["machine-delete.json", "machineset-create-gcp.json"] {
            let review = fixture(name);
            for endpoint in ["mutate", "validate"] {
                let response = admit(&server, http2, endpoint, &review).await;
                assert_eq!(response["allowed"], true, "{name} {endpoint}");
                assert!(
                    response.get("patch").is_none() && response.get("warnings").is_none(),
                    "{name} {endpoint}: {response}"
                );
            }
        }
    }
    server.stop().await;
}

fn review_with(request: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})).unwrap()
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer() {
    let server = TestServer::start(policy(), embedded_store()).await;
    let machine_kind =
        json!({"group": "machine.openshift.io", "version": "v1beta1", "kind": "MachineSet"});
    let good = fixture("machineset-create-efa-m5.json");
    for (http2, _) in PROTOCOLS {
        // Transport-level: 400 with a JSON error.
        let bad_bodies: [(&str, Vec<u8>, &str); 5] = [
            ("non-JSON", b"<xml/>".to_vec(), "the body is not JSON"),
            ("empty body", Vec::new(), "the body is not JSON"),
            ("no request", serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"})).unwrap(), "has no request"),
            ("v1beta1", serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {"uid": "x"}})).unwrap(), "is not supported"),
            ("no uid", review_with(json!({"kind": machine_kind, "operation": "CREATE"})), "request.uid"),
        ];
        for (name, body, want) in bad_bodies {
            for endpoint in ["/mutate", "/validate"] {
                let (status, answer) = post(&server, http2, endpoint, body.clone()).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
                assert!(
                    answer["error"].as_str().unwrap().contains(want),
                    "{name}: {answer}"
                );
            }
        }

        // A parsed review with a malformed object: a denial naming the field, uid echoed.
        let mut provider_not_object = good["request"].clone();
        provider_not_object["object"]["spec"]["template"]["spec"]["providerSpec"]["value"] =
            json!("AWSMachineProviderConfig");
        let mut wrong_type = good["request"].clone();
        wrong_type["object"]["spec"]["template"]["spec"]["providerSpec"]["value"]["instanceType"] =
            json!(["m5.2xlarge"]);
        let mut bad_operation = good["request"].clone();
        bad_operation["operation"] = json!("PATCH");
        let denials = [
            (
                "null object",
                json!({"uid": "u-null", "kind": machine_kind, "operation": "CREATE", "object": null}),
                "request.object: Required value",
            ),
            (
                "provider config not an object",
                provider_not_object,
                r#"spec.template.spec.providerSpec.value: Invalid value: "AWSMachineProviderConfig": must be an object"#,
            ),
            (
                "field of the wrong type",
                wrong_type,
                r#"spec.template.spec.providerSpec.value.instanceType: Invalid value: "array": must be a string"#,
            ),
            (
                "unknown operation",
                bad_operation,
                r#"request.operation: Unsupported value: "PATCH""#,
            ),
        ];
        for (name, request, want) in denials {
            for endpoint in ["/mutate", "/validate"] {
                if endpoint == "/mutate" && name == "field of the wrong type" {
                    continue; // wrong types are /validate's to deny; /mutate leaves them
                }
                let (status, answer) =
                    post(&server, http2, endpoint, review_with(request.clone())).await;
                assert_eq!(status, StatusCode::OK, "{name}");
                assert_eq!(answer["response"]["uid"], request["uid"], "{name}");
                assert_eq!(answer["response"]["allowed"], false, "{name}");
                let message = answer["response"]["status"]["message"].as_str().unwrap();
                assert!(message.starts_with(want), "{name} {endpoint}: {message}");
            }
        }

        // Several errors: all reported, one cause each, the message joined.
        let mut several = good["request"].clone();
        let config = &mut several["object"]["spec"]["template"]["spec"]["providerSpec"]["value"];
        config["networkInterfaceType"] = json!("Efa");
        config["instanceType"] = json!(8);
        let (_, answer) = post(&server, http2, "/validate", review_with(several)).await;
        let status = &answer["response"]["status"];
        assert_eq!(
            status["details"]["causes"].as_array().unwrap().len(),
            2,
            "{answer}"
        );
        let message = status["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "[spec.template.spec.providerSpec.value.networkInterfaceType: Unsupported value"
            ),
            "{message}"
        );
        assert!(
            message.ends_with("instanceType: Invalid value: 8: must be a string]"),
            "{message}"
        );

        // Another kind is none of our business, even with an operation we do not know.
        let pod = json!({"uid": "u-pod", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "PATCH", "object": {}});
        let (_, answer) = post(&server, http2, "/validate", review_with(pod)).await;
        assert_eq!(answer["response"]["allowed"], true, "{answer}");

        // Over 3 MiB: 413, with a JSON error.
        let mut huge = good.clone();
        huge["request"]["object"]["metadata"]["annotations"]["padding"] =
            json!("x".repeat(4 * 1024 * 1024));
        let (status, answer) = post(
            &server,
            http2,
            "/validate",
            serde_json::to_vec(&huge).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("over the 3 MiB limit"),
            "{answer}"
        );

        // Deep nesting is refused by the parser, not by a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let (status, _) = post(&server, http2, "/validate", deep.into_bytes()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // Probes.
        for path in ["/healthz", "/readyz"] {
            let response = server
                .client(http2)
                .get(server.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        let response = server
            .client(http2)
            .get(server.url("/validate"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    server.stop().await;
}

#[tokio::test]
async fn many_concurrent_requests_on_one_http2_connection() {
    let server = TestServer::start(policy(), embedded_store()).await;
    let client = server.client(true);
    let review = fixture("machineset-create-efa-m5.json");
    let body = serde_json::to_vec(&review).unwrap();
    let requests = (0..200).map(|_| {
        let client = client.clone();
        let url = server.url("/validate");
        let body = body.clone();
        async move {
            let text = client
                .post(url)
                .body(body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            serde_json::from_str::<Value>(&text).unwrap()
        }
    });
    for answer in futures_join_all(requests).await {
        assert_eq!(answer["response"]["allowed"], false);
    }
    server.stop().await;
}

/// Runs futures concurrently on the test runtime.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
