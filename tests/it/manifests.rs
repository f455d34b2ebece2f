//! The manifests where they run: every overlay, and every component on top of an
//! overlay, accepted by the real API server (`kubectl apply --dry-run=server -k`, after
//! stand-in CRDs for cert-manager and OpenShift's CredentialsRequest); and RBAC proven
//! by SubjectAccessReviews, not read: each ServiceAccount can do every verb its code
//! uses, and cannot do a sample of what it must not.
//!
//! (`make manifests-check` keeps the offline schema and property checks.)

use crate::common::apiserver::{self, ApiServer, kustomize, printed};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const NAMESPACE: &str = "machine-efa-webhook";
const WEBHOOK_ACCOUNT: &str = "machine-efa-webhook";
const CRONJOB_ACCOUNT: &str = "machine-efa-webhook-audit";
const OVERLAYS: [&str; 3] = ["cert-manager", "cluster-api", "openshift"];
/// Each component on a kustomization without it: (component, base or overlay).
const COMPONENTS: [(&str, &str); 4] = [
    ("audit", "base"),
    ("audit-cronjob", "overlays/cert-manager"),
    ("cluster-api", "overlays/openshift"),
    ("fail-closed", "overlays/cluster-api"),
];

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scratch directory under target/: kustomize takes only relative paths, so the
/// kustomizations made here reach manifests/ as `../../../manifests`.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in(repository().join("target")).unwrap()
}

/// A kustomization in `dir` (from [`scratch`]) that puts `component` on `on` (a
/// directory under manifests/).
fn with_component(dir: &Path, component: &str, on: &str) -> PathBuf {
    let root = dir.join(component);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(
        root.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../../manifests/{on}\ncomponents:\n  - ../../../manifests/components/{component}\n"
        ),
    )
    .unwrap();
    root
}

/// A copy of the dev overlay with its webhooks.yaml made as `make dev-overlay` does.
fn dev_overlay(dir: &Path) -> PathBuf {
    let root = dir.join("dev");
    std::fs::create_dir_all(&root).unwrap();
    let source = repository().join("manifests/overlays/dev");
    std::fs::copy(
        source.join("kustomization.yaml"),
        root.join("kustomization.yaml"),
    )
    .unwrap();
    let template = std::fs::read_to_string(source.join("webhooks.yaml.in")).unwrap();
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(&apiserver::shared().ca_pem);
    std::fs::write(
        root.join("webhooks.yaml"),
        template.replace("@CA_BUNDLE@", &ca),
    )
    .unwrap();
    root
}

#[tokio::test(flavor = "multi_thread")]
async fn every_overlay_and_component_is_accepted_by_the_api_server() {
    let api = apiserver::shared();
    api.install_crds(&["cert-manager.yaml", "openshift-credentials.yaml"]);
    api.ensure_namespaces(&[NAMESPACE, "openshift-cloud-credential-operator"]);
    let dir = scratch();
    let mut roots: Vec<PathBuf> = std::iter::once("base".to_owned())
        .chain(OVERLAYS.iter().map(|overlay| format!("overlays/{overlay}")))
        .map(|dir| repository().join("manifests").join(dir))
        .collect();
    roots.push(dev_overlay(dir.path()));
    roots.extend(
        COMPONENTS
            .iter()
            .map(|(component, on)| with_component(dir.path(), component, on)),
    );

    for root in roots {
        let root = root.display().to_string();
        let output = api.kubectl_output(&["apply", "--dry-run=server", "-k", &root], &Value::Null);
        let said = printed(&output);
        assert!(output.status.success(), "{root}:\n{said}");
        let rendered = kustomize(&root);
        for object in &rendered {
            let (kind, name) = (
                object["kind"].as_str().unwrap(),
                object["metadata"]["name"].as_str().unwrap(),
            );
            assert!(
                said.lines()
                    .any(|l| l.contains(&format!("/{name}")) && l.contains("(server dry run)")),
                "{root}: {kind} {name} not applied:\n{said}"
            );
        }
    }
}

/// Whether the API server's authorizer lets `account` do `verb` on `resource`.
async fn allowed(
    client: &kube::Client,
    account: &str,
    verb: &str,
    group: &str,
    resource: &str,
    name: &str,
) -> bool {
    // Infrastructures are cluster-scoped; everything else is asked of a namespace of machines.
    let namespace = if resource == "infrastructures" {
        ""
    } else {
        "openshift-machine-api"
    };
    let review: SubjectAccessReview = serde_json::from_value(json!({
        "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {
            "user": format!("system:serviceaccount:{NAMESPACE}:{account}"),
            "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{NAMESPACE}"), "system:authenticated"],
            "resourceAttributes": {"namespace": namespace, "verb": verb, "group": group,
                                   "resource": resource, "name": name}
        }
    }))
    .unwrap();
    let reviews: kube::Api<SubjectAccessReview> = kube::Api::all(client.clone());
    let answer = reviews.create(&Default::default(), &review).await.unwrap();
    answer.status.unwrap().allowed
}

/// (verb, group, resource, name) a ServiceAccount's code uses.
type Access = (&'static str, &'static str, &'static str, &'static str);

const MACHINE_API: &str = "machine.openshift.io";
const CLUSTER_API: &str = "infrastructure.cluster.x-k8s.io";

/// `serve --audit-interval` (components/audit, in every overlay).
const AUDIT_READS: [Access; 8] = [
    ("get", MACHINE_API, "machines", ""),
    ("list", MACHINE_API, "machines", ""),
    ("get", MACHINE_API, "machinesets", ""),
    ("list", MACHINE_API, "machinesets", ""),
    ("get", CLUSTER_API, "awsmachines", ""),
    ("list", CLUSTER_API, "awsmachines", ""),
    ("get", CLUSTER_API, "awsmachinetemplates", ""),
    ("list", CLUSTER_API, "awsmachinetemplates", ""),
];
/// `serve` reading the region of an OpenShift cluster.
const INFRASTRUCTURE: Access = ("get", "config.openshift.io", "infrastructures", "cluster");
/// `serve --cluster-api-regions`, and the audit's regions of Cluster API objects.
const AWSCLUSTERS: [Access; 2] = [
    ("get", CLUSTER_API, "awsclusters", ""),
    ("list", CLUSTER_API, "awsclusters", ""),
];
/// `audit --report`.
const REPORTS: [Access; 4] = [
    ("list", "wgpolicyk8s.io", "policyreports", ""),
    ("create", "wgpolicyk8s.io", "policyreports", ""),
    ("update", "wgpolicyk8s.io", "policyreports", ""),
    ("delete", "wgpolicyk8s.io", "policyreports", ""),
];
/// What no account of ours may do.
const NEVER: [Access; 9] = [
    ("create", MACHINE_API, "machines", ""),
    ("update", MACHINE_API, "machines", ""),
    ("patch", MACHINE_API, "machinesets", ""),
    ("delete", MACHINE_API, "machinesets", ""),
    ("update", CLUSTER_API, "awsmachines", ""),
    ("get", "", "secrets", "aws-cloud-credentials"),
    ("list", "", "secrets", ""),
    ("update", "", "configmaps", ""),
    (
        "create",
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        "",
    ),
];

async fn assert_access(
    client: &kube::Client,
    what: &str,
    account: &str,
    may: &[Access],
    may_not: &[Access],
) {
    let mut wrong = Vec::new();
    for (expected, accesses) in [(true, may), (false, may_not)] {
        for &(verb, group, resource, name) in accesses {
            if allowed(client, account, verb, group, resource, name).await != expected {
                wrong.push(format!(
                    "{} {verb} {group}/{resource} {name}",
                    if expected { "cannot" } else { "can" }
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{what}: {account}:\n{}", wrong.join("\n"));
}

/// Applies the RBAC objects `kustomize` renders for `root`, for real.
fn apply_rbac(api: &ApiServer, root: &str) {
    let objects: Vec<Value> = kustomize(root)
        .into_iter()
        .filter(|o| {
            matches!(
                o["kind"].as_str(),
                Some(
                    "ServiceAccount"
                        | "ClusterRole"
                        | "ClusterRoleBinding"
                        | "Role"
                        | "RoleBinding"
                )
            )
        })
        .collect();
    api.apply(&objects);
}

/// The webhook's bindings, removed between overlays so each is judged alone.
fn unbind_webhook_account(api: &ApiServer) {
    for binding in [
        "machine-efa-webhook-audit-reader",
        "machine-efa-webhook-infrastructure-reader",
        "machine-efa-webhook-awscluster-reader",
    ] {
        apiserver::run(api.kubectl().args([
            "delete",
            "clusterrolebinding",
            binding,
            "--ignore-not-found",
        ]));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_service_account_may_do_what_its_code_does_and_nothing_it_must_not() {
    let api = apiserver::shared();
    api.ensure_namespaces(&[NAMESPACE]);
    let client = api.client().await;
    let overlays = repository().join("manifests/overlays");
    let overlay = |name: &str| overlays.join(name).display().to_string();
    let dir = scratch();

    let reports_not: Vec<Access> = NEVER.iter().copied().chain(REPORTS).collect();
    for (name, may, may_not) in [
        (
            "cert-manager",
            AUDIT_READS.to_vec(),
            [
                reports_not.clone(),
                AWSCLUSTERS.to_vec(),
                vec![INFRASTRUCTURE],
            ]
            .concat(),
        ),
        (
            "cluster-api",
            [AUDIT_READS.as_slice(), &AWSCLUSTERS].concat(),
            [reports_not.clone(), vec![INFRASTRUCTURE]].concat(),
        ),
        (
            "openshift",
            [AUDIT_READS.as_slice(), &[INFRASTRUCTURE]].concat(),
            [reports_not.clone(), AWSCLUSTERS.to_vec()].concat(),
        ),
    ] {
        unbind_webhook_account(api);
        apply_rbac(api, &overlay(name));
        assert_access(&client, name, WEBHOOK_ACCOUNT, &may, &may_not).await;
    }

    // The audit CronJob's account (components/audit-cronjob).
    let cronjob = with_component(dir.path(), "audit-cronjob", "overlays/cert-manager")
        .display()
        .to_string();
    apply_rbac(api, &cronjob);
    let may: Vec<Access> = [AUDIT_READS.as_slice(), &AWSCLUSTERS, &REPORTS].concat();
    assert_access(
        &client,
        "audit-cronjob",
        CRONJOB_ACCOUNT,
        &may,
        &[NEVER.as_slice(), &[INFRASTRUCTURE]].concat(),
    )
    .await;
}
