//! `audit` and `audit --report` against the real API server, run as the audit CronJob's
//! ServiceAccount with a token the API server issued and the RBAC the
//! `audit-cronjob` component grants (applied as rendered): lists paged by the API
//! server itself, PolicyReports written into the stand-in `wgpolicyk8s.io/v1alpha2`
//! CRD, replaced on the next run and deleted when clean, Kyverno's left alone; a kind
//! the ServiceAccount may not list (exit 2, the other kinds still audited); and Cluster
//! API objects judged in their AWSCluster's region.

use crate::audit::objects::{M5_MACHINESET_FINDING, PROVIDER, audit_fixture, worker_machine};
use crate::common::apiserver::{self, ApiServer, for_create, printed, writing_machines};
use crate::common::{fixture, fixture_object, yaml_documents};
use serde_json::Value;
use std::process::Output;

const SERVICE_ACCOUNT: &str = "machine-efa-webhook-audit";
const OVERLAY_NAMESPACE: &str = "machine-efa-webhook";

/// The `audit-cronjob` component's ServiceAccount and RBAC (its files as written),
/// applied; with `rename` = (suffix, resource), a copy under other names with
/// `resource` taken out of its ClusterRole. Returns the account's name; its namespace
/// is [`OVERLAY_NAMESPACE`].
fn apply_audit_rbac(api: &ApiServer, rename: Option<(&str, &str)>) -> String {
    let component =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/components/audit-cronjob");
    let mut objects: Vec<Value> = ["serviceaccount.yaml", "rbac.yaml"]
        .iter()
        .flat_map(|file| yaml_documents(&std::fs::read_to_string(component.join(file)).unwrap()))
        .collect();
    assert_eq!(objects[0]["metadata"]["namespace"], OVERLAY_NAMESPACE);
    let Some((suffix, drop_resource)) = rename else {
        api.ensure_namespaces(&[OVERLAY_NAMESPACE]);
        api.apply(&objects);
        return SERVICE_ACCOUNT.to_owned();
    };
    let renamed = |name: &Value| format!("{}-{suffix}", name.as_str().unwrap());
    let account = format!("{SERVICE_ACCOUNT}-{suffix}");
    for object in &mut objects {
        object["metadata"]["name"] = renamed(&object["metadata"]["name"]).into();
        match object["kind"].as_str().unwrap() {
            "ClusterRole" => {
                for rule in object["rules"].as_array_mut().unwrap() {
                    let resources = rule["resources"].as_array_mut().unwrap();
                    resources.retain(|r| r != drop_resource);
                }
            }
            "ClusterRoleBinding" => {
                object["roleRef"]["name"] = renamed(&object["roleRef"]["name"]).into();
                object["subjects"][0]["name"] = account.clone().into();
            }
            _ => {}
        }
    }
    api.ensure_namespaces(&[OVERLAY_NAMESPACE]);
    api.apply(&objects);
    account
}

fn audit(kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_machine-efa-webhook"))
        .args([
            "audit",
            "--region",
            "us-east-1",
            "--capabilities",
            "embedded",
        ])
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn findings(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.starts_with("Warning: ") && !l.starts_with("audited "))
        .map(str::to_owned)
        .collect()
}

/// Seven worker Machines of which three have EFA on m5.2xlarge, and the MachineSet with
/// EFA on m5.2xlarge: with pages of two, the Machines take four list requests.
fn seed(api: &ApiServer, namespace: &str) -> (Vec<String>, String) {
    let template = audit_fixture("machine-worker-running.json");
    let machines: Vec<Value> = (0..7)
        .map(|n| for_create(worker_machine(&template, n, Some(3)), namespace))
        .collect();
    let bad: Vec<String> = machines
        .iter()
        .filter(|m| m.pointer(&format!("{PROVIDER}/instanceType")) == Some(&"m5.2xlarge".into()))
        .map(|m| m["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bad.len(), 3);
    let machineset = fixture_object("machineset-create-efa-m5.json", namespace, "efa-m5");
    api.apply(&machines);
    api.apply(&[machineset]);
    (bad, "efa-m5".into())
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_pages_through_the_api_server_and_keeps_policy_reports_as_the_cronjobs_account() {
    let _no_admission = writing_machines().await;
    let api = apiserver::shared();
    let account = apply_audit_rbac(api, None);
    let token = api.service_account_token(OVERLAY_NAMESPACE, &account).await;
    let kubeconfig = api.kubeconfig_for("audit-cronjob", &token);
    let namespace = api.namespace("audit").await;
    let ns = namespace.as_str();
    let (bad_machines, machineset) = seed(api, ns);

    // Plain audit: every finding, across pages of two, exit 1.
    let run = audit(&kubeconfig, &["--namespace", ns, "--page-size", "2"]);
    assert_eq!(run.status.code(), Some(1), "{}", printed(&run));
    let found = findings(&run);
    assert_eq!(found.len(), 4, "{}", printed(&run));
    assert!(
        found.contains(&format!(
            "{ns}/MachineSet/{machineset}: {M5_MACHINESET_FINDING}"
        )),
        "{}",
        printed(&run)
    );
    for name in &bad_machines {
        assert!(
            found.iter().any(|f| f.starts_with(&format!("{ns}/Machine/{name}: spec.providerSpec.value.instanceType: Invalid value: \"m5.2xlarge\""))),
            "{name}\n{}",
            printed(&run)
        );
    }
    assert!(
        printed(&run).contains("audited 8 objects"),
        "{}",
        printed(&run)
    );

    // --report: one PolicyReport in the namespace, as the account's RBAC allows.
    let report = |expect: &str| {
        let run = audit(
            &kubeconfig,
            &["--namespace", ns, "--page-size", "2", "--report"],
        );
        assert_eq!(run.status.code(), Some(0), "{}", printed(&run));
        assert_eq!(
            String::from_utf8_lossy(&run.stderr),
            expect,
            "{}",
            printed(&run)
        );
    };
    let stored_results = || {
        let report = api.get("policyreport", ns, "machine-efa-webhook");
        assert_eq!(
            report["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "machine-efa-webhook"
        );
        let results = report["results"].as_array().unwrap().clone();
        assert_eq!(report["summary"]["fail"], results.len(), "{report}");
        results
    };
    // Kyverno's report in the same namespace is not ours: never touched.
    let kyverno = for_create(audit_fixture("policyreport-kyverno.json"), ns);
    api.apply(std::slice::from_ref(&kyverno));
    let kyverno_name = kyverno["metadata"]["name"].as_str().unwrap().to_owned();
    let kyverno_version =
        api.get("policyreport", ns, &kyverno_name)["metadata"]["resourceVersion"].clone();

    report("policy reports: 1 created, 0 updated, 0 deleted\n");
    let results = stored_results();
    assert_eq!(results.len(), 4);
    let ours = api.get("policyreport", ns, "machine-efa-webhook");
    // Eight objects audited, four with a finding each.
    assert_eq!(
        ours["summary"],
        serde_json::json!({"pass": 4, "fail": 4, "warn": 0, "error": 0, "skip": 0})
    );
    let m5 = results
        .iter()
        .find(|r| r["resources"][0]["kind"] == "MachineSet")
        .unwrap();
    assert_eq!(
        (&m5["policy"], &m5["rule"], &m5["result"], &m5["source"]),
        (
            &"machine-efa-webhook".into(),
            &"efa-instance-type".into(),
            &"fail".into(),
            &"machine-efa-webhook".into()
        )
    );
    // The finding without the alternatives: a report restates, the audit advises.
    assert_eq!(
        m5["message"],
        r#"spec.template.spec.providerSpec.value.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-1"#
    );
    let stored_set = api.get("machineset", ns, &machineset);
    assert_eq!(
        m5["resources"],
        serde_json::json!([{"apiVersion": "machine.openshift.io/v1beta1", "kind": "MachineSet",
        "namespace": ns, "name": machineset, "uid": stored_set["metadata"]["uid"]}])
    );

    // One bad Machine fixed by deleting it: the report is replaced.
    apiserver::run(
        api.kubectl()
            .args(["delete", "machine", &bad_machines[0], "-n", ns]),
    );
    report("policy reports: 0 created, 1 updated, 0 deleted\n");
    let results = stored_results();
    assert_eq!(results.len(), 3);
    assert!(
        !results
            .iter()
            .any(|r| r.to_string().contains(&bad_machines[0]))
    );

    // All clean: ours is deleted.
    for name in &bad_machines[1..] {
        apiserver::run(api.kubectl().args(["delete", "machine", name, "-n", ns]));
    }
    apiserver::run(
        api.kubectl()
            .args(["delete", "machineset", &machineset, "-n", ns]),
    );
    report("policy reports: 0 created, 0 updated, 1 deleted\n");
    assert_eq!(
        api.get("policyreport", ns, &kyverno_name)["metadata"]["resourceVersion"],
        kyverno_version,
        "not ours: never touched"
    );
    let gone = api.kubectl_output(
        &["get", "policyreport", "machine-efa-webhook", "-n", ns],
        &Value::Null,
    );
    assert!(!gone.status.success(), "{}", printed(&gone));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kind_the_account_may_not_list_exits_2_and_the_rest_is_audited() {
    let _no_admission = writing_machines().await;
    let api = apiserver::shared();
    let account = apply_audit_rbac(api, Some(("no-templates", "awsmachinetemplates")));
    let token = api.service_account_token(OVERLAY_NAMESPACE, &account).await;
    let kubeconfig = api.kubeconfig_for("audit-no-templates", &token);
    let namespace = api.namespace("audit-forbidden").await;
    let ns = namespace.as_str();
    let (_, machineset) = seed(api, ns);

    let run = audit(&kubeconfig, &["--namespace", ns]);
    let said = printed(&run);
    assert_eq!(run.status.code(), Some(2), "{said}");
    let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{said}");
    assert!(
        errors[0]
            .starts_with("error: listing awsmachinetemplates.infrastructure.cluster.x-k8s.io: ")
            && errors[0].contains(r#"cannot list resource "awsmachinetemplates""#),
        "{said}"
    );
    assert!(
        said.lines().any(|l| l
            .starts_with("audited 8 objects (7 Machine, 1 MachineSet): 4 with findings")
            && l.ends_with("; 1 unreadable")),
        "{said}"
    );
    let json_run = audit(&kubeconfig, &["--namespace", ns, "-o", "json"]);
    assert_eq!(json_run.status.code(), Some(2), "{}", printed(&json_run));
    let report: Value = serde_json::from_slice(&json_run.stdout).unwrap();
    assert_eq!(report["summary"]["unreadable"], 1);
    assert_eq!(
        report["unreadable"][0]["resource"],
        "awsmachinetemplates.infrastructure.cluster.x-k8s.io"
    );
    assert!(
        said.contains("awsmachinetemplates")
            && said.contains("forbidden")
            && said.contains(&format!(
                "system:serviceaccount:{OVERLAY_NAMESPACE}:{account}"
            )),
        "{said}"
    );
    assert!(
        findings(&run)
            .iter()
            .any(|f| f.starts_with(&format!("{ns}/MachineSet/{machineset}: "))),
        "{said}"
    );
}

/// A Cluster API object is judged in its AWSCluster's region, read through the API
/// server; without the AWSCluster, in the default region, and the audit says why.
#[tokio::test(flavor = "multi_thread")]
async fn cluster_api_objects_are_judged_in_their_awsclusters_region() {
    let _no_admission = writing_machines().await;
    let api = apiserver::shared();
    let namespace = api.namespace("audit-capa").await;
    let ns = namespace.as_str();
    let object = |name: &str| for_create(fixture(name)["request"]["object"].clone(), ns);
    api.apply(&[
        for_create(audit_fixture("awscluster-capi-prod.json"), ns),
        object("awsmachine-create-efa-m5.json"),
        object("awsmachinetemplate-create-efa-hpc6a.json"),
    ]);
    // hpc6a.48xlarge has EFA and is offered in us-east-2, not us-east-1: with
    // `--unknown-instance-type deny` the region decides whether it is a finding.
    let args = ["--namespace", ns, "--unknown-instance-type", "deny"];
    let run = audit(&api.kubeconfig, &args);
    assert_eq!(run.status.code(), Some(1), "{}", printed(&run));
    let found = findings(&run);
    assert_eq!(found.len(), 1, "only the m5 AWSMachine\n{}", printed(&run));
    assert!(found[0].starts_with(&format!(r#"{ns}/AWSMachine/capi-prod-md-efa-7d9f8c6b5-x2vqk: spec.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-2; "#)), "{}", printed(&run));

    apiserver::run(
        api.kubectl()
            .args(["delete", "awscluster", "--all", "-n", ns]),
    );
    let run = audit(&api.kubeconfig, &args);
    let said = printed(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!(r#"{ns}/AWSMachineTemplate/capi-prod-md-efa: spec.template.spec.instanceType: Invalid value: "hpc6a.48xlarge": is not offered in us-east-1"#)), "{said}");
    assert!(
        said.contains("EFA interfaces are not supported on m5.2xlarge in us-east-1"),
        "{said}"
    );
    assert!(said.contains(&format!(r#"Warning: {ns}/AWSMachineTemplate/capi-prod-md-efa: the region of cluster "capi-prod" (its AWSCluster's spec.region) is not known"#)), "{said}");
}
