//! `audit --report` against the stand-in: reports kept while the audit is incomplete,
//! and one clear error when their CRD is missing. (Created, replaced and deleted: on
//! the real API server, `on_the_apiserver`.)

use crate::audit::fake_api::{FakeApi, NotInstalled, POLICY_REPORTS};
use crate::audit::objects::{M5_MACHINESET, PROVIDER, realistic_cluster, set};
use axum::http::Method;
use serde_json::Value;

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
