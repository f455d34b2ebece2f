//! `audit --report`: PolicyReports created, replaced, deleted, kept while the audit is
//! incomplete, and one clear error when their CRD is missing.

use crate::audit::fake_api::{FakeApi, MACHINE_API, NotInstalled, POLICY_REPORTS};
use crate::audit::objects::{M5_MACHINESET, PROVIDER, realistic_cluster, set};
use axum::http::Method;
use serde_json::{Value, json};

const OUR_LABEL: &str = "app.kubernetes.io/managed-by=machine-efa-webhook";

/// Kyverno's report in openshift-machine-api (`policyreport-kyverno.json`).
const KYVERNO_REPORT: &str = "b3f6e0c2-8d41-4a7f-9e25-6c1b0d3a7f98";

fn report_path(namespace: &str, name: Option<&str>) -> String {
    let collection = format!("/apis/{POLICY_REPORTS}/namespaces/{namespace}/policyreports");
    match name {
        Some(name) => format!("{collection}/{name}"),
        None => collection,
    }
}

impl FakeApi {
    fn our_report(&self, namespace: &str) -> Option<Value> {
        self.stored("policyreports", namespace, "machine-efa-webhook")
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn report_creates_replaces_and_deletes_our_policy_reports() {
    let api = FakeApi::start(realistic_cluster()).await;
    let kyverno = api.stored("policyreports", "openshift-machine-api", KYVERNO_REPORT);
    assert!(kyverno.is_some());

    // First run: a report for each namespace with findings.
    let run = api.audit(&["--report"]).await;
    assert_eq!(
        run.code, 0,
        "findings are in the reports: a CronJob succeeds\n{run}"
    );
    assert!(
        run.stdout.contains(M5_MACHINESET),
        "the audit is printed too\n{run}"
    );
    assert_eq!(
        run.stderr, "policy reports: 2 created, 0 updated, 0 deleted\n",
        "{run}"
    );
    // Ours, in all namespaces, found by our label.
    let report_lists = api.requests(|r| r.is_list_of("policyreports"));
    assert_eq!(report_lists.len(), 1);
    assert_eq!(
        report_lists[0].path,
        format!("/apis/{POLICY_REPORTS}/policyreports")
    );
    assert_eq!(report_lists[0].query["labelSelector"], OUR_LABEL);
    assert_eq!(
        api.writes(),
        [
            (Method::POST, report_path("default", None)),
            (Method::POST, report_path("openshift-machine-api", None)),
        ]
    );
    let posted = api
        .requests(|r| r.method == Method::POST && r.path.contains("openshift-machine-api"))
        .remove(0)
        .body
        .unwrap();
    assert_eq!(posted["apiVersion"], POLICY_REPORTS);
    assert_eq!(posted["kind"], "PolicyReport");
    assert_eq!(posted["metadata"]["name"], "machine-efa-webhook");
    assert_eq!(posted["metadata"]["namespace"], "openshift-machine-api");
    assert_eq!(
        posted["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "machine-efa-webhook"})
    );
    // Five objects audited there, two with a finding each.
    assert_eq!(
        posted["summary"],
        json!({"pass": 3, "fail": 2, "warn": 0, "error": 0, "skip": 0})
    );
    let results = posted["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{posted}");
    let m5 = results
        .iter()
        .find(|r| r["rule"] == "efa-instance-type")
        .unwrap();
    assert_eq!(m5["policy"], "machine-efa-webhook");
    assert_eq!(m5["source"], "machine-efa-webhook");
    assert_eq!(m5["result"], "fail");
    // The finding without the alternatives: a report restates, the audit advises.
    assert_eq!(
        m5["message"],
        r#"spec.template.spec.providerSpec.value.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-1"#
    );
    let stored_set = api
        .stored(
            "machinesets",
            "openshift-machine-api",
            "prod-7x2kq-efa-m5-us-east-1c",
        )
        .unwrap();
    assert_eq!(
        m5["resources"],
        json!([{
            "apiVersion": MACHINE_API, "kind": "MachineSet",
            "namespace": "openshift-machine-api", "name": "prod-7x2kq-efa-m5-us-east-1c",
            "uid": stored_set["metadata"]["uid"],
        }])
    );
    let efa_only = results
        .iter()
        .find(|r| r["rule"] == "network-interface-type")
        .unwrap();
    assert_eq!(efa_only["result"], "fail");
    assert_eq!(efa_only["resources"][0]["kind"], "Machine");
    assert_eq!(
        efa_only["resources"][0]["name"],
        "prod-7x2kq-efa-us-east-1a-q8r2d"
    );
    let default = api.our_report("default").unwrap();
    assert_eq!(default["summary"]["fail"], 1);
    assert_eq!(default["summary"]["pass"], 2);
    assert_eq!(default["results"][0]["resources"][0]["kind"], "AWSMachine");
    assert_eq!(
        default["results"][0]["resources"][0]["namespace"],
        "default"
    );
    assert!(
        api.our_report("gpu-team").is_none(),
        "no findings, no report"
    );

    // Second run: the AWSMachine in default was fixed (EFA on a type that has it).
    api.forget_requests();
    api.change(|cluster| {
        cluster.edit(
            "awsmachines",
            "default",
            "capi-prod-md-efa-7d9f8c6b5-x2vqk",
            |m| set(m, "/spec/instanceType", "c5n.18xlarge".into()),
        )
    });
    let version_before =
        api.our_report("openshift-machine-api").unwrap()["metadata"]["resourceVersion"].clone();
    let run = api.audit(&["--report"]).await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.stderr, "policy reports: 0 created, 1 updated, 1 deleted\n",
        "{run}"
    );
    assert_eq!(
        api.writes(),
        [
            (
                Method::PUT,
                report_path("openshift-machine-api", Some("machine-efa-webhook"))
            ),
            (
                Method::DELETE,
                report_path("default", Some("machine-efa-webhook"))
            ),
        ]
    );
    // The replace names the version it replaces (else the API server refuses it).
    let put = api
        .requests(|r| r.method == Method::PUT)
        .remove(0)
        .body
        .unwrap();
    assert_eq!(put["metadata"]["resourceVersion"], version_before);
    assert_eq!(put["summary"]["fail"], 2);
    assert!(api.our_report("default").is_none());
    assert_ne!(
        api.our_report("openshift-machine-api").unwrap()["metadata"]["resourceVersion"],
        version_before
    );
    assert_eq!(
        api.stored("policyreports", "openshift-machine-api", KYVERNO_REPORT),
        kyverno,
        "not ours: never touched"
    );

    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incomplete_audit_keeps_in_the_reports_what_it_could_not_read() {
    let api = FakeApi::start(realistic_cluster()).await;
    let run = api.audit(&["--report"]).await;
    assert_eq!(run.code, 0, "{run}");
    let kinds_reported = |api: &FakeApi| -> Vec<String> {
        let report = api.our_report("openshift-machine-api").unwrap();
        let mut kinds: Vec<String> = report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["resources"][0]["kind"].as_str().unwrap(),
                    r["rule"].as_str().unwrap()
                )
            })
            .collect();
        kinds.sort();
        kinds
    };
    assert_eq!(
        kinds_reported(&api),
        [
            "Machine/network-interface-type",
            "MachineSet/efa-instance-type"
        ]
    );

    // MachineSets cannot be read: the report is rewritten with what was read, and the
    // MachineSet's finding stays in it, as nothing shows it cleared.
    api.forget_requests();
    api.change(|cluster| {
        cluster.forbidden.insert("machinesets");
    });
    let run = api.audit(&["--report"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(
        api.writes(),
        [
            (
                Method::PUT,
                report_path("default", Some("machine-efa-webhook"))
            ),
            (
                Method::PUT,
                report_path("openshift-machine-api", Some("machine-efa-webhook"))
            ),
        ]
    );
    assert_eq!(
        kinds_reported(&api),
        [
            "Machine/network-interface-type",
            "MachineSet/efa-instance-type"
        ]
    );
    let report = api.our_report("openshift-machine-api").unwrap();
    assert_eq!(report["summary"]["fail"], 2, "{report}");

    // The Machine is fixed too: no finding left that was read, but the report stays
    // while MachineSets cannot be read.
    api.forget_requests();
    api.change(|cluster| {
        cluster.edit(
            "machines",
            "openshift-machine-api",
            "prod-7x2kq-efa-us-east-1a-q8r2d",
            |m| set(m, &format!("{PROVIDER}/networkInterfaceType"), "EFA".into()),
        );
    });
    let run = api.audit(&["--report"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(
        run.stderr, "policy reports: 0 created, 1 updated, 0 deleted\n",
        "{run}"
    );
    assert_eq!(
        api.writes(),
        [(
            Method::PUT,
            report_path("default", Some("machine-efa-webhook"))
        )],
        "openshift-machine-api's report is left as it was"
    );
    assert_eq!(
        kinds_reported(&api),
        [
            "Machine/network-interface-type",
            "MachineSet/efa-instance-type"
        ]
    );

    // Readable again: the MachineSet's finding is still there, the Machine's is gone.
    api.forget_requests();
    api.change(|cluster| {
        cluster.forbidden.clear();
    });
    let run = api.audit(&["--report"]).await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(kinds_reported(&api), ["MachineSet/efa-instance-type"]);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn report_without_the_policy_report_crd_is_one_clear_error() {
    let mut cluster = realistic_cluster();
    cluster
        .not_installed
        .insert("policyreports", NotInstalled::Status);
    let api = FakeApi::start(cluster).await;
    let run = api.audit(&["--report"]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.stdout.contains(M5_MACHINESET),
        "the audit is still printed\n{run}"
    );
    assert_eq!(
        run.stderr,
        "error: the PolicyReport CRD (policyreports.wgpolicyk8s.io, v1alpha2) is not installed: install it (kubernetes-sigs/wg-policy-prototypes, or with Kyverno or Kubewarden), or run audit without --report\n",
        "{run}"
    );
    assert_eq!(api.writes(), []);
    api.stop().await;
}
