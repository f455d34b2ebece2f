//! Admission end to end: the webhook served on a loopback port and registered with the
//! real API server by the webhook configurations the OpenShift overlay renders (only
//! `clientConfig` swapped for the loopback URL and the test CA). Objects go through
//! kubectl, as an operator's would: what is stored, what kubectl prints, what is
//! refused, and what a webhook outage lets through (and `audit` finds afterwards).
//!
//! The tests run kubectl as a blocking child process: on a multi-thread runtime, so
//! that the webhook's tasks answer meanwhile.

use crate::common::apiserver::{self, ApiServer, printed, registering_admission};
use crate::common::{TestServer, embedded_store, fixture, fixture_object, policy};
use serde_json::Value;

const OVERLAY: &str = "manifests/overlays/openshift";
const VALIDATING: &str = "validate.machines.machine-efa-webhook.io";
const M5_DENIAL: &str = r#"spec.template.spec.providerSpec.value.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-1; EFA-capable types offered in us-east-1, closest first: m5zn.12xlarge, m5zn.metal, m5dn.24xlarge, m5dn.metal, m5n.24xlarge"#;

fn provider_value(object: &Value) -> &Value {
    object
        .pointer("/spec/template/spec/providerSpec/value")
        .or_else(|| object.pointer("/spec/providerSpec/value"))
        .unwrap()
}

/// The webhook serving and registered; both gone when dropped, the registration first
/// (fields drop in order).
struct Webhook<'a> {
    _registered: apiserver::Registered<'a>,
    server: Option<TestServer>,
}

impl<'a> Webhook<'a> {
    /// Serves, registers, and waits until the API server calls both webhooks.
    async fn register(api: &'a ApiServer, namespace: &str) -> Webhook<'a> {
        let server = TestServer::start(policy(), embedded_store()).await;
        let base_url = format!("https://127.0.0.1:{}", server.addr.port());
        let registered = api.register_webhooks(OVERLAY, &base_url, &server.ca_pem);
        let probe_default = fixture_object("machineset-create-default.json", namespace, "probe");
        let probe_denied = fixture_object("machineset-create-efa-m5.json", namespace, "probe");
        crate::common::eventually("the API server calls the registered webhooks", async || {
            let mutated = api.kubectl_output(
                &["create", "--dry-run=server", "-o", "json", "-f", "-"],
                &probe_default,
            );
            let mutated: Value = serde_json::from_slice(&mutated.stdout).unwrap_or_default();
            let denied =
                api.kubectl_output(&["create", "--dry-run=server", "-f", "-"], &probe_denied);
            mutated.pointer("/spec/template/spec/providerSpec/value/networkInterfaceType")
                == Some(&"ENA".into())
                && !denied.status.success()
        })
        .await;
        Webhook {
            _registered: registered,
            server: Some(server),
        }
    }

    /// Stops serving; the configurations stay registered.
    async fn stop_serving(&mut self) {
        self.server.take().unwrap().stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_api_server_stores_what_kubectl_prints_and_what_it_refuses() {
    let _registrations = registering_admission().await;
    let api = apiserver::shared();
    let namespace = api.namespace("admission").await;
    let ns = namespace.as_str();
    let _webhook = Webhook::register(api, ns).await;

    // No networkInterfaceType: stored with ENA, every other field as sent.
    let sent = fixture_object("machineset-create-default.json", ns, "general");
    api.create(&sent);
    let stored = api.get("machineset", ns, "general");
    let value = provider_value(&stored);
    assert_eq!(value["networkInterfaceType"], "ENA");
    let mut expected = provider_value(&sent).clone();
    expected["networkInterfaceType"] = "ENA".into();
    assert_eq!(
        value, &expected,
        "only the one field added; unknown fields kept"
    );

    // The alias: stored as EFA, and kubectl prints the webhook's warning.
    let alias = fixture_object("machineset-create-alias.json", ns, "efa-p4d");
    let said = api.create(&alias);
    assert!(
        said.contains(r#"Warning: spec.template.spec.providerSpec.value.networkInterfaceType: "efa" was normalised to the canonical "EFA""#),
        "{said}"
    );
    assert_eq!(
        provider_value(&api.get("machineset", ns, "efa-p4d"))["networkInterfaceType"],
        "EFA"
    );

    // EFA on m5.2xlarge: refused with the field error and the suggestions, as kubectl
    // prints a webhook's denial; a server-side dry run is refused the same way.
    let m5 = fixture_object("machineset-create-efa-m5.json", ns, "efa-m5");
    for dry_run in [false, true] {
        let args: &[&str] = if dry_run {
            &["create", "--dry-run=server", "-f", "-"]
        } else {
            &["create", "-f", "-"]
        };
        let refused = api.kubectl_output(args, &m5);
        let stderr = printed(&refused);
        assert!(!refused.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "Error from server (Forbidden): error when creating \"STDIN\": admission webhook \"{VALIDATING}\" denied the request: {M5_DENIAL}"
            )),
            "{stderr}"
        );
    }
    let missing = api.kubectl_output(&["get", "machineset", "efa-m5", "-n", ns], &Value::Null);
    assert!(!missing.status.success(), "nothing stored");

    // A Machine too, at its own path.
    let machine = fixture_object("machine-create-efa-m5.json", ns, "efa-m5-machine");
    let refused = api.kubectl_output(&["create", "-f", "-"], &machine);
    let stderr = printed(&refused);
    assert!(
        stderr.contains(&format!("admission webhook \"{VALIDATING}\" denied the request: spec.providerSpec.value.instanceType: Invalid value: \"m5.2xlarge\": EFA interfaces are not supported on m5.2xlarge in us-east-1")),
        "{stderr}"
    );

    // Another provider: stored exactly as sent, no field added.
    let gcp = fixture_object("machineset-create-gcp.json", ns, "gcp");
    api.create(&gcp);
    assert_eq!(
        provider_value(&api.get("machineset", ns, "gcp")),
        provider_value(&gcp)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_old_bad_machineset_is_labelled_scaled_and_deleted_but_not_moved_to_another_type_without_efa()
 {
    let _registrations = registering_admission().await;
    let api = apiserver::shared();
    let namespace = api.namespace("ratchet").await;
    let ns = namespace.as_str();
    let legacy = fixture_object("machineset-create-efa-m5.json", ns, "legacy");
    api.create(&legacy);
    let _webhook = Webhook::register(api, ns).await;

    let ok = |args: &[&str]| {
        let output = api.kubectl_output(args, &Value::Null);
        assert!(output.status.success(), "{args:?}: {}", printed(&output));
    };
    ok(&["label", "machineset", "legacy", "-n", ns, "team=hpc"]);
    ok(&["scale", "machineset", "legacy", "-n", ns, "--replicas=3"]);
    let scaled = api.get("machineset", ns, "legacy");
    assert_eq!(scaled["spec"]["replicas"], 3);
    assert_eq!(scaled["metadata"]["labels"]["team"], "hpc");

    let moved = api.kubectl_output(&[
            "patch",
            "machineset",
            "legacy",
            "-n",
            ns,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/template/spec/providerSpec/value/instanceType","value":"m5.4xlarge"}]"#,
        ],
        &Value::Null,
    );
    let stderr = printed(&moved);
    assert!(!moved.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("admission webhook \"{VALIDATING}\" denied the request: spec.template.spec.providerSpec.value.instanceType: Invalid value: \"m5.4xlarge\": EFA interfaces are not supported on m5.4xlarge in us-east-1")),
        "{stderr}"
    );

    ok(&["delete", "machineset", "legacy", "-n", ns, "--wait"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_webhook_down_failure_policy_ignore_admits_and_audit_reports_it() {
    let _registrations = registering_admission().await;
    let api = apiserver::shared();
    let namespace = api.namespace("outage").await;
    let ns = namespace.as_str();
    let mut webhook = Webhook::register(api, ns).await;
    webhook.stop_serving().await;

    let m5 = fixture_object("machineset-create-efa-m5.json", ns, "efa-m5");
    let created = api.kubectl_output(&["create", "-f", "-"], &m5);
    assert!(
        created.status.success(),
        "failurePolicy: Ignore admits while the webhook is down: {}",
        printed(&created)
    );
    assert_eq!(
        provider_value(&api.get("machineset", ns, "efa-m5"))["networkInterfaceType"],
        "EFA"
    );

    let audit = std::process::Command::new(env!("CARGO_BIN_EXE_machine-efa-webhook"))
        .args(["audit", "--namespace", ns, "--capabilities", "embedded"])
        .env("KUBECONFIG", &api.kubeconfig)
        .output()
        .unwrap();
    let stdout = printed(&audit);
    assert_eq!(audit.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("{ns}/MachineSet/efa-m5: {M5_DENIAL}")),
        "{stdout}"
    );
}

/// The review the API server sends for `kubectl create` of the EFA-on-m5 MachineSet,
/// as it sends it (compact, managedFields set before admission), is
/// `tests/fixtures/machineset-create-efa-m5-apiserver.json`, which `make bench` loads:
/// captured here by a webhook that records what it is sent, with only the values that
/// differ per run (uids, timestamps) fixed. `UPDATE_FIXTURES=1` writes it anew.
#[tokio::test(flavor = "multi_thread")]
async fn the_benchs_review_is_the_one_the_api_server_sends() {
    use axum::body::Bytes;
    use std::sync::{Arc, Mutex};
    let _registrations = registering_admission().await;
    let api = apiserver::shared();
    api.ensure_namespaces(&["openshift-machine-api"]);

    let recorded: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let record = recorded.clone();
    let allow = |review: Value| {
        axum::Json(
            serde_json::json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "response": {"uid": review["request"]["uid"], "allowed": true}}),
        )
    };
    let app = axum::Router::new()
        .route(
            "/mutate",
            axum::routing::post(move |body: Bytes| async move {
                allow(serde_json::from_slice(&body).unwrap())
            }),
        )
        .route(
            "/validate",
            axum::routing::post(move |body: Bytes| async move {
                let review = serde_json::from_slice(&body).unwrap();
                record.lock().unwrap().push(body);
                allow(review)
            }),
        );
    let recorder = TestServer::start_app(app).await;
    let base_url = format!("https://127.0.0.1:{}", recorder.addr.port());
    let _registered = api.register_webhooks(OVERLAY, &base_url, &recorder.ca_pem);

    let machineset = fixture("machineset-create-efa-m5.json")["request"]["object"].clone();
    let name = machineset["metadata"]["name"].as_str().unwrap().to_owned();
    let sent = crate::common::eventually_some("the API server calls the recorder", async || {
        api.create(&machineset);
        api.kubectl_output(
            &["delete", "machineset", &name, "-n", "openshift-machine-api"],
            &Value::Null,
        );
        let bodies = recorded.lock().unwrap();
        bodies.last().cloned()
    })
    .await;
    recorder.stop().await;

    // Fixed: the values that differ per run.
    let review: Value = serde_json::from_slice(&sent).unwrap();
    let mut text = String::from_utf8(sent.to_vec()).unwrap();
    let request = &review["request"];
    let object = &request["object"];
    let volatile = [
        (
            request["uid"].as_str(),
            "0f5c2b8e-3d7a-4e19-b6c4-8a2d9e1f7c30",
        ),
        (
            object["metadata"]["uid"].as_str(),
            "a4e7d1c2-9b3f-4c8a-8e5d-2f6b1a9c7e43",
        ),
        (
            object["metadata"]["creationTimestamp"].as_str(),
            "2026-12-08T09:14:27Z",
        ),
        (
            object["metadata"]["managedFields"][0]["time"].as_str(),
            "2026-12-08T09:14:27Z",
        ),
    ];
    for (value, fixed) in volatile {
        if let Some(value) = value {
            text = text.replace(&format!("\"{value}\""), &format!("\"{fixed}\""));
        }
    }
    assert!(object["metadata"]["managedFields"].is_array(), "{text}");
    let path = crate::common::fixture_path("machineset-create-efa-m5-apiserver.json");
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} differs from what the API server sends; run with UPDATE_FIXTURES=1 to write it:\n{text}",
        path.display()
    );
}
