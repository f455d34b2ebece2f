//! The stand-in for kube-apiserver: [`FakeApi`] serves a [`Cluster`] (in `cluster`,
//! with the wire format it answers in, in `wire`) on a loopback port, records every
//! request ([`Recorded`]), and runs the binary against it through a kubeconfig.

mod cluster;
mod wire;

pub(crate) use cluster::{
    CLUSTER_API, Cluster, MACHINE_API, NotInstalled, POLICY_REPORTS, uid_for,
};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, Uri};
use axum::response::Response;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

const BIN: &str = env!("CARGO_BIN_EXE_machine-efa-webhook");

/// One request as the stand-in received it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: BTreeMap<String, String>,
}

impl Recorded {
    pub(crate) fn is_list_of(&self, plural: &str) -> bool {
        self.method == Method::GET && self.path.ends_with(&format!("/{plural}"))
    }
}

/// The first list of `plural` waits for `release` (having said so on `reached`): an
/// audit provably in the middle of a run.
struct Hold {
    plural: &'static str,
    reached: oneshot::Sender<()>,
    release: oneshot::Receiver<()>,
}

/// The peak RSS (`VmHWM`) of the audit process `pid`, read while it waits on us.
#[derive(Default)]
pub(crate) struct Measured {
    pid: u32,
    /// When the last page of Machines was served.
    pub(crate) at_last_machine_page_kib: Option<u64>,
    /// At the latest request of the run (the last list, after every Machine was judged).
    pub(crate) at_latest_request_kib: Option<u64>,
}

type Shared = Arc<Mutex<Cluster>>;

async fn answer(
    State(cluster): State<Shared>,
    method: Method,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let body: Option<Value> = serde_json::from_slice(&body).ok();
    let held = {
        let mut cluster = cluster.lock().unwrap();
        cluster.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
        });
        match &cluster.hold {
            Some(hold) if method == Method::GET && path.ends_with(&format!("/{}", hold.plural)) => {
                cluster.hold.take()
            }
            _ => None,
        }
    };
    if let Some(hold) = held {
        let _ = hold.reached.send(());
        let _ = hold.release.await;
    }
    let mut cluster = cluster.lock().unwrap();
    let response = cluster.respond(&method, &path, &query, body);
    cluster.measure(|m, kib| m.at_latest_request_kib = Some(kib));
    response
}

/// The stand-in on a loopback port, and a kubeconfig that points at it.
pub(crate) struct FakeApi {
    cluster: Shared,
    kubeconfig: PathBuf,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl FakeApi {
    pub(crate) async fn start(cluster: Cluster) -> FakeApi {
        let cluster = Arc::new(Mutex::new(cluster));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(cluster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: http://{addr}
users:
- name: auditor
  user: {{}}
contexts:
- name: fake
  context:
    cluster: fake
    user: auditor
    namespace: default
current-context: fake
"
            ),
        )
        .unwrap();
        FakeApi {
            cluster,
            kubeconfig,
            task,
            _dir: dir,
        }
    }

    pub(crate) fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap()
    }

    /// Changes the cluster between runs, as its users and controllers would.
    pub(crate) fn change(&self, change: impl FnOnce(&mut Cluster)) {
        change(&mut self.cluster());
    }

    /// A stored object as it is now.
    pub(crate) fn stored(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.cluster().get(plural, namespace, name).cloned()
    }

    /// The requests received so far that `keep` picks, in order.
    pub(crate) fn requests(&self, keep: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
        self.cluster()
            .requests
            .iter()
            .filter(|r| keep(r))
            .cloned()
            .collect()
    }

    /// Every request but reads: what the binary changed.
    pub(crate) fn writes(&self) -> Vec<(Method, String)> {
        self.requests(|r| r.method != Method::GET)
            .into_iter()
            .map(|r| (r.method, r.path))
            .collect()
    }

    pub(crate) fn forget_requests(&self) {
        self.cluster().requests.clear();
    }

    /// Holds the next list of `plural` until the returned sender is used (or dropped);
    /// the receiver says when it arrived.
    pub(crate) fn hold_next_list_of(
        &self,
        plural: &'static str,
    ) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (reached_tx, reached) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        self.cluster().hold = Some(Hold {
            plural,
            reached: reached_tx,
            release: release_rx,
        });
        (reached, release)
    }

    /// The binary, isolated from the machine's cluster and AWS settings, talking to us.
    pub(crate) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(BIN);
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .env_remove("RUST_LOG")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// `audit ARGS --region us-east-1`, to its end.
    pub(crate) async fn audit(&self, args: &[&str]) -> Run {
        self.audit_measured(args, false).await
    }

    /// Like [`FakeApi::audit`]; with `measure`, the process's peak RSS is read while it
    /// waits for our answers (see [`Measured`]).
    pub(crate) async fn audit_measured(&self, args: &[&str], measure: bool) -> Run {
        let mut command = self.command(&["audit", "--region", "us-east-1"]);
        command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if measure {
            // Freed memory is reused per runtime thread: a fixed number of them makes
            // the peak the same on a laptop and on a 64-core runner.
            command.env("TOKIO_WORKER_THREADS", "2");
        }
        let child = command.spawn().unwrap();
        if measure {
            self.cluster().measured = Some(Measured {
                pid: child.id().unwrap(),
                ..Measured::default()
            });
        }
        let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
            .await
            .expect("audit finished within 5 minutes")
            .unwrap();
        Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    pub(crate) async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one `audit` printed, and how it exited.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}\n{}", self.stdout, self.stderr))
    }
}

/// For failure messages: the exit, stderr, and stdout (its middle left out when long).
impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "exit {}\n--- stdout", self.code)?;
        let lines = self.lines();
        if lines.len() > 40 {
            for line in &lines[..20] {
                writeln!(f, "{line}")?;
            }
            writeln!(f, "[{} lines]", lines.len() - 25)?;
            for line in &lines[lines.len() - 5..] {
                writeln!(f, "{line}")?;
            }
        } else {
            f.write_str(&self.stdout)?;
        }
        write!(f, "--- stderr\n{}", self.stderr)
    }
}
