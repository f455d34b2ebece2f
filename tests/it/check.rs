//! `check` and `instance-types` as a CI job or a user at a terminal runs them: the real
//! binary on the fixtures in `tests/fixtures/check/`, on stdin, and against moto.

use crate::common;

use machine_efa_webhook::capabilities::snapshot::SnapshotFile;
use machine_efa_webhook::core::{CapabilityTable, Provenance, RegionOfferings, SourceKind};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_machine-efa-webhook");

fn dir(name: &str) -> PathBuf {
    common::fixture_path("check").join(name)
}

/// The binary with no AWS configuration from the machine it runs on.
fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(common::fixture_path("check"))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().unwrap();
    (
        status.code().expect("exited, not killed"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

const M5_DENIAL: &str = r#"spec.template.spec.providerSpec.value.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-1; EFA-capable types offered in us-east-1, closest first: m5zn.12xlarge, m5zn.metal, m5dn.24xlarge, m5dn.metal, m5n.24xlarge"#;

#[test]
fn a_clean_directory_passes_with_its_warnings() {
    let (code, out, _) = run(&["check", "-f", "good", "--region", "us-east-1"], None);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "Warning: good/machineset-efa-p4d.yaml:1 MachineSet/prod-7x2kq-gpu-us-east-1a: instance type p4d.24xlarge is offered in 4 of the 6 zones of us-east-1 (by zone ID: use1-az1, use1-az2, use1-az4, use1-az6); whether \"us-east-1a\" is one of them needs this account's zone names: --capabilities ec2\n\
         Warning: good/machineset-efa-p4d.yaml:1 MachineSet/prod-7x2kq-gpu-us-east-1a: EFA on \"p4d.24xlarge\" needs a security group that allows all traffic between its members, and the EFA device plugin (libfabric) on the nodes to be of use\n\
         checked 1 object in 1 file (1 document): 0 denied, 1 allowed, 2 warnings\n"
    );
}

#[test]
fn a_denial_names_file_document_object_and_field() {
    let (code, out, _) = run(&["check", "-f", "bad/machineset-efa-m5.yaml"], None);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.lines().next().unwrap(),
        format!(
            "bad/machineset-efa-m5.yaml:1 MachineSet/prod-7x2kq-general-us-east-1a: {M5_DENIAL}"
        )
    );
    assert!(
        out.ends_with("checked 1 object in 1 file (1 document): 1 denied, 0 allowed, 0 warnings\n")
    );
}

#[test]
fn mixed_inputs_multi_document_lists_and_cluster_api() {
    let (code, out, _) = run(&["check", "-f", "mixed"], None);
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    // Every kind, from a multi-document stream, a v1 List and Cluster API objects.
    for want in [
        // The AWSCluster in the same input gives its region: hpc6a is offered in us-east-2.
        "Warning: mixed/cluster-api.yaml:2 AWSMachineTemplate/capi-prod-md-hpc: spec.template.spec.networkInterfaceType: \"EFA\" was normalised to the canonical \"efa\"",
        "Warning: mixed/cluster-api.yaml:2 AWSMachineTemplate/capi-prod-md-hpc: EFA on \"hpc6a.48xlarge\" needs a security group",
        "Warning: mixed/kustomize-build.yaml:3 MachineSet/prod-7x2kq-hpc-us-east-1a: spec.template.spec.providerSpec.value.networkInterfaceType: \"efa\" was normalised to the canonical \"EFA\"",
        &format!(
            "mixed/kustomize-build.yaml:4 MachineSet/prod-7x2kq-general-us-east-1a: {M5_DENIAL}"
        ),
        "Warning: mixed/machines-list.json:1 Machine/prod-7x2kq-gpu-us-east-1a-8xk2p: EFA on \"p4d.24xlarge\"",
        "mixed/machines-list.json:1 Machine/prod-7x2kq-gpu-us-east-1a-q9v4w: spec.providerSpec.value.instanceType: Invalid value: \"m5.xlarge\": EFA interfaces are not supported on m5.xlarge in us-east-1",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "missing {want}\n{out}"
        );
    }
    assert!(
        !out.contains("is not known"),
        "the AWSCluster's region was used: {out}"
    );
    assert_eq!(
        lines.last().unwrap(),
        &"checked 7 objects in 3 files (8 documents): 2 denied, 5 allowed, 8 warnings"
    );
}

#[test]
fn stdin_takes_kustomize_build_output() {
    let stream = std::fs::read_to_string(dir("mixed/kustomize-build.yaml")).unwrap();
    let (code, out, _) = run(&["check", "-f", "-"], Some(&stream));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "<stdin>:4 MachineSet/prod-7x2kq-general-us-east-1a: {M5_DENIAL}"
        )),
        "{out}"
    );
    assert!(
        out.ends_with(
            "checked 3 objects in 1 file (4 documents): 1 denied, 2 allowed, 4 warnings\n"
        ),
        "{out}"
    );
    // Nothing of ours in the input is clean, not an error.
    let (code, out, _) = run(
        &["check", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"),
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn unreadable_input_is_named_with_its_line_and_exits_2() {
    let (code, out, _) = run(&["check", "-f", "broken.yaml", "-f", "good"], None);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("error: broken.yaml:7:11: "), "{out}");
    // The readable files are still checked.
    assert!(out.contains("good/machineset-efa-p4d.yaml:1"), "{out}");
    assert!(out.ends_with("; 1 unreadable\n"), "{out}");
    // Even next to a denial, unreadable input wins: the check was incomplete.
    let (code, out, _) = run(
        &[
            "check",
            "-f",
            "broken.yaml",
            "-f",
            "bad",
            "-f",
            "no/such/dir",
        ],
        None,
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("error: no/such/dir: No such file or directory"),
        "{out}"
    );
}

#[test]
fn json_output_for_tools() {
    let (code, out, _) = run(
        &["check", "-f", "mixed", "-f", "broken.yaml", "-o", "json"],
        None,
    );
    assert_eq!(code, 2);
    let report: Value = serde_json::from_str(&out).unwrap();
    let summary = &report["summary"];
    for (key, want) in [
        ("files", 3),
        ("documents", 8),
        ("objects", 7),
        ("allowed", 5),
        ("denied", 2),
        ("patched", 4),
        ("warnings", 8),
        ("unreadable", 1),
    ] {
        assert_eq!(summary[key], want, "summary.{key}: {summary}");
    }
    let objects = report["objects"].as_array().unwrap();
    assert_eq!(objects.len(), 7);
    for object in objects {
        for key in ["file", "apiVersion", "kind", "name"] {
            assert!(object[key].is_string(), "{key}: {object}");
        }
        assert!(object["document"].as_u64().unwrap() >= 1);
        assert!(
            object["allowed"].is_boolean()
                && object["warnings"].is_array()
                && object["patch"].is_array()
        );
        assert_eq!(
            object["allowed"],
            object["errors"].as_array().unwrap().is_empty()
        );
    }
    let denied = objects
        .iter()
        .find(|o| o["name"] == "prod-7x2kq-general-us-east-1a")
        .unwrap();
    assert_eq!(denied["namespace"], "openshift-machine-api");
    assert_eq!(
        denied["errors"][0],
        serde_json::json!({"field": "spec.template.spec.providerSpec.value.instanceType", "reason": "FieldValueInvalid", "message": M5_DENIAL})
    );
    let listed = objects
        .iter()
        .find(|o| o["name"] == "prod-7x2kq-gpu-us-east-1a-q9v4w")
        .unwrap();
    assert_eq!(listed["pointer"], "/items/1");
    let defaulted = objects
        .iter()
        .find(|o| o["name"] == "prod-7x2kq-infra-us-east-1a")
        .unwrap();
    assert_eq!(
        defaulted["patch"],
        serde_json::json!([{"op": "add", "path": "/spec/template/spec/providerSpec/value/networkInterfaceType", "value": "ENA"}])
    );
    assert_eq!(
        report["unreadable"],
        serde_json::json!([{"file": "broken.yaml", "line": 7, "column": 11, "error": "illegal placement of ':' indicator"}])
    );
}

/// Lines of `a` not in `b`, in order.
fn lines_only_in<'a>(a: &'a str, b: &str) -> Vec<&'a str> {
    let mut b: Vec<&str> = b.lines().collect();
    a.lines()
        .filter(|line| match b.iter().position(|l| l == line) {
            Some(i) => {
                b.remove(i);
                false
            }
            None => true,
        })
        .collect()
}

#[test]
fn fix_writes_the_mutated_documents_keeping_the_rest() {
    let (code, fixed, report) = run(&["check", "-f", "mixed", "--fix"], None);
    assert_eq!(code, 1, "the denials are still reported: {report}");
    assert!(
        report.ends_with("2 denied, 5 allowed, 8 warnings\n"),
        "the report goes to stderr: {report}"
    );
    let original: String = [
        "cluster-api.yaml",
        "kustomize-build.yaml",
        "machines-list.json",
    ]
    .map(|f| std::fs::read_to_string(dir("mixed").join(f)).unwrap())
    .join("---\n");
    // Only networkInterfaceType lines change; comments, order and the rest stay as written.
    assert_eq!(
        lines_only_in(&original, &fixed),
        [
            "      networkInterfaceType: EFA",
            "          networkInterfaceType: efa  # the proposal spelling"
        ]
    );
    assert_eq!(
        lines_only_in(&fixed, &original),
        [
            "      networkInterfaceType: efa",
            "      networkInterfaceType: interface",
            "          networkInterfaceType: ENA",
            "          networkInterfaceType: EFA  # the proposal spelling",
        ]
    );
    // Round trip: the fixed stream needs no more fixing and decides the same.
    let (code, again, _) = run(&["check", "-f", "-", "-o", "json"], Some(&fixed));
    assert_eq!(code, 1);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["summary"]["patched"], 0, "{again}");
    assert_eq!(again["summary"]["denied"], 2);
    assert_eq!(again["summary"]["objects"], 7);
}

#[test]
fn fix_rewrites_what_it_cannot_edit_in_place_and_says_so() {
    let text = "apiVersion: machine.openshift.io/v1beta1\nkind: Machine\nmetadata:\n  name: odd\nspec:\n  providerSpec:\n    value:\n      apiVersion: machine.openshift.io/v1beta1\n      kind: AWSMachineProviderConfig\n      instanceType: c5n.18xlarge\n      networkInterfaceType: >-\n        efa\n";
    let (code, fixed, report) = run(&["check", "-f", "-", "--fix"], Some(text));
    assert_eq!(code, 0, "{report}");
    assert!(
        report.contains("note: <stdin> could not be edited in place"),
        "{report}"
    );
    let (code, again, _) = run(&["check", "-f", "-", "-o", "json"], Some(&fixed));
    assert_eq!(code, 0, "{fixed}");
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["summary"]["patched"], 0, "{fixed}");
}

#[test]
fn a_snapshot_file_can_be_the_table() {
    // A table that knows nothing: every EFA type is unknown, so a warning, not a denial.
    let file = tempfile::NamedTempFile::new().unwrap();
    let empty = CapabilityTable::new(
        Default::default(),
        [(
            "us-east-1".to_owned(),
            RegionOfferings {
                offered: Default::default(),
                zones: Default::default(),
                provenance: Provenance {
                    source: SourceKind::File,
                    fetched_at: "2026-11-25T00:00:00Z".into(),
                    stale_reason: None,
                },
            },
        )]
        .into(),
    );
    SnapshotFile::new("test".into(), "2026-11-25T00:00:00Z".into(), &empty)
        .write(file.path())
        .unwrap();
    let (code, out, err) = run(
        &[
            "check",
            "-f",
            "bad",
            "--capabilities",
            file.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(r#"instance type "m5.2xlarge" is not an instance type the capability table (snapshot file of 2026-11-25T00:00:00Z) knows in us-east-1"#), "{out}");
    let (code, _, err) = run(
        &[
            "check",
            "-f",
            "bad",
            "--capabilities",
            "/no/such/table.json",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.starts_with("error: the capability table: "), "{err}");
}

#[test]
fn instance_types_lists_the_table_sorted_with_its_source() {
    let (code, out, err) = run(
        &[
            "instance-types",
            "--region",
            "us-east-1",
            "--efa",
            "--family",
            "c5n",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("# 3 instance types; capability table: embedded snapshot of "),
        "{out}"
    );
    assert!(
        lines[1].starts_with("INSTANCE TYPE") && lines[1].ends_with("OFFERED IN us-east-1  ZONES"),
        "{out}"
    );
    let names: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["c5n.9xlarge", "c5n.18xlarge", "c5n.metal"],
        "by size: {out}"
    );
    // The region decides "offered": hpc6a is in us-east-2, not in us-east-1.
    for (region, offered) in [("us-east-1", false), ("us-east-2", true)] {
        let (code, out, _) = run(
            &[
                "instance-types",
                "--region",
                region,
                "--family",
                "hpc6a",
                "-o",
                "json",
            ],
            None,
        );
        assert_eq!(code, 0);
        let listing: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(listing["region"], region);
        assert!(
            listing["source"]
                .as_str()
                .unwrap()
                .starts_with("embedded snapshot of ")
        );
        let row = &listing["instanceTypes"][0];
        assert_eq!(row["instanceType"], "hpc6a.48xlarge");
        assert_eq!(row["efaSupported"], true);
        assert_eq!(row["vcpus"], 96);
        assert_eq!(row["offered"], offered, "{region}");
        for key in ["maximumEfaInterfaces", "memoryMib", "networkPerformance"] {
            assert!(!row[key].is_null(), "{key}");
        }
    }
}

#[test]
fn the_table_can_come_from_ec2() {
    let endpoint = common::moto_endpoint();
    // The placement group the EFA machines name, made as their cluster would have.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::ensure_placement_group(
            "us-east-1",
            "prod-7x2kq-efa",
            "cluster",
        ));
    let output = command(&[
        "check",
        "-f",
        "mixed",
        "--capabilities",
        "ec2",
        "--region",
        "us-east-1",
        "-o",
        "json",
    ])
    .env("AWS_ENDPOINT_URL", &endpoint)
    .env("AWS_ACCESS_KEY_ID", "testing")
    .env("AWS_SECRET_ACCESS_KEY", "testing")
    .output()
    .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["summary"]["denied"], 2, "{report}");
    // The sources say EC2, with both regions the input needs read.
    let warnings = report["objects"].to_string();
    assert!(
        !warnings.contains("not in the capability table"),
        "{warnings}"
    );
    let output = command(&[
        "instance-types",
        "--capabilities",
        "ec2",
        "--region",
        "us-east-2",
        "--family",
        "hpc6a",
    ])
    .env("AWS_ENDPOINT_URL", &endpoint)
    .env("AWS_ACCESS_KEY_ID", "testing")
    .env("AWS_SECRET_ACCESS_KEY", "testing")
    .output()
    .unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(
        out.starts_with("# 1 instance type; capability table: EC2 of "),
        "{out}"
    );
    // Offered; with live data, its zones by this account's names.
    let row = out.lines().nth(2).unwrap();
    assert!(row.contains(" yes "), "{out}");
    assert!(row.contains("us-east-2") || row.ends_with("all 3"), "{out}");
}
