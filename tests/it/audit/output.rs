//! `audit`'s text and JSON output and exit codes on the realistic cluster, and kinds
//! whose CRD is not installed (404). (A forbidden resource and the region of a Cluster
//! API object: on the real API server, `on_the_apiserver`.)

use crate::audit::fake_api::{CLUSTER_API, FakeApi, MACHINE_API, NotInstalled};
use crate::audit::objects::{
    EFA_ONLY_MACHINE, M5_AWSMACHINE, M5_MACHINESET, M5_MACHINESET_FINDING, realistic_cluster,
};
use serde_json::{Value, json};

const EFA_ONLY_FINDING: &str = r#"spec.providerSpec.value.networkInterfaceType: Unsupported value: "efa-only": supported values: "EFA", "ENA""#;
/// Checked in the AWSCluster's region, not the default us-east-1.
const M5_AWSMACHINE_FINDING: &str = r#"spec.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-2; EFA-capable types offered in us-east-2, closest first: "#;

// ---------------------------------------------------------------------------------
// audit: output and exit codes
// ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn text_output_names_each_finding_and_exits_1() {
    let api = FakeApi::start(realistic_cluster()).await;
    let run = api.audit(&[]).await;
    eprintln!("{run}");
    assert_eq!(run.code, 1, "{run}");
    let lines = run.lines();
    let findings: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| !l.starts_with("Warning: ") && !l.starts_with("audited "))
        .collect();
    assert_eq!(findings.len(), 3, "{run}");
    assert_eq!(
        findings[0],
        format!("{EFA_ONLY_MACHINE}: {EFA_ONLY_FINDING}")
    );
    assert_eq!(
        findings[1],
        format!("{M5_MACHINESET}: {M5_MACHINESET_FINDING}")
    );
    assert!(
        findings[2].starts_with(&format!("{M5_AWSMACHINE}: {M5_AWSMACHINE_FINDING}")),
        "{run}"
    );
    // Advice on what is allowed is printed, after the object's label.
    for warning in [
        "Warning: openshift-machine-api/MachineSet/prod-7x2kq-efa-p4d-us-east-1a: instance type p4d.24xlarge is offered in 4 of the 6 zones of us-east-1",
        "Warning: openshift-machine-api/MachineSet/prod-7x2kq-efa-p4d-us-east-1a: EFA on \"p4d.24xlarge\" needs a security group",
        "Warning: default/AWSMachineTemplate/capi-prod-md-efa: EFA on \"hpc6a.48xlarge\" needs a security group",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(warning)),
            "missing {warning}\n{run}"
        );
    }
    // Objects that only lack the default (which /mutate would add) are no finding; the
    // MachineSet gets only the zone advice the good worker gets too.
    for clean in [
        "openshift-machine-api/MachineSet/prod-7x2kq-general-us-east-1b",
        "openshift-machine-api/Machine/prod-7x2kq-worker-us-east-1a-4m9zt",
    ] {
        let said: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.contains(clean))
            .collect();
        assert_eq!(
            said,
            [format!(
                "Warning: {clean}: instance type m6i.xlarge is offered in 5 of the 6 zones of us-east-1 (by zone ID: use1-az1, use1-az2, use1-az4, use1-az5, use1-az6); whether \"us-east-1{}\" is one of them needs this account's zone names: --capabilities ec2",
                if clean.contains("1b") { 'b' } else { 'a' }
            )],
            "{run}"
        );
    }
    assert!(!run.stdout.contains("capi-prod-md-0"), "{run}");
    assert!(
        !run.stdout.contains("is not offered in us-east-1"),
        "hpc6a was checked in the AWSCluster's us-east-2\n{run}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "audited 10 objects (2 AWSMachine, 3 AWSMachineTemplate, 2 Machine, 3 MachineSet): 3 with findings, 8 warnings",
        "{run}"
    );
    assert_eq!(run.stderr, "", "nothing went wrong on the way");

    // Each kind was listed once, in all namespaces, a page at a time.
    for (api_version, plural) in [
        (MACHINE_API, "machines"),
        (MACHINE_API, "machinesets"),
        (CLUSTER_API, "awsmachines"),
        (CLUSTER_API, "awsmachinetemplates"),
    ] {
        let lists = api.requests(|r| r.is_list_of(plural));
        assert_eq!(lists.len(), 1, "{plural}: {lists:?}");
        assert_eq!(lists[0].path, format!("/apis/{api_version}/{plural}"));
        assert_eq!(lists[0].query.get("limit").map(String::as_str), Some("500"));
    }
    // Each cluster's AWSCluster was read once, however many objects name the cluster:
    // capi-prod's by its label, gpu's by its name once the label found none.
    let aws_cluster_reads: Vec<(String, Option<String>)> = api
        .requests(|r| r.path.contains("/awsclusters"))
        .into_iter()
        .map(|r| (r.path, r.query.get("labelSelector").cloned()))
        .collect();
    assert_eq!(
        aws_cluster_reads,
        [
            (
                format!("/apis/{CLUSTER_API}/namespaces/default/awsclusters"),
                Some("cluster.x-k8s.io/cluster-name=capi-prod".to_owned())
            ),
            (
                format!("/apis/{CLUSTER_API}/namespaces/gpu-team/awsclusters"),
                Some("cluster.x-k8s.io/cluster-name=gpu".to_owned())
            ),
            (
                format!("/apis/{CLUSTER_API}/namespaces/gpu-team/awsclusters/gpu"),
                None
            ),
        ]
    );
    assert_eq!(api.writes(), [], "audit without --report only reads");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_with_only_good_objects_exits_0() {
    let api = FakeApi::start(realistic_cluster()).await;
    let run = api.audit(&["-n", "gpu-team"]).await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        run.lines().last().copied(),
        Some("audited 2 objects (1 AWSMachine, 1 AWSMachineTemplate): 0 with findings, 2 warnings"),
        "{run}"
    );
    assert!(
        run.lines()
            .iter()
            .all(|l| l.starts_with("Warning: gpu-team/") || l.starts_with("audited ")),
        "{run}"
    );
    // Only that namespace was read.
    let lists = api.requests(|r| !r.path.contains("/awsclusters"));
    assert_eq!(lists.len(), 4, "{lists:?}");
    for list in lists {
        assert!(list.path.contains("/namespaces/gpu-team/"), "{list:?}");
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn json_output_for_tools() {
    let api = FakeApi::start(realistic_cluster()).await;
    let run = api.audit(&["-o", "json"]).await;
    assert_eq!(run.code, 1, "{run}");
    let report = run.json();
    assert_eq!(
        report["summary"],
        json!({
            "objects": 10, "withFindings": 3, "findings": 3, "warnings": 8, "unreadable": 0,
            "byKind": {"AWSMachine": 2, "AWSMachineTemplate": 3, "Machine": 2, "MachineSet": 3}
        }),
        "{run}"
    );
    assert_eq!(report["unreadable"], json!([]));
    assert_eq!(report["notServed"], json!([]));
    let objects = report["objects"].as_array().unwrap();
    let with_errors: Vec<&Value> = objects
        .iter()
        .filter(|o| !o["errors"].as_array().unwrap().is_empty())
        .collect();
    assert_eq!(with_errors.len(), 3, "{run}");
    let stored_uid = |plural: &str, ns: &str, name: &str| {
        api.stored(plural, ns, name).unwrap()["metadata"]["uid"].clone()
    };
    let machine_set = with_errors
        .iter()
        .find(|o| o["kind"] == "MachineSet")
        .unwrap();
    assert_eq!(machine_set["apiVersion"], MACHINE_API);
    assert_eq!(machine_set["namespace"], "openshift-machine-api");
    assert_eq!(machine_set["name"], "prod-7x2kq-efa-m5-us-east-1c");
    assert_eq!(
        machine_set["uid"],
        stored_uid(
            "machinesets",
            "openshift-machine-api",
            "prod-7x2kq-efa-m5-us-east-1c"
        )
    );
    assert_eq!(
        machine_set["errors"],
        json!([{
            "rule": "efa-instance-type",
            "field": "spec.template.spec.providerSpec.value.instanceType",
            "reason": "FieldValueInvalid",
            "message": M5_MACHINESET_FINDING,
        }])
    );
    assert_eq!(machine_set["warnings"], json!([]));
    let machine = with_errors.iter().find(|o| o["kind"] == "Machine").unwrap();
    assert_eq!(machine["errors"][0]["rule"], "network-interface-type");
    assert_eq!(machine["errors"][0]["reason"], "FieldValueNotSupported");
    assert_eq!(machine["errors"][0]["message"], EFA_ONLY_FINDING);
    let aws_machine = with_errors
        .iter()
        .find(|o| o["kind"] == "AWSMachine")
        .unwrap();
    assert_eq!(aws_machine["apiVersion"], CLUSTER_API);
    assert_eq!(aws_machine["errors"][0]["rule"], "efa-instance-type");
    assert_eq!(aws_machine["errors"][0]["field"], "spec.instanceType");
    // Allowed objects with advice are listed with their warnings and no errors.
    let p4d = objects
        .iter()
        .find(|o| o["name"] == "prod-7x2kq-efa-p4d-us-east-1a")
        .unwrap();
    assert_eq!(p4d["errors"], json!([]));
    assert_eq!(p4d["warnings"].as_array().unwrap().len(), 2, "{p4d}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kinds_whose_crd_is_not_installed_are_skipped() {
    // An OpenShift cluster without Cluster API AWS: its two kinds are not served. The
    // API server answers with a Status; a proxy in front of it may answer in plain text.
    let mut cluster = realistic_cluster();
    cluster
        .not_installed
        .insert("awsmachines", NotInstalled::Status);
    cluster
        .not_installed
        .insert("awsmachinetemplates", NotInstalled::PlainText);
    let api = FakeApi::start(cluster).await;
    let run = api.audit(&[]).await;
    assert_eq!(run.code, 1, "findings, and nothing unreadable\n{run}");
    assert!(!run.stdout.contains("error:"), "{run}");
    assert_eq!(
        run.lines().last().copied(),
        Some("audited 5 objects (2 Machine, 3 MachineSet): 2 with findings, 5 warnings"),
        "{run}"
    );
    let report = api.audit(&["-o", "json"]).await.json();
    assert_eq!(report["unreadable"], json!([]));
    assert_eq!(
        report["notServed"],
        json!([
            "awsmachines.infrastructure.cluster.x-k8s.io",
            "awsmachinetemplates.infrastructure.cluster.x-k8s.io"
        ])
    );
    api.stop().await;
}
