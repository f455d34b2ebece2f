#!/usr/bin/env python3
"""Checks of the kustomize manifests under manifests/ (run by `make manifests-check`).

1. Builds the base, every overlay and, for each base-derived one, a variant with
   components/fail-closed, with `kubectl kustomize`; also the openshift overlay
   with components/cluster-api (overlays/cluster-api has it on cert-manager). The
   dev overlay is generated first by the real `make dev-overlay`, into a temporary
   copy, from a dummy CA.
2. Validates every rendered object of a built-in kind against the Kubernetes JSON
   schemas shipped by kubernetes-validate (strict: unknown fields are errors).
   Custom kinds (CredentialsRequest, cert-manager Issuer and Certificate) have no
   schema there; their fields are checked below.
3. Asserts the properties the deployment relies on (webhook rules and settings,
   pod security, availability, certificates, credentials, RBAC) on the rendered
   output, so an edit cannot drop one silently.

Prints one line per failed check and ends with `N passed, M failed`; exits 1 on
any failure. Needs kubectl (with kustomize v4 or later), make, PyYAML and
kubernetes-validate. The environment variable KUBECTL overrides the kubectl used.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import yaml

import kubernetes_validate

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
KUBECTL = os.environ.get("KUBECTL", "kubectl")

# What the manifests promise; change here and in the YAML together.
NAMESPACE = "machine-efa-webhook"
APP = "machine-efa-webhook"
SERVICE = "machine-efa-webhook"
SERVICE_ACCOUNT = "machine-efa-webhook"
TLS_SECRET = "machine-efa-webhook-tls"
AWS_SECRET = "machine-efa-webhook-aws"
DOMAIN = "machine-efa-webhook.io"
SERVICE_DNS = f"{SERVICE}.{NAMESPACE}.svc"
WEBHOOK_PORT = 9443
METRICS_PORT = 8080
# Read-only, and exactly what the capability source calls.
EC2_ACTIONS = {"ec2:DescribeInstanceTypes", "ec2:DescribeInstanceTypeOfferings",
               "ec2:DescribeAvailabilityZones", "ec2:DescribePlacementGroups",
               "ec2:DescribeSecurityGroups"}
PATHS = {"MutatingWebhookConfiguration": "/mutate", "ValidatingWebhookConfiguration": "/validate"}
# The one rule of base/webhooks.yaml (and the dev overlay).
MACHINE_API_RULE = {
    "apiGroups": ["machine.openshift.io"],
    "apiVersions": ["v1beta1"],
    "resources": ["machines", "machinesets"],
    "operations": ["CREATE", "UPDATE"],
    "scope": "Namespaced",
}
# What components/cluster-api appends to it. AWSMachineTemplate is immutable in
# Cluster API: CREATE only.
CAPI_GROUP = "infrastructure.cluster.x-k8s.io"
CAPI_RULES = [
    {"apiGroups": [CAPI_GROUP], "apiVersions": ["v1beta2"], "resources": ["awsmachines"], "operations": ["CREATE", "UPDATE"], "scope": "Namespaced"},
    {"apiGroups": [CAPI_GROUP], "apiVersions": ["v1beta2"], "resources": ["awsmachinetemplates"], "operations": ["CREATE"], "scope": "Namespaced"},
]
CAPI_ENV = "EFA_WEBHOOK_CLUSTER_API_REGIONS"
# The ClusterRole rules each API-reading feature needs, and nothing more.
INFRASTRUCTURE_RBAC = [{"apiGroups": ["config.openshift.io"], "resources": ["infrastructures"], "resourceNames": ["cluster"], "verbs": ["get"]}]
AWSCLUSTER_RBAC = [{"apiGroups": [CAPI_GROUP], "resources": ["awsclusters"], "verbs": ["get", "list"]}]
# components/audit (in the cert-manager and openshift overlays): the webhook lists
# the four kinds it judges, every 10 minutes.
AUDIT_ENV = "EFA_WEBHOOK_AUDIT_INTERVAL"
AUDIT_INTERVAL = "10m"
AUDIT_RBAC = [
    {"apiGroups": ["machine.openshift.io"], "resources": ["machines", "machinesets"], "verbs": ["get", "list"]},
    {"apiGroups": [CAPI_GROUP], "resources": ["awsmachines", "awsmachinetemplates"], "verbs": ["get", "list"]},
]
# components/audit-cronjob: its own account writes PolicyReports and reads what it judges.
AUDIT_JOB = "machine-efa-webhook-audit"
AUDIT_JOB_RBAC = [
    {"apiGroups": ["wgpolicyk8s.io"], "resources": ["policyreports"], "verbs": ["list", "create", "update", "delete"]},
    {"apiGroups": ["machine.openshift.io"], "resources": ["machines", "machinesets"], "verbs": ["get", "list"]},
    {"apiGroups": [CAPI_GROUP], "resources": ["awsmachines", "awsmachinetemplates", "awsclusters"], "verbs": ["get", "list"]},
]
AUDIT_JOB_COMMAND = ["/usr/local/bin/machine-efa-webhook", "audit", "--report"]
READ_VERBS = {"get", "list", "watch"}
IMAGE = "ghcr.io/machine-efa-webhook/machine-efa-webhook:0.1.0"
# Besides the newest schemas kubernetes-validate ships, validate against an older
# API server too, so that a field newer than that cannot slip in unnoticed
# (1.29 is the Kubernetes of OpenShift 4.16).
OLDEST_K8S = "1.29.0"

# Any PEM text does for the manifests; the webhook itself is not started.
DUMMY_CA = (
    "-----BEGIN CERTIFICATE-----\n"
    "TUFDSElORS1FRkEtV0VCSE9PSyBURVNUIENBIChub3QgYSByZWFsIGNlcnRpZmljYXRlKQ==\n"
    "-----END CERTIFICATE-----\n"
)

# The custom kinds the manifests may contain, each checked by the field tests.
CUSTOM_KINDS = {
    ("cloudcredential.openshift.io/v1", "CredentialsRequest"),
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
}


class Results:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, name: str, fn: Callable[[], None]) -> None:
        """Run one named check; an AssertionError (or any error) fails it."""
        try:
            fn()
        except AssertionError as e:
            self.failed.append(f"{name}: {e}")
            print(f"FAIL {name}: {e}")
        except Exception as e:  # a crash in a check is a failure, not an abort
            self.failed.append(f"{name}: {type(e).__name__}: {e}")
            print(f"FAIL {name}: {type(e).__name__}: {e}")
        else:
            self.passed += 1


R = Results()


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


# ----------------------------------------------------------------- helpers


def one(objs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"].get("name") == name)]
    assert len(found) == 1, f"expected exactly one {kind}{' ' + name if name else ''}, found {len(found)}"
    return found[0]


def of_kind(objs: list[dict], kind: str) -> list[dict]:
    return [o for o in objs if o.get("kind") == kind]


def roles_of(objs: list[dict]) -> list[dict]:
    return of_kind(objs, "Role") + of_kind(objs, "ClusterRole")


def annotations(obj: dict) -> dict:
    return obj.get("metadata", {}).get("annotations") or {}


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def pod_spec(deploy: dict) -> dict:
    return deploy["spec"]["template"]["spec"]


def webhook_container(deploy: dict) -> dict:
    containers = pod_spec(deploy)["containers"]
    assert len(containers) == 1, f"expected one container, found {len(containers)}"
    return containers[0]


def resolve_port(container: dict, port: Any) -> int:
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    raise AssertionError(f"named port {port!r} is not a port of container {container['name']}")


def parse_duration_seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    assert m, f"cannot read duration {text!r}"
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def is_builtin(api_version: str) -> bool:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return group == "" or "." not in group or group.endswith(".k8s.io")


def canonical(value: Any) -> str:
    """A comparable form of a rule: lists of strings sorted, keys sorted."""

    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list) and all(isinstance(x, str) for x in v):
            return sorted(v)
        if isinstance(v, list):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True)


def parse_target(name: str) -> tuple[str, bool, bool]:
    """"cluster-api+fail-closed" -> (flavor, cluster_api, fail_closed). The flavor is
    the overlay the build starts from: overlays/cluster-api is cert-manager plus
    components/cluster-api."""
    variant, *extras = name.split("+")
    cluster_api = variant == "cluster-api" or "cluster-api" in extras
    flavor = "cert-manager" if variant == "cluster-api" else variant
    return flavor, cluster_api, "fail-closed" in extras


def selector_matches(selector: dict, labels: dict) -> bool:
    assert not selector.get("matchExpressions"), "selector uses matchExpressions; extend the check"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items()) and bool(
        selector.get("matchLabels")
    )


# ------------------------------------------------------------------- build


def kustomize_version() -> str | None:
    """The kustomize version kubectl embeds; "" when it does not say (kubectl 1.20
    and older); None when kubectl cannot be run at all."""
    try:
        p = run([KUBECTL, "version", "--client", "-o", "json"])
    except OSError:
        return None
    # Older clients exit non-zero here yet print the JSON: read it regardless.
    try:
        return json.loads(p.stdout).get("kustomizeVersion", "")
    except json.JSONDecodeError:
        return None


def build(path: Path) -> list[dict]:
    p = run([KUBECTL, "kustomize", str(path)])
    assert p.returncode == 0, f"kubectl kustomize {path} failed: {p.stderr.strip()}"
    docs = [d for d in yaml.safe_load_all(p.stdout) if d is not None]
    assert docs, f"kubectl kustomize {path} rendered nothing"
    return docs


def prepare(tmp: Path) -> dict[str, Path]:
    """Copy manifests/ into tmp, generate the dev overlay there, add fail-closed variants."""
    work = tmp / "manifests"
    dev_src = MANIFESTS / "overlays" / "dev"

    def leave_out(directory: str, names: list[str]) -> set[str]:
        # Not a developer's generated dev/webhooks.yaml: the check makes its own.
        if Path(directory) == dev_src:
            return {n for n in names if n == "webhooks.yaml" or n.endswith(".tmp")}
        return set()

    shutil.copytree(MANIFESTS, work, ignore=leave_out)

    certs = tmp / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_text(DUMMY_CA)
    dev_out = work / "overlays" / "dev" / "webhooks.yaml"
    p = run(["make", "-s", "-C", str(ROOT), "dev-overlay", f"CERTS={certs}", f"DEV_WEBHOOKS={dev_out}"])
    assert p.returncode == 0, f"make dev-overlay failed: {p.stdout}{p.stderr}"

    targets = {
        "base": work / "base",
        "openshift": work / "overlays" / "openshift",
        "cert-manager": work / "overlays" / "cert-manager",
        "cluster-api": work / "overlays" / "cluster-api",
        "dev": work / "overlays" / "dev",
    }

    def with_component(name: str, component: str) -> None:
        # The documented one-line switch.
        d = work / "overlays" / f"zz-{component}-{name}"
        d.mkdir()
        rel = os.path.relpath(targets[name], d)
        (d / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {rel}\ncomponents:\n  - ../../components/{component}\n"
        )
        targets[f"{name}+{component}"] = d

    # components/cluster-api on OpenShift too (overlays/cluster-api has it on cert-manager).
    with_component("openshift", "cluster-api")
    # The PolicyReport CronJob on either overlay.
    with_component("openshift", "audit-cronjob")
    with_component("cert-manager", "audit-cronjob")
    # fail-closed on each kustomization built on base.
    for name in ("base", "openshift", "cert-manager", "cluster-api"):
        with_component(name, "fail-closed")
    return targets


# ------------------------------------------------------------------ schema


def schema_checks(name: str, objs: list[dict], k8s_version: str) -> None:
    for i, obj in enumerate(objs):
        kind = obj.get("kind", "?")
        api = obj.get("apiVersion", "?")
        ident = f"{name}: schema {k8s_version} {kind}/{obj.get('metadata', {}).get('name', i)}"
        if not is_builtin(api):
            if k8s_version != kubernetes_validate.latest_version():
                continue  # reported once, with the newest schemas

            def custom_known(api: str = api, kind: str = kind) -> None:
                assert (api, kind) in CUSTOM_KINDS, (
                    f"{api} {kind} has no schema here and no field check: add one to check_manifests.py"
                )

            R.check(ident + " (custom kind, field-checked)", custom_known)
            continue

        def validate(obj: dict = obj) -> None:
            try:
                kubernetes_validate.validate(obj, k8s_version, strict=True)
            except kubernetes_validate.ValidationError as e:
                where = "/".join(str(p) for p in e.absolute_path) or "(root)"
                raise AssertionError(f"{where}: {e.message}") from None
            except kubernetes_validate.SchemaNotFoundError as e:
                raise AssertionError(e.message) from None

        R.check(ident, validate)


# ---------------------------------------------------------------- webhooks


def webhook_checks(name: str, objs: list[dict], failure_policy: str, dev: bool, cluster_api: bool) -> None:
    for kind, path in PATHS.items():
        configs = of_kind(objs, kind)
        R.check(f"{name}: exactly one {kind}", lambda c=configs, k=kind: _assert_len(c, 1, k))
        for cfg in configs:
            hooks = cfg.get("webhooks") or []
            prefix = f"{name}: {kind} {cfg['metadata']['name']}"
            R.check(f"{prefix} has one webhook", lambda h=hooks: _assert_len(h, 1, "webhook"))
            for hook in hooks:
                hp = f"{prefix} webhook {hook.get('name')}"
                R.check(f"{hp} name fully qualified under {DOMAIN}", lambda h=hook: _check_name(h))
                R.check(f"{hp} rules", lambda h=hook: _check_rules(h, cluster_api))
                R.check(f"{hp} settings", lambda h=hook, k=kind: _check_settings(h, k, failure_policy))
                R.check(f"{hp} no namespace/object selector", lambda h=hook: _check_no_selectors(h))
                if dev:
                    R.check(f"{hp} dev clientConfig", lambda h=hook, p=path: _check_dev_client(h, p))
                else:
                    R.check(f"{hp} service clientConfig", lambda h=hook, p=path: _check_service_client(h, p, objs))


def _assert_len(items: list, n: int, what: str) -> None:
    assert len(items) == n, f"expected {n} {what}, found {len(items)}"


def _check_name(hook: dict) -> None:
    n = hook.get("name", "")
    assert n.endswith("." + DOMAIN) and n.count(".") >= 3, f"{n!r} is not <verb>.<resource>.{DOMAIN}"


def _check_rules(hook: dict, cluster_api: bool) -> None:
    rules = hook.get("rules") or []
    assert rules, "no rules"
    for r in rules:
        res = r.get("resources") or []
        assert not [x for x in res if "/" in x or "*" in x], f"subresource or wildcard in resources {res}"
        for key in ("apiGroups", "apiVersions", "operations"):
            assert "*" not in (r.get(key) or []), f"wildcard in {key} {r.get(key)}"
    r = rules[0]
    assert r.get("apiGroups") == ["machine.openshift.io"], f"apiGroups {r.get('apiGroups')}"
    assert r.get("apiVersions") == ["v1beta1"], f"apiVersions {r.get('apiVersions')}"
    res = r.get("resources") or []
    assert sorted(res) == ["machines", "machinesets"], f"resources {res}"
    assert sorted(r.get("operations") or []) == ["CREATE", "UPDATE"], f"operations {r.get('operations')}"
    assert r.get("scope", "*") in ("Namespaced", "*"), f"scope {r.get('scope')}"
    assert canonical(r) == canonical(MACHINE_API_RULE), f"machine.openshift.io rule {r}, want {MACHINE_API_RULE}"
    rest = rules[1:]
    if not cluster_api:
        assert not rest, f"rules beyond machine.openshift.io without components/cluster-api: {rest}"
        return
    for r in rest:
        if "awsmachinetemplates" in (r.get("resources") or []):
            assert "UPDATE" not in (r.get("operations") or []), "UPDATE of awsmachinetemplates: the template is immutable in Cluster API"
    got = sorted(canonical(r) for r in rest)
    want = sorted(canonical(r) for r in CAPI_RULES)
    assert got == want, f"Cluster API rules {rest}, want exactly {CAPI_RULES}"


def _check_settings(hook: dict, kind: str, failure_policy: str) -> None:
    assert hook.get("sideEffects") == "None", f"sideEffects {hook.get('sideEffects')}"
    assert hook.get("admissionReviewVersions") == ["v1"], f"admissionReviewVersions {hook.get('admissionReviewVersions')}"
    assert hook.get("matchPolicy") == "Equivalent", f"matchPolicy {hook.get('matchPolicy')}"
    t = hook.get("timeoutSeconds")
    assert isinstance(t, int) and 1 <= t <= 10, f"timeoutSeconds {t} (want set, at most 10)"
    assert hook.get("failurePolicy") == failure_policy, f"failurePolicy {hook.get('failurePolicy')}, want {failure_policy}"
    if kind == "MutatingWebhookConfiguration":
        assert hook.get("reinvocationPolicy") == "IfNeeded", f"reinvocationPolicy {hook.get('reinvocationPolicy')}"


def _check_no_selectors(hook: dict) -> None:
    for key in ("namespaceSelector", "objectSelector"):
        sel = hook.get(key)
        assert not sel or sel == {}, f"{key} {sel}: the webhook must not be restricted by namespace or label"


def _check_service_client(hook: dict, path: str, objs: list[dict]) -> None:
    cc = hook.get("clientConfig") or {}
    assert "url" not in cc, "clientConfig.url set next to a service"
    svc_ref = cc.get("service") or {}
    assert svc_ref.get("name") == SERVICE and svc_ref.get("namespace") == NAMESPACE, f"service {svc_ref}"
    assert svc_ref.get("path") == path, f"path {svc_ref.get('path')}, want {path}"
    port = svc_ref.get("port", 443)
    assert port == 443, f"port {port}"
    svc = one(objs, "Service", SERVICE)
    assert any(p.get("port") == port for p in svc["spec"]["ports"]), f"Service has no port {port}"


def _check_dev_client(hook: dict, path: str) -> None:
    cc = hook.get("clientConfig") or {}
    assert "service" not in cc, "dev configuration must call a URL, not a service"
    assert cc.get("url") == f"https://127.0.0.1:{WEBHOOK_PORT}{path}", f"url {cc.get('url')}"
    bundle = cc.get("caBundle", "")
    assert base64.b64decode(bundle).decode() == DUMMY_CA, "caBundle is not base64 of $(CERTS)/ca.crt"


# -------------------------------------------------------------- deployment


def assert_pod_security(spec: dict) -> None:
    """The restricted Pod Security Standard, and room for OpenShift's restricted-v2."""
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(key), f"{key} is set"
    psc = spec.get("securityContext") or {}
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        assert key not in psc, f"pod securityContext.{key} is fixed; restricted-v2 must be free to assign it"
    assert not any(v.get("hostPath") for v in spec.get("volumes") or []), "hostPath volume"
    for c in (spec.get("initContainers") or []) + spec["containers"]:
        csc = c.get("securityContext") or {}
        cn = c["name"]
        assert csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{cn}: runAsNonRoot not true"
        assert "runAsUser" not in csc, f"{cn}: runAsUser is fixed"
        assert csc.get("allowPrivilegeEscalation") is False, f"{cn}: allowPrivilegeEscalation not false"
        assert csc.get("readOnlyRootFilesystem") is True, f"{cn}: readOnlyRootFilesystem not true"
        assert not csc.get("privileged"), f"{cn}: privileged"
        caps = csc.get("capabilities") or {}
        assert "ALL" in (caps.get("drop") or []), f"{cn}: capabilities.drop lacks ALL"
        assert not caps.get("add"), f"{cn}: capabilities.add {caps.get('add')}"
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        assert seccomp == "RuntimeDefault", f"{cn}: seccompProfile {seccomp}"
        assert not any(p.get("hostPort") for p in c.get("ports") or []), f"{cn}: hostPort"


def deployment_checks(name: str, objs: list[dict], variant: str, cluster_api: bool) -> None:
    p = f"{name}: Deployment"
    get = lambda: one(objs, "Deployment", APP)  # noqa: E731

    def replicas_and_strategy() -> None:
        d = get()
        assert d["spec"].get("replicas") == 2, f"replicas {d['spec'].get('replicas')}"
        st = d["spec"].get("strategy") or {}
        assert st.get("type", "RollingUpdate") == "RollingUpdate", f"strategy {st.get('type')}"
        ru = st.get("rollingUpdate") or {}
        assert ru.get("maxUnavailable") in (0, "0%"), f"maxUnavailable {ru.get('maxUnavailable')}"
        assert ru.get("maxSurge") not in (None, 0, "0%"), f"maxSurge {ru.get('maxSurge')}"

    def selectors() -> None:
        d = get()
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector_matches(d["spec"]["selector"], labels), "Deployment selector does not match its pods"
        svc = one(objs, "Service", SERVICE)
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "Service selector misses the pods"
        pdb = one(objs, "PodDisruptionBudget")
        assert selector_matches(pdb["spec"]["selector"], labels), "PDB selector misses the pods"
        assert pdb["spec"].get("minAvailable") == 1, f"PDB minAvailable {pdb['spec'].get('minAvailable')}"
        np = one(objs, "NetworkPolicy")
        assert selector_matches(np["spec"]["podSelector"], labels), "NetworkPolicy podSelector misses the pods"

    def pod_security() -> None:
        assert_pod_security(pod_spec(get()))

    def probes() -> None:
        c = webhook_container(get())
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            pr = c.get(probe) or {}
            hg = pr.get("httpGet") or {}
            assert hg.get("path") == path, f"{probe} path {hg.get('path')}, want {path}"
            assert hg.get("scheme", "HTTP") == "HTTP", f"{probe} scheme {hg.get('scheme')}"
            port = resolve_port(c, hg.get("port"))
            assert port == METRICS_PORT, f"{probe} port {port}, want {METRICS_PORT}"
        env = env_of(c)
        listen = env.get("EFA_WEBHOOK_METRICS_LISTEN", "")
        assert listen.endswith(f":{METRICS_PORT}"), f"EFA_WEBHOOK_METRICS_LISTEN {listen!r}"
        listen = env.get("EFA_WEBHOOK_LISTEN", "")
        assert listen.endswith(f":{WEBHOOK_PORT}"), f"EFA_WEBHOOK_LISTEN {listen!r}"

    def ports_and_service() -> None:
        c = webhook_container(get())
        svc = one(objs, "Service", SERVICE)
        by_port = {p["port"]: p for p in svc["spec"]["ports"]}
        assert 443 in by_port, "Service has no port 443"
        assert resolve_port(c, by_port[443].get("targetPort", 443)) == WEBHOOK_PORT, "443 does not reach 9443"
        assert METRICS_PORT in by_port, f"Service has no port {METRICS_PORT}"
        assert resolve_port(c, by_port[METRICS_PORT].get("targetPort")) == METRICS_PORT, "metrics port mismatch"

    def resources() -> None:
        r = webhook_container(get()).get("resources") or {}
        req = r.get("requests") or {}
        assert req.get("cpu") and req.get("memory"), f"requests {req}"
        assert (r.get("limits") or {}).get("memory"), f"limits {r.get('limits')}"

    def priority_and_termination() -> None:
        d = get()
        spec = pod_spec(d)
        assert spec.get("priorityClassName") == "system-cluster-critical", f"priorityClassName {spec.get('priorityClassName')}"
        env = env_of(webhook_container(d))
        grace = parse_duration_seconds(env.get("EFA_WEBHOOK_SHUTDOWN_GRACE") or "20s")
        delay = parse_duration_seconds(env.get("EFA_WEBHOOK_SHUTDOWN_DELAY") or "5s")
        tgp = spec.get("terminationGracePeriodSeconds", 30)
        assert tgp > delay + grace, f"terminationGracePeriodSeconds {tgp} is not above the shutdown delay + grace {delay + grace}s"

    def tls_mount() -> None:
        d = get()
        spec = pod_spec(d)
        c = webhook_container(d)
        vols = [v for v in spec.get("volumes") or [] if (v.get("secret") or {}).get("secretName") == TLS_SECRET]
        assert len(vols) == 1, f"expected one volume of Secret {TLS_SECRET}"
        assert not (vols[0]["secret"].get("items")), "TLS volume projects items; mount the whole Secret"
        mounts = [m for m in c.get("volumeMounts") or [] if m["name"] == vols[0]["name"]]
        assert len(mounts) == 1, "TLS volume is not mounted exactly once"
        m = mounts[0]
        assert not m.get("subPath") and not m.get("subPathExpr"), "TLS Secret mounted with subPath: rotation would never reach the pod"
        assert m.get("readOnly") is True, "TLS mount not readOnly"
        env = env_of(c)
        for key, file in (("EFA_WEBHOOK_TLS_CERT", "tls.crt"), ("EFA_WEBHOOK_TLS_KEY", "tls.key")):
            assert env.get(key) == f"{m['mountPath'].rstrip('/')}/{file}", f"{key} {env.get(key)!r}"

    def spread() -> None:
        spec = pod_spec(get())
        aff = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
        assert not aff.get("requiredDuringSchedulingIgnoredDuringExecution"), "required anti-affinity blocks single-node clusters"
        tsc = spec.get("topologySpreadConstraints") or []
        assert all(t.get("whenUnsatisfiable") == "ScheduleAnyway" for t in tsc), "DoNotSchedule blocks single-node clusters"
        by_host = any(
            t.get("podAffinityTerm", {}).get("topologyKey") == "kubernetes.io/hostname"
            for t in aff.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ) or any(t.get("topologyKey") == "kubernetes.io/hostname" for t in tsc)
        assert by_host, "replicas are not spread across nodes"

    def image() -> None:
        img = webhook_container(get()).get("image")
        assert img == IMAGE, f"image {img!r}, want {IMAGE!r} from base/kustomization.yaml images:"

    def flags() -> None:
        d = get()
        c = webhook_container(d)
        env = env_of(c)
        assert env.get("EFA_WEBHOOK_LOG_FORMAT") == "json", f"EFA_WEBHOOK_LOG_FORMAT {env.get('EFA_WEBHOOK_LOG_FORMAT')}"
        want_caps = {"base": "embedded", "openshift": "ec2", "cert-manager": "ec2"}[variant]
        assert env.get("EFA_WEBHOOK_CAPABILITIES") == want_caps, f"EFA_WEBHOOK_CAPABILITIES {env.get('EFA_WEBHOOK_CAPABILITIES')}"
        assert not c.get("command"), "command overrides the image's ENTRYPOINT"
        for a in c.get("args") or []:
            flag = a.split("=", 1)[0]
            envname = "EFA_WEBHOOK_" + flag.lstrip("-").upper().replace("-", "_")
            assert envname not in env, f"{flag} given both as an argument and as {envname}"
        # clap ignores env vars it does not know: a misspelt one would silently do nothing.
        # `serve`'s flags: its own, and those it shares with the other commands.
        serve_sources = [ROOT / "src" / "cli" / "serve.rs", ROOT / "src" / "cli" / "mod.rs"]
        known = {name for source in serve_sources
                 for name in re.findall(r'env = "(EFA_WEBHOOK_[A-Z_]+)"', source.read_text())}
        unknown = sorted(k for k in env if k.startswith("EFA_WEBHOOK_") and k not in known)
        assert not unknown, f"env vars the binary does not read: {unknown}"
        if cluster_api:
            assert env.get(CAPI_ENV) == "true", f"{CAPI_ENV} {env.get(CAPI_ENV)!r}, want 'true'"
        else:
            assert CAPI_ENV not in env, f"{CAPI_ENV} set without components/cluster-api"
        audited = variant in ("openshift", "cert-manager")
        if audited:
            assert env.get(AUDIT_ENV) == AUDIT_INTERVAL, f"{AUDIT_ENV} {env.get(AUDIT_ENV)!r}, want {AUDIT_INTERVAL!r}"
        else:
            assert AUDIT_ENV not in env, f"{AUDIT_ENV} set without components/audit"
        # Only the features that read the API get a token: the Infrastructure
        # object (openshift), AWSClusters (cluster-api), the audited kinds (audit).
        token = pod_spec(d).get("automountServiceAccountToken")
        want = audited or cluster_api
        assert token is want, f"automountServiceAccountToken {token}, want {want}"
        assert pod_spec(d).get("serviceAccountName") == SERVICE_ACCOUNT, "serviceAccountName"
        one(objs, "ServiceAccount", SERVICE_ACCOUNT)

    def namespace() -> None:
        ns = one(objs, "Namespace", NAMESPACE)
        labels = ns["metadata"].get("labels") or {}
        assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", "Namespace does not enforce restricted"
        for o in objs:
            meta = o["metadata"]
            if o["kind"] in ("Namespace", "ClusterRole", "ClusterRoleBinding") or o["kind"].endswith("WebhookConfiguration"):
                assert "namespace" not in meta, f"cluster-scoped {o['kind']} has a namespace"
            elif o["kind"] == "CredentialsRequest":
                assert meta.get("namespace") == "openshift-cloud-credential-operator", "CredentialsRequest namespace"
            else:
                assert meta.get("namespace") == NAMESPACE, f"{o['kind']} {meta.get('name')} in namespace {meta.get('namespace')}"

    def network_policy() -> None:
        np = one(objs, "NetworkPolicy")
        assert "Ingress" in (np["spec"].get("policyTypes") or []), "policyTypes lacks Ingress"
        ports = set()
        for rule in np["spec"].get("ingress") or []:
            assert rule.get("ports"), "an ingress rule without ports opens every port"
            ports |= {p.get("port") for p in rule["ports"]}
        assert ports == {WEBHOOK_PORT, METRICS_PORT}, f"ingress ports {sorted(map(str, ports))}"

    def rbac() -> None:
        # The webhook's own account; components/audit-cronjob's is checked apart.
        bindings = [b for b in of_kind(objs, "RoleBinding") + of_kind(objs, "ClusterRoleBinding")
                    if any(s.get("name") == SERVICE_ACCOUNT for s in b.get("subjects") or [])]
        job_roles = {b["roleRef"]["name"] for b in of_kind(objs, "ClusterRoleBinding")
                     if any(s.get("name") == AUDIT_JOB for s in b.get("subjects") or [])}
        roles = [r for r in roles_of(objs) if r["metadata"]["name"] not in job_roles]
        want = []
        if variant == "openshift":
            want.append(INFRASTRUCTURE_RBAC)
        if cluster_api:
            want.append(AWSCLUSTER_RBAC)
        if variant in ("openshift", "cert-manager"):
            want.append(AUDIT_RBAC)
        if not want:
            assert not roles and not bindings, "RBAC without the openshift overlay or components/cluster-api: the pod needs no API access"
            return
        for r in roles:
            for rule in r.get("rules") or []:
                writes = sorted(set(rule.get("verbs") or []) - READ_VERBS)
                assert not writes, f"{r['kind']} {r['metadata']['name']} grants {writes}"
        assert all(r["kind"] == "ClusterRole" for r in roles), f"expected ClusterRoles only, found {[r['kind'] for r in roles]}"
        assert len(roles) == len(want), f"expected exactly {len(want)} ClusterRoles, found {[r['metadata']['name'] for r in roles]}"
        got_rules = sorted(canonical(r["rules"]) for r in roles)
        assert got_rules == sorted(canonical(w) for w in want), f"ClusterRole rules {[r['rules'] for r in roles]}, want {want}"
        assert all(b["kind"] == "ClusterRoleBinding" for b in bindings), "expected ClusterRoleBindings only"
        bound = sorted(b["roleRef"]["name"] for b in bindings)
        assert bound == sorted(r["metadata"]["name"] for r in roles), f"bindings refer to {bound}: want one per ClusterRole"
        for b in bindings:
            assert b["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": b["roleRef"]["name"]}, f"roleRef {b['roleRef']}"
            assert b["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}], f"subjects {b['subjects']}"

    def cluster_api_rbac() -> None:
        found = [r for r in roles_of(objs) if any("awsclusters" in (x.get("resources") or []) for x in r.get("rules") or [])
                 and r["metadata"]["name"] != AUDIT_JOB + "-reports"]
        assert len(found) == 1, f"expected one role for {CAPI_GROUP}, found {len(found)}"
        role = found[0]
        assert role["kind"] == "ClusterRole", f"{role['kind']}: AWSClusters live in every workload cluster's namespace"
        assert len(role["rules"]) == 1, f"expected one rule, found {role['rules']}"
        rule = role["rules"][0]
        assert rule.get("apiGroups") == [CAPI_GROUP] and rule.get("resources") == ["awsclusters"], f"rule {rule}"
        assert "resourceNames" not in rule, "resourceNames: AWSCluster names are not known in advance"
        assert sorted(rule.get("verbs") or []) == ["get", "list"], f"verbs {rule.get('verbs')}, want get and list"
        bs = [b for b in of_kind(objs, "ClusterRoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"]]
        assert len(bs) == 1, f"expected one ClusterRoleBinding of {role['metadata']['name']}, found {len(bs)}"
        b = bs[0]
        assert b["roleRef"]["kind"] == "ClusterRole", f"roleRef {b['roleRef']}"
        assert b["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}], f"subjects {b['subjects']}"

    for label, fn in [
        ("replicas 2, rolling update keeps one serving", replicas_and_strategy),
        ("selectors of Service, PDB, NetworkPolicy", selectors),
        ("pod security (restricted PSS and restricted-v2)", pod_security),
        ("probes on /readyz and /healthz", probes),
        ("Service ports", ports_and_service),
        ("resources", resources),
        ("priority class and graceful termination", priority_and_termination),
        ("TLS Secret mounted as a directory", tls_mount),
        ("spread across nodes, softly", spread),
        ("image set once in base", image),
        ("flags and service account", flags),
        ("namespaces", namespace),
        ("NetworkPolicy ingress only to 9443 and 8080", network_policy),
        ("RBAC", rbac),
    ]:
        R.check(f"{p}: {label}", fn)
    if cluster_api:
        R.check(f"{name}: cluster-api ClusterRole get+list on awsclusters, bound to the service account", cluster_api_rbac)


def audit_cronjob_checks(name: str, objs: list[dict], enabled: bool) -> None:
    """components/audit-cronjob: `audit --report` on a schedule, under its own account
    that writes PolicyReports and reads the audited kinds, nothing else."""
    if not enabled:
        R.check(f"{name}: no audit CronJob without components/audit-cronjob",
                lambda: _assert_len(of_kind(objs, "CronJob"), 0, "CronJobs"))
        return

    def job() -> None:
        cj = one(objs, "CronJob", AUDIT_JOB)
        assert cj["metadata"].get("namespace") == NAMESPACE, "CronJob namespace"
        assert cj["spec"].get("concurrencyPolicy") == "Forbid", "concurrencyPolicy"
        pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod.get("serviceAccountName") == AUDIT_JOB, f"serviceAccountName {pod.get('serviceAccountName')}"
        assert pod.get("restartPolicy") == "Never", f"restartPolicy {pod.get('restartPolicy')}"
        assert_pod_security(pod)
        (c,) = pod["containers"]
        assert c.get("image") == IMAGE, f"image {c.get('image')!r}, want {IMAGE!r}"
        assert c.get("command") == AUDIT_JOB_COMMAND, f"command {c.get('command')}"
        assert (c.get("resources") or {}).get("limits", {}).get("memory"), "no memory limit"
        one(objs, "ServiceAccount", AUDIT_JOB)

    def job_rbac() -> None:
        bindings = [b for b in of_kind(objs, "ClusterRoleBinding")
                    if b["subjects"] == [{"kind": "ServiceAccount", "name": AUDIT_JOB, "namespace": NAMESPACE}]]
        assert len(bindings) == 1, f"expected one ClusterRoleBinding for {AUDIT_JOB}, found {len(bindings)}"
        assert not [b for b in of_kind(objs, "RoleBinding") if any(s.get("name") == AUDIT_JOB for s in b.get("subjects") or [])], "RoleBinding for the audit job"
        role = one(objs, "ClusterRole", bindings[0]["roleRef"]["name"])
        assert canonical(role["rules"]) == canonical(AUDIT_JOB_RBAC), f"rules {role['rules']}, want {AUDIT_JOB_RBAC}"

    R.check(f"{name}: audit CronJob runs audit --report under its own account", job)
    R.check(f"{name}: audit CronJob may write PolicyReports and read the audited kinds, nothing else", job_rbac)


# ---------------------------------------------------------------- overlays


def openshift_checks(name: str, objs: list[dict]) -> None:
    def service_ca() -> None:
        svc = one(objs, "Service", SERVICE)
        got = annotations(svc).get("service.beta.openshift.io/serving-cert-secret-name")
        assert got == TLS_SECRET, f"Service serving-cert-secret-name {got!r}"
        for kind in PATHS:
            for cfg in of_kind(objs, kind):
                assert annotations(cfg).get("service.beta.openshift.io/inject-cabundle") == "true", f"{kind} lacks inject-cabundle"
                assert "cert-manager.io/inject-ca-from" not in annotations(cfg), f"{kind} also asks cert-manager"

    def credentials_request() -> None:
        cr = one(objs, "CredentialsRequest")
        assert cr["apiVersion"] == "cloudcredential.openshift.io/v1", cr["apiVersion"]
        spec = cr["spec"]
        ps = spec["providerSpec"]
        assert ps.get("apiVersion") == "cloudcredential.openshift.io/v1" and ps.get("kind") == "AWSProviderSpec", f"providerSpec {ps.get('apiVersion')} {ps.get('kind')}"
        entries = ps.get("statementEntries") or []
        assert entries, "no statementEntries"
        actions: list[str] = []
        for e in entries:
            assert e.get("effect") == "Allow", f"effect {e.get('effect')}"
            assert e.get("resource") == "*", f"resource {e.get('resource')!r}"
            assert not e.get("policyCondition"), "policyCondition set"
            actions += e.get("action") or []
        assert sorted(actions) == sorted(EC2_ACTIONS), f"actions {actions}, want exactly {sorted(EC2_ACTIONS)}"
        assert spec["secretRef"] == {"name": AWS_SECRET, "namespace": NAMESPACE}, f"secretRef {spec['secretRef']}"
        assert SERVICE_ACCOUNT in (spec.get("serviceAccountNames") or []), f"serviceAccountNames {spec.get('serviceAccountNames')}"

    def credentials_mounted() -> None:
        d = one(objs, "Deployment", APP)
        spec = pod_spec(d)
        c = webhook_container(d)
        env = env_of(c)
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        mounts = {m["name"]: m for m in c.get("volumeMounts") or []}
        aws = [v for v in vols.values() if (v.get("secret") or {}).get("secretName") == AWS_SECRET]
        assert len(aws) == 1, f"Secret {AWS_SECRET} is not mounted"
        items = aws[0]["secret"].get("items")
        path = "credentials"
        if items:
            (item,) = [i for i in items if i["key"] == "credentials"]
            path = item["path"]
        m = mounts.get(aws[0]["name"])
        assert m and m.get("readOnly") and not m.get("subPath"), "AWS Secret mount"
        want = f"{m['mountPath'].rstrip('/')}/{path}"
        assert env.get("AWS_SHARED_CREDENTIALS_FILE") == want, f"AWS_SHARED_CREDENTIALS_FILE {env.get('AWS_SHARED_CREDENTIALS_FILE')!r}, want {want}"
        tokens = [
            (v["name"], s["serviceAccountToken"])
            for v in vols.values()
            for s in (v.get("projected") or {}).get("sources") or []
            if "serviceAccountToken" in s
        ]
        assert len(tokens) == 1, "expected one projected service account token for STS"
        vname, tok = tokens[0]
        assert tok.get("audience") == "openshift", f"token audience {tok.get('audience')}"
        assert tok.get("path") == "token", f"token path {tok.get('path')}"
        assert mounts.get(vname, {}).get("mountPath") == "/var/run/secrets/openshift/serviceaccount", "STS token mount path"
        assert env.get("EFA_WEBHOOK_REGION_FROM_CLUSTER") == "true", "EFA_WEBHOOK_REGION_FROM_CLUSTER not true"

    R.check(f"{name}: service CA annotations", service_ca)
    R.check(f"{name}: CredentialsRequest fields", credentials_request)
    R.check(f"{name}: CCO credentials and STS token mounted", credentials_mounted)


def cert_manager_checks(name: str, objs: list[dict]) -> None:
    def certificates() -> None:
        certs = {c["metadata"]["name"]: c for c in of_kind(objs, "Certificate")}
        issuers = {i["metadata"]["name"]: i for i in of_kind(objs, "Issuer")}
        serving = [c for c in certs.values() if c["spec"].get("secretName") == TLS_SECRET]
        assert len(serving) == 1, f"expected one Certificate writing {TLS_SECRET}"
        s = serving[0]
        assert s["metadata"].get("namespace") == NAMESPACE, "serving Certificate namespace"
        assert SERVICE_DNS in (s["spec"].get("dnsNames") or []), f"dnsNames {s['spec'].get('dnsNames')} lack {SERVICE_DNS}"
        # Every issuerRef resolves to an Issuer in the build, and the chain ends in selfSigned.
        seen = set()
        cert = s
        while True:
            ref = cert["spec"]["issuerRef"]
            assert ref.get("kind", "Issuer") == "Issuer" and ref.get("group", "cert-manager.io") == "cert-manager.io", f"issuerRef {ref}"
            assert ref["name"] in issuers, f"issuerRef {ref['name']} is not in the build"
            issuer = issuers[ref["name"]]["spec"]
            if "selfSigned" in issuer:
                break
            assert "ca" in issuer, f"Issuer {ref['name']} is neither selfSigned nor ca"
            secret = issuer["ca"]["secretName"]
            assert secret not in seen, "issuer loop"
            seen.add(secret)
            (cert,) = [c for c in certs.values() if c["spec"].get("secretName") == secret]
            assert cert["spec"].get("isCA") is True, f"Certificate for {secret} is not isCA"
            rotation = cert["spec"].get("privateKey", {}).get("rotationPolicy")
            assert rotation == "Never", f"CA Certificate rotationPolicy {rotation!r}: a new CA key would break trust in served certificates"
        want = f"{NAMESPACE}/{s['metadata']['name']}"
        for kind in PATHS:
            for cfg in of_kind(objs, kind):
                got = annotations(cfg).get("cert-manager.io/inject-ca-from")
                assert got == want, f"{kind} inject-ca-from {got!r}, want {want!r}"
                assert "service.beta.openshift.io/inject-cabundle" not in annotations(cfg), f"{kind} also asks the service CA"

    def aws_secret_optional() -> None:
        c = webhook_container(one(objs, "Deployment", APP))
        refs = [e["secretRef"] for e in c.get("envFrom") or [] if "secretRef" in e]
        assert refs == [{"name": AWS_SECRET, "optional": True}], f"envFrom {refs}"

    R.check(f"{name}: cert-manager chain and inject-ca-from", certificates)
    R.check(f"{name}: optional AWS Secret", aws_secret_optional)


def dev_checks(name: str, objs: list[dict]) -> None:
    def only_configs() -> None:
        kinds = sorted(o["kind"] for o in objs)
        assert kinds == sorted(PATHS), f"dev overlay renders {kinds}"

    R.check(f"{name}: only the two webhook configurations", only_configs)


def fail_closed_same_otherwise(name: str, plain: list[dict], closed: list[dict]) -> None:
    def same() -> None:
        def strip(objs: list[dict]) -> list[dict]:
            out = json.loads(json.dumps(objs))
            for o in out:
                for h in o.get("webhooks") or []:
                    h.pop("failurePolicy", None)
            return out

        assert strip(plain) == strip(closed), "the component changes more than failurePolicy"

    R.check(f"{name}: fail-closed changes only failurePolicy", same)


def cluster_api_same_otherwise(name: str, plain: list[dict], with_capi: list[dict]) -> None:
    """components/cluster-api adds its rules, its RBAC, its env var and the token,
    and changes nothing else."""

    def same() -> None:
        def strip(objs: list[dict]) -> list[dict]:
            capi_roles = {
                r["metadata"]["name"]
                for r in of_kind(objs, "ClusterRole")
                if any("awsclusters" in (x.get("resources") or []) for x in r.get("rules") or [])
            }
            out = []
            for o in json.loads(json.dumps(objs)):
                if o["kind"] == "ClusterRole" and o["metadata"]["name"] in capi_roles:
                    continue
                if o["kind"] == "ClusterRoleBinding" and o["roleRef"]["name"] in capi_roles:
                    continue
                for h in o.get("webhooks") or []:
                    h["rules"] = [r for r in h.get("rules") or [] if CAPI_GROUP not in (r.get("apiGroups") or [])]
                if o["kind"] == "Deployment":
                    spec = pod_spec(o)
                    spec.pop("automountServiceAccountToken", None)
                    for c in spec["containers"]:
                        c["env"] = [e for e in c.get("env") or [] if e["name"] != CAPI_ENV]
                out.append(o)
            return sorted(out, key=lambda o: (o["kind"], o["metadata"]["name"]))

        assert strip(plain) == strip(with_capi), "components/cluster-api changes more than its rules, RBAC, env var and token"

    R.check(f"{name}: cluster-api component changes only its own parts", same)


# ------------------------------------------------------------ repo checks


def repo_checks() -> None:
    def image_in_one_place() -> None:
        hits = []
        for f in MANIFESTS.rglob("*"):
            if f.is_file() and f.suffix in (".yaml", ".yml", ".in") and "ghcr.io/" in f.read_text(errors="replace"):
                hits.append(str(f.relative_to(ROOT)))
        assert hits == ["manifests/base/kustomization.yaml"], f"image registry named in {hits}"

    def dev_overlay_needs_ca() -> None:
        with tempfile.TemporaryDirectory() as empty:
            p = run(["make", "-s", "-C", str(ROOT), "dev-overlay", f"CERTS={empty}", f"DEV_WEBHOOKS={empty}/out.yaml"])
            assert p.returncode != 0, "make dev-overlay succeeded without a CA"
            assert "run make run or make certs first" in p.stderr, f"message {p.stderr.strip()!r}"
            assert not Path(empty, "out.yaml").exists(), "wrote a file without a CA"

    def dev_generated_is_ignored() -> None:
        p = run(["git", "-C", str(ROOT), "check-ignore", "-q", "manifests/overlays/dev/webhooks.yaml"])
        assert p.returncode == 0, "manifests/overlays/dev/webhooks.yaml is not git-ignored"

    R.check("repo: image reference set in one place", image_in_one_place)
    R.check("repo: make dev-overlay refuses without a CA", dev_overlay_needs_ca)
    R.check("repo: generated dev overlay is git-ignored", dev_generated_is_ignored)


# -------------------------------------------------------------------- main


def main() -> int:
    started = time.monotonic()
    version = kustomize_version()
    if version is None:
        print(f"{KUBECTL} not usable (`{KUBECTL} version --client -o json` failed)")
        print("0 passed, 1 failed")
        return 1
    m = re.match(r"v(\d+)", version)
    if not m or int(m.group(1)) < 4:
        # kubectl 1.20 and older (Debian 12's kubernetes-client among them) embed
        # kustomize v2.0.3, which knows neither `patches` nor `components`.
        print(
            f"{KUBECTL} embeds kustomize {version or 'v2 or older'}; these manifests need kustomize v4 "
            "or later, i.e. kubectl 1.21+ (set KUBECTL=/path/to/kubectl to use another one)"
        )
        print("0 passed, 1 failed")
        return 1
    k8s_version = kubernetes_validate.latest_version()
    print(
        f"kubectl kustomize {version}; schemas of Kubernetes {k8s_version} and {OLDEST_K8S} "
        f"(kubernetes-validate {kubernetes_validate.__version__})"
    )

    with tempfile.TemporaryDirectory(prefix="manifests-check-") as tmp:
        try:
            targets = prepare(Path(tmp))
        except AssertionError as e:
            print(f"FAIL prepare: {e}")
            print(f"0 passed, 1 failed")
            return 1
        built: dict[str, list[dict]] = {}
        for name, path in targets.items():
            def do_build(name: str = name, path: Path = path) -> None:
                built[name] = build(path)

            R.check(f"{name}: kubectl kustomize builds", do_build)

    for name, objs in built.items():
        variant, cluster_api, closed = parse_target(name)
        for version in (k8s_version, OLDEST_K8S):
            schema_checks(name, objs, version)
        webhook_checks(name, objs, "Fail" if closed else "Ignore", dev=variant == "dev", cluster_api=cluster_api)
        if variant == "dev":
            dev_checks(name, objs)
            continue
        deployment_checks(name, objs, variant, cluster_api)
        audit_cronjob_checks(name, objs, "audit-cronjob" in name.split("+"))
        if variant == "openshift":
            openshift_checks(name, objs)
        if variant == "cert-manager":
            cert_manager_checks(name, objs)
        plain = name.removesuffix("+fail-closed")
        if closed and plain in built:
            fail_closed_same_otherwise(name, built[plain], objs)
        if cluster_api and not closed:
            # The same build without the component: overlays/cluster-api is cert-manager plus it.
            without = "cert-manager" if name == "cluster-api" else name.removesuffix("+cluster-api")
            if without in built:
                cluster_api_same_otherwise(name, built[without], objs)

    repo_checks()

    print(f"({len(built)} builds in {time.monotonic() - started:.1f}s)")
    print(f"{R.passed} passed, {len(R.failed)} failed")
    return 1 if R.failed else 0


if __name__ == "__main__":
    sys.exit(main())
