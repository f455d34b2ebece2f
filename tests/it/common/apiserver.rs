//! A real etcd and kube-apiserver on loopback, in the spirit of controller-runtime's
//! envtest: built by `make apiserver` (tests/apiserver: Kubernetes v1.36, etcd 3.6),
//! started once per test binary on free ports with a throwaway CA, serving certificate,
//! bearer token and service-account keys made here, and shared by the tests through
//! namespaces of their own.
//!
//! Stopping, even on a panic or a kill: each process reads a pipe from this one and
//! stops when it closes, which the kernel does when the test process ends. The API
//! server goes first (SIGTERM to itself, its own exit 5 s later at the latest); etcd
//! waits until the API server's port is closed, stops, and removes the scratch
//! directory. An [`ApiServer`] that is dropped does the same and waits for both.

use super::{free_port, yaml_documents};
use machine_efa_webhook::cli::certs::Authority;
use serde_json::{Value, json};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// What `make apiserver` builds, relative to the repository.
const BINARIES: &str = "target/apiserver";
const TOKEN: &str = "machine-efa-webhook-tests-admin";

pub struct ApiServer {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    pub ca_pem: String,
    /// A kubeconfig for a member of system:masters.
    pub kubeconfig: PathBuf,
    pub dir: PathBuf,
    /// The API server first: it stops before etcd.
    processes: Mutex<Vec<(&'static str, Child)>>,
}

/// The binary's one API server, started by the first test that asks for it.
pub fn shared() -> &'static ApiServer {
    static SHARED: OnceLock<ApiServer> = OnceLock::new();
    // Started on a thread of its own: the blocking HTTP client must not run inside a
    // test's async runtime.
    SHARED.get_or_init(|| {
        std::thread::spawn(ApiServer::start)
            .join()
            .expect("the test API server did not start")
    })
}

/// Admission registrations (webhook configurations, admission policies) are cluster
/// wide: they meet every write of every test. A test that registers some holds this
/// lock exclusively while they exist ([`registering_admission`]); a test that writes
/// machines and expects no admission holds it shared ([`writing_machines`]).
/// (tokio's lock: it is held across awaits, and works across the tests' runtimes.)
static ADMISSION: RwLock<()> = RwLock::const_new(());

pub async fn registering_admission() -> RwLockWriteGuard<'static, ()> {
    ADMISSION.write().await
}

pub async fn writing_machines() -> RwLockReadGuard<'static, ()> {
    ADMISSION.read().await
}

pub fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(BINARIES)
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make apiserver` (make test does)",
        path.display()
    );
    path
}

impl ApiServer {
    pub fn start() -> ApiServer {
        let dir = tempfile::Builder::new()
            .prefix("machine-efa-webhook-apiserver-")
            .tempdir()
            .unwrap()
            .keep();
        let authority = Authority::new(1).unwrap();
        let serving = authority
            .issue_serving(&["localhost".into()], &["127.0.0.1".parse().unwrap()], 1)
            .unwrap();
        let service_account_key = rcgen::KeyPair::generate().unwrap();
        let files = [
            ("ca.crt", authority.pem.clone()),
            ("tls.crt", serving.cert_pem),
            ("tls.key", serving.key_pem),
            ("sa.key", service_account_key.serialize_pem()),
            ("sa.pub", service_account_key.public_key_pem()),
            (
                "tokens.csv",
                format!("{TOKEN},admin,admin,system:masters\n"),
            ),
        ];
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }

        let (etcd_port, peer_port, port) = (free_port(), free_port(), free_port());
        let etcd = Command::new(binary("etcd"))
            .args(["--data-dir", &dir.join("etcd").display().to_string()])
            .args(["--client-port", &etcd_port.to_string()])
            .args(["--peer-port", &peer_port.to_string()])
            .args(["--stop-on-stdin-eof", "--after-port", &port.to_string()])
            .args(["--remove-on-stop", &dir.display().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file(&dir, "etcd.log"))
            .spawn()
            .unwrap();
        let file = |name: &str| dir.join(name).display().to_string();
        let audience = "https://kubernetes.default.svc";
        let apiserver = Command::new(binary("kube-apiserver"))
            .env("STOP_ON_STDIN_EOF", "1")
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_port}"))
            .arg(format!("--cert-dir={}", file("certs")))
            .arg(format!("--tls-cert-file={}", file("tls.crt")))
            .arg(format!("--tls-private-key-file={}", file("tls.key")))
            .arg(format!("--client-ca-file={}", file("ca.crt")))
            .arg(format!("--token-auth-file={}", file("tokens.csv")))
            .arg("--authorization-mode=RBAC")
            .arg(format!("--service-account-issuer={audience}"))
            .arg(format!("--api-audiences={audience}"))
            .arg(format!("--service-account-key-file={}", file("sa.pub")))
            .arg(format!(
                "--service-account-signing-key-file={}",
                file("sa.key")
            ))
            .arg("--service-cluster-ip-range=10.96.0.0/12")
            .arg("--endpoint-reconciler-type=none")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log_file(&dir, "kube-apiserver.log"))
            .spawn()
            .unwrap();

        let url = format!("https://127.0.0.1:{port}");
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, kubeconfig_yaml(&url, &authority.pem, TOKEN)).unwrap();
        let server = ApiServer {
            url,
            ca_pem: authority.pem.clone(),
            kubeconfig,
            dir,
            processes: Mutex::new(vec![("kube-apiserver", apiserver), ("etcd", etcd)]),
        };
        server.wait_until_ready();
        server.install_crds(&[
            "machine-api.yaml",
            "openshift-config.yaml",
            "cluster-api-aws.yaml",
            "policy-reports.yaml",
        ]);
        server
    }

    fn wait_until_ready(&self) {
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap()])
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let ready = client
                .get(format!("{}/readyz", self.url))
                .bearer_auth(TOKEN)
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            for (name, child) in self.processes.lock().unwrap().iter_mut() {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("{name} exited ({status}):\n{}", self.log_tail(name));
                }
            }
            assert!(
                Instant::now() < deadline,
                "kube-apiserver not ready within 2 minutes:\n{}",
                self.log_tail("kube-apiserver")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The last lines a process wrote to its log, for a failure message.
    pub fn log_tail(&self, name: &str) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(self.dir.join(format!("{name}.log"))) {
            let _ = file.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Applies CRDs from tests/crds (server-side, so a second test asking is a no-op)
    /// and waits until the API server serves them.
    pub fn install_crds(&self, files: &[&str]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crds");
        let mut apply = self.kubectl();
        apply.args(["apply", "--server-side", "--field-manager=tests"]);
        for file in files {
            apply.arg("-f").arg(dir.join(file));
        }
        run(&mut apply);
        let mut wait = self.kubectl();
        wait.args(["wait", "--for=condition=Established", "--timeout=60s"]);
        for file in files {
            wait.arg("-f").arg(dir.join(file));
        }
        run(&mut wait);
    }

    /// kubectl (built with the API server) as cluster admin.
    pub fn kubectl(&self) -> Command {
        let mut command = Command::new(binary("kubectl"));
        command.arg("--kubeconfig").arg(&self.kubeconfig);
        command
    }

    /// A client as cluster admin.
    pub async fn client(&self) -> kube::Client {
        client_from(&self.kubeconfig).await
    }

    /// A kubeconfig file that authenticates with `token`.
    pub fn kubeconfig_for(&self, name: &str, token: &str) -> PathBuf {
        let path = self.dir.join(format!("kubeconfig-{name}"));
        std::fs::write(&path, kubeconfig_yaml(&self.url, &self.ca_pem, token)).unwrap();
        path
    }

    /// A token for ServiceAccount `namespace/name`, from the API server's TokenRequest.
    pub async fn service_account_token(&self, namespace: &str, name: &str) -> String {
        use k8s_openapi::api::authentication::v1::TokenRequest;
        use k8s_openapi::api::core::v1::ServiceAccount;
        let accounts: kube::Api<ServiceAccount> =
            kube::Api::namespaced(self.client().await, namespace);
        let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600}});
        let answer: TokenRequest = accounts
            .create_subresource("token", name, &Default::default(), &request)
            .await
            .unwrap();
        answer.status.unwrap().token.unwrap()
    }

    /// A client as ServiceAccount `nobody`, made in `namespace`, which no role is bound to.
    pub async fn client_without_roles(&self, namespace: &str) -> kube::Client {
        run(self
            .kubectl()
            .args(["create", "serviceaccount", "nobody", "-n", namespace]));
        let token = self.service_account_token(namespace, "nobody").await;
        client_from(&self.kubeconfig_for(&format!("{namespace}-nobody"), &token)).await
    }

    /// A new namespace of this test's own: `prefix-N`.
    pub async fn namespace(&self, prefix: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
            kube::Api::all(self.client().await);
        let namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        namespaces
            .create(&Default::default(), &namespace)
            .await
            .unwrap();
        name
    }

    /// kubectl as cluster admin with `input` (JSON) on its stdin, whatever its exit.
    pub fn kubectl_output(&self, args: &[&str], input: &Value) -> Output {
        let input = if input.is_null() {
            String::new()
        } else {
            input.to_string()
        };
        output_with_input(self.kubectl().args(args), &input)
    }

    /// `kubectl create` of `object`, which must succeed; returns what kubectl printed
    /// (warnings included).
    pub fn create(&self, object: &Value) -> String {
        let output = self.kubectl_output(&["create", "-f", "-"], object);
        assert!(output.status.success(), "{}", printed(&output));
        printed(&output)
    }

    /// The stored object, as `kubectl get -o json` prints it.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Value {
        let args = ["get", kind, name, "-n", namespace, "-o", "json"];
        let output = self.kubectl_output(&args, &Value::Null);
        assert!(output.status.success(), "{}", printed(&output));
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Applies `objects` with kubectl (server-side, so applying them again is a no-op).
    pub fn apply(&self, objects: &[Value]) {
        let stream: Vec<String> = objects.iter().map(Value::to_string).collect();
        let mut apply = self.kubectl();
        apply.args(["apply", "--server-side", "--field-manager=tests", "-f", "-"]);
        run_with_input(&mut apply, &stream.join("\n---\n"));
    }

    /// Namespaces that must exist (a server-side dry run of a namespaced object needs
    /// its namespace), made if missing.
    pub fn ensure_namespaces(&self, names: &[&str]) {
        let namespaces: Vec<Value> = names
            .iter()
            .map(
                |name| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            )
            .collect();
        self.apply(&namespaces);
    }

    /// Registers the Mutating/ValidatingWebhookConfigurations of `overlay` as the
    /// overlay renders them, with only `clientConfig` swapped for `base_url` (plus the
    /// service's path) trusted through `ca_pem`; removed when the guard drops. Hold
    /// [`registering_admission`] meanwhile.
    pub fn register_webhooks(&self, overlay: &str, base_url: &str, ca_pem: &str) -> Registered<'_> {
        use base64::Engine;
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(ca_pem);
        let mut names = Vec::new();
        let mut configurations = Vec::new();
        for mut object in kustomize(overlay) {
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            if !kind.ends_with("WebhookConfiguration") {
                continue;
            }
            for webhook in object["webhooks"].as_array_mut().unwrap() {
                let path = webhook["clientConfig"]["service"]["path"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                webhook["clientConfig"] =
                    json!({"url": format!("{base_url}{path}"), "caBundle": ca_bundle});
            }
            names.push((
                kind,
                object["metadata"]["name"].as_str().unwrap().to_owned(),
            ));
            configurations.push(object);
        }
        assert_eq!(
            names.len(),
            2,
            "{overlay}: a mutating and a validating configuration"
        );
        self.apply(&configurations);
        Registered {
            server: self,
            names,
        }
    }

    /// The process ids of the API server and etcd, while they run.
    pub fn pids(&self) -> Vec<u32> {
        let processes = self.processes.lock().unwrap();
        processes.iter().map(|(_, child)| child.id()).collect()
    }

    /// Stops the API server, then etcd, and waits for both.
    fn stop(&self) {
        let mut processes = self.processes.lock().unwrap();
        for (_, child) in processes.iter_mut() {
            drop(child.stdin.take()); // the pipe closes: the process stops itself
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        processes.clear();
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub async fn client_from(kubeconfig: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn kubeconfig_yaml(url: &str, ca_pem: &str, token: &str) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: test\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\n"
    )
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(name)).unwrap()
}

/// What a command printed: stdout, then stderr.
pub fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs `command`, panicking with its output when it fails; returns its stdout.
pub fn run(command: &mut Command) -> String {
    run_with_input(command, "")
}

pub fn run_with_input(command: &mut Command, input: &str) -> String {
    let output = output_with_input(command, input);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}",
        output.status,
        printed(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs `command` with `input` on its stdin, whatever its exit.
pub fn output_with_input(command: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A stored object (a fixture) made ready for a CREATE in `namespace`: without what the
/// API server sets, and without finalizers, which no controller here would remove.
pub fn for_create(mut object: Value, namespace: &str) -> Value {
    let metadata = object["metadata"].as_object_mut().unwrap();
    for system in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "finalizers",
        "ownerReferences",
    ] {
        metadata.remove(system);
    }
    metadata.insert("namespace".into(), namespace.into());
    object.as_object_mut().unwrap().remove("status");
    object
}

/// The objects `kubectl kustomize DIR` renders, as JSON.
pub fn kustomize(dir: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut command = Command::new(binary("kubectl"));
    command.arg("kustomize").arg(path);
    yaml_documents(&run(&mut command))
}

/// Webhook configurations registered by a test; deleted when dropped.
pub struct Registered<'a> {
    server: &'a ApiServer,
    names: Vec<(String, String)>,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        for (kind, name) in &self.names {
            let _ = self
                .server
                .kubectl()
                .args(["delete", kind, name, "--ignore-not-found", "--wait"])
                .output();
        }
    }
}
