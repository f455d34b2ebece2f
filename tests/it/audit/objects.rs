//! The objects the stand-in serves: Machine API and Cluster API objects built from the
//! fixtures as they are stored, and the cluster most tests audit
//! ([`realistic_cluster`]) with the findings it holds.

use crate::audit::fake_api::{Cluster, uid_for};
use crate::common;
use serde_json::{Value, json};

/// The object of an AdmissionReview fixture: what was created, now stored.
fn review_object(name: &str) -> Value {
    common::fixture(name)["request"]["object"].clone()
}

/// A stored object from `tests/fixtures/audit/`.
pub(crate) fn audit_fixture(name: &str) -> Value {
    common::fixture(&format!("audit/{name}"))
}

pub(crate) fn set(object: &mut Value, pointer: &str, value: Value) {
    *object
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} is not in the object")) = value;
}

pub(crate) const PROVIDER: &str = "/spec/providerSpec/value";

/// A Machine whose `networkInterfaceType` is EC2's `efa-only`, which the Machine API
/// does not know: the machine controller failed it, and a CREATE would be denied.
fn efa_only_machine() -> Value {
    let mut machine = audit_fixture("machine-worker-running.json");
    let name = "prod-7x2kq-efa-us-east-1a-q8r2d";
    set(&mut machine, "/metadata/name", name.into());
    set(&mut machine, "/metadata/uid", uid_for(name).into());
    for (label, value) in [
        (
            "machine.openshift.io/cluster-api-machineset",
            "prod-7x2kq-efa-us-east-1a",
        ),
        ("machine.openshift.io/instance-type", "c5n.18xlarge"),
    ] {
        machine["metadata"]["labels"][label] = value.into();
    }
    set(
        &mut machine,
        &format!("{PROVIDER}/instanceType"),
        "c5n.18xlarge".into(),
    );
    set(
        &mut machine,
        &format!("{PROVIDER}/networkInterfaceType"),
        "efa-only".into(),
    );
    machine["status"] = json!({
        "errorMessage": "invalid value for networkInterfaceType \"efa-only\"",
        "errorReason": "InvalidConfiguration",
        "lastUpdated": "2026-11-02T16:40:12Z",
        "phase": "Failed"
    });
    machine
}

/// The n-th of a MachineSet's generated worker Machines: the running worker with its
/// own name, uid and instance; every `bad_every`-th has EFA on m5.2xlarge.
pub(crate) fn worker_machine(template: &Value, n: usize, bad_every: Option<usize>) -> Value {
    let mut machine = template.clone();
    // Five base-36 characters, as generateName's suffixes; distinct for n < 36^5.
    let mut code = (n * 7919 + 12345) % 36usize.pow(5);
    let mut suffix = String::new();
    for _ in 0..5 {
        suffix.insert(0, char::from_digit((code % 36) as u32, 36).unwrap());
        code /= 36;
    }
    let name = format!("prod-7x2kq-worker-us-east-1a-{suffix}");
    let instance = format!("i-0{n:016x}");
    set(&mut machine, "/metadata/uid", uid_for(&name).into());
    set(&mut machine, "/metadata/name", name.into());
    set(
        &mut machine,
        "/spec/providerID",
        format!("aws:///us-east-1a/{instance}").into(),
    );
    set(
        &mut machine,
        "/status/providerStatus/instanceId",
        instance.into(),
    );
    if bad_every.is_some_and(|every| n.is_multiple_of(every)) {
        set(
            &mut machine,
            &format!("{PROVIDER}/instanceType"),
            "m5.2xlarge".into(),
        );
        set(
            &mut machine,
            &format!("{PROVIDER}/networkInterfaceType"),
            "EFA".into(),
        );
    }
    machine
}

/// The cluster most tests audit. Findings are marked `bad`.
///
/// openshift-machine-api (an OpenShift cluster, us-east-1 by each providerSpec):
/// - MachineSet prod-7x2kq-efa-m5-us-east-1c: EFA on m5.2xlarge (bad: efa-instance-type)
/// - MachineSet prod-7x2kq-efa-p4d-us-east-1a: EFA on p4d.24xlarge, with advice
/// - MachineSet prod-7x2kq-general-us-east-1b: no networkInterfaceType (the default only)
/// - Machine prod-7x2kq-worker-us-east-1a-4m9zt: a running ENA worker
/// - Machine prod-7x2kq-efa-us-east-1a-q8r2d: `efa-only` (bad: network-interface-type)
/// - Kyverno's PolicyReport, which is not ours to touch
///
/// default (Cluster API cluster capi-prod; its labelled AWSCluster says us-east-2):
/// - AWSMachine capi-prod-md-efa-7d9f8c6b5-x2vqk: EFA on m5.2xlarge (bad, in us-east-2)
/// - AWSMachineTemplate capi-prod-md-efa: EFA on hpc6a.48xlarge, offered in us-east-2
///   and not in us-east-1
/// - AWSMachineTemplate capi-prod-md-0: no networkInterfaceType (the default only)
///
/// gpu-team (cluster gpu; its AWSCluster, found by name, says us-west-2), all good:
/// - AWSMachineTemplate gpu-md-p4d and its AWSMachine, EFA on p4d.24xlarge
pub(crate) fn realistic_cluster() -> Cluster {
    let mut cluster = Cluster::default();
    let mut m5_set = review_object("machineset-create-efa-m5.json");
    m5_set["status"] = json!({"replicas": 1, "fullyLabeledReplicas": 1, "observedGeneration": 1});
    cluster.add(m5_set);
    let mut p4d_set = review_object("machineset-create-efa-p4d.json");
    p4d_set["status"] = json!({"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 2,
                               "availableReplicas": 2, "observedGeneration": 1});
    cluster.add(p4d_set);
    cluster.add(review_object("machineset-create-default.json"));
    cluster.add(audit_fixture("machine-worker-running.json"));
    cluster.add(efa_only_machine());
    cluster.add(audit_fixture("policyreport-kyverno.json"));

    cluster.add(audit_fixture("awscluster-capi-prod.json"));
    let mut m5_machine = review_object("awsmachine-create-efa-m5.json");
    m5_machine["status"] = json!({
        "failureReason": "CreateError",
        "failureMessage": "failed to create AWSMachine instance: InvalidParameterCombination: EFA interfaces are not supported on m5.2xlarge",
        "ready": false
    });
    cluster.add(m5_machine);
    cluster.add(review_object("awsmachinetemplate-create-efa-hpc6a.json"));
    cluster.add(review_object("awsmachinetemplate-create-default.json"));

    cluster.add(audit_fixture("awscluster-gpu.json"));
    cluster.add(audit_fixture("awsmachinetemplate-gpu-p4d.json"));
    cluster.add(audit_fixture("awsmachine-gpu-p4d-running.json"));
    cluster
}

pub(crate) const M5_MACHINESET: &str =
    "openshift-machine-api/MachineSet/prod-7x2kq-efa-m5-us-east-1c";
pub(crate) const EFA_ONLY_MACHINE: &str =
    "openshift-machine-api/Machine/prod-7x2kq-efa-us-east-1a-q8r2d";
pub(crate) const M5_AWSMACHINE: &str = "default/AWSMachine/capi-prod-md-efa-7d9f8c6b5-x2vqk";

pub(crate) const M5_MACHINESET_FINDING: &str = r#"spec.template.spec.providerSpec.value.instanceType: Invalid value: "m5.2xlarge": EFA interfaces are not supported on m5.2xlarge in us-east-1; EFA-capable types offered in us-east-1, closest first: m5zn.12xlarge, m5zn.metal, m5dn.24xlarge, m5dn.metal, m5n.24xlarge"#;
