//! `serve --audit-interval`: the audit metrics, each finding logged once when it appears
//! and once when it clears, and admissions answered all along.

use crate::audit::fake_api::{FakeApi, uid_for};
use crate::audit::objects::{
    EFA_ONLY_MACHINE, M5_AWSMACHINE, M5_MACHINESET, M5_MACHINESET_FINDING, audit_fixture,
    realistic_cluster, set, worker_machine,
};
use crate::common::{self, eventually_some, free_port};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// A `serve` process with the background audit, its stderr in a file; killed if the
/// test fails before stopping it.
struct Served {
    child: tokio::process::Child,
    port: u16,
    metrics_port: u16,
    ca_pem: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(api: &FakeApi) -> Served {
        use machine_efa_webhook::cli::certs;
        let dir = tempfile::tempdir().unwrap();
        let generated =
            certs::generate(&["localhost".into()], &["127.0.0.1".parse().unwrap()], 1).unwrap();
        generated.write_to(dir.path()).unwrap();
        let log = dir.path().join("serve.log");
        let (port, metrics_port) = (free_port(), free_port());
        let path = |file: &str| dir.path().join(file).to_str().unwrap().to_owned();
        let child = api
            .command(&[
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--metrics-listen",
                &format!("127.0.0.1:{metrics_port}"),
                "--tls-cert",
                &path(certs::CERT_FILE),
                "--tls-key",
                &path(certs::KEY_FILE),
                "--region",
                "us-east-1",
                "--log-format",
                "json",
                "--audit-interval",
                "1s",
                "--shutdown-delay",
                "0s",
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Served {
            child,
            port,
            metrics_port,
            ca_pem: generated.ca_pem,
            log,
            _dir: dir,
        }
    }

    async fn ready(&self) -> bool {
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        reqwest::get(url)
            .await
            .is_ok_and(|response| response.status() == 200)
    }

    async fn metrics(&self) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/metrics", self.metrics_port);
        reqwest::get(url).await.ok()?.text().await.ok()
    }

    /// SIGTERM, and the exit: the log is then complete (its writer flushes on exit).
    async fn stop(mut self) -> Vec<Value> {
        let pid = self.child.id().unwrap().to_string();
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stopped within 30 s of SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
        log_lines(&self.log)
    }
}

/// The JSON log lines written so far (a line being written is left for next time).
fn log_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let complete = &text[..text.rfind('\n').map_or(0, |end| end + 1)];
    complete
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

/// `namespace/Kind/name` of each log line with `message`, sorted.
fn logged(log: &[Value], message: &str) -> Vec<String> {
    let mut named: Vec<String> = log
        .iter()
        .filter(|line| line["message"] == message)
        .map(|line| {
            let field = |name: &str| line[name].as_str().unwrap().to_owned();
            format!("{}/{}/{}", field("namespace"), field("kind"), field("name"))
        })
        .collect();
    named.sort();
    named
}

/// The value of the sample `name` (with its labels) in a Prometheus text exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

/// Audit runs begun: each begins with the first page of Machines.
fn runs_begun(api: &FakeApi) -> usize {
    api.requests(|r| r.is_list_of("machines") && !r.query.contains_key("continue"))
        .len()
}

/// Waits for `more` runs to have finished: run n has finished once run n+1 begins.
async fn wait_for_runs(api: &FakeApi, more: usize) {
    let target = runs_begun(api) + more;
    eventually_some(&format!("{more} more audit runs"), async || {
        (runs_begun(api) >= target).then_some(())
    })
    .await;
}

/// Reviews with the answer `/validate` must give each: `(fixture, allowed)`.
const REVIEWS: [(&str, bool); 6] = [
    ("machineset-create-efa-m5.json", false),
    ("machineset-create-efa-p4d.json", true),
    ("machine-create-efa-m5.json", false),
    ("machineset-create-hpc6a-us-east-2.json", true),
    ("awsmachine-create-efa-m5.json", false),
    ("machineset-create-default.json", true),
];

/// Posts `count` reviews to /validate over one HTTP/2 connection, 16 at a time, each
/// with its own uid, and checks every answer; returns how many were answered.
async fn post_reviews(served: &Served, count: usize) -> usize {
    let addr = format!("127.0.0.1:{}", served.port).parse().unwrap();
    let client = common::client_builder_for(&served.ca_pem, addr)
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/validate?timeout=10s", served.port);
    let reviews: Arc<Vec<(Value, bool)>> = Arc::new(
        REVIEWS
            .iter()
            .map(|(name, allowed)| (common::fixture(name), *allowed))
            .collect(),
    );
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (client, url, reviews) = (client.clone(), url.clone(), reviews.clone());
        workers.spawn(async move {
            let mut answered = 0;
            for n in (worker..count).step_by(16) {
                let (review, allowed) = &reviews[n % reviews.len()];
                let mut review = review.clone();
                let uid = uid_for(&format!("review-{n}"));
                review["request"]["uid"] = uid.clone().into();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&review).unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.version(), reqwest::Version::HTTP_2);
                assert_eq!(response.status(), 200);
                let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                assert_eq!(answer["response"]["uid"], uid);
                assert_eq!(
                    answer["response"]["allowed"],
                    *allowed,
                    "{}: {answer}",
                    REVIEWS[n % REVIEWS.len()].0
                );
                if !allowed {
                    assert_eq!(answer["response"]["status"]["code"], 403);
                }
                answered += 1;
            }
            answered
        });
    }
    workers.join_all().await.into_iter().sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_audits_in_the_background_and_logs_each_finding_once() {
    // The realistic cluster and a thousand clean workers: each run reads three pages of
    // Machines, judging for a while, and finds the same three objects.
    let mut cluster = realistic_cluster();
    let template = audit_fixture("machine-worker-running.json");
    for n in 0..1000 {
        cluster.add(worker_machine(&template, n, None));
    }
    let api = FakeApi::start(cluster).await;
    // The first run waits on its first page until admissions have been answered.
    let (audit_waiting, release_audit) = api.hold_next_list_of("machines");
    let served = Served::start(&api);
    tokio::time::timeout(Duration::from_secs(60), audit_waiting)
        .await
        .expect("the background audit began within a minute")
        .unwrap();
    eventually_some("serve ready", async || served.ready().await.then_some(())).await;
    let answered = post_reviews(&served, 200).await;
    assert_eq!(answered, 200);
    release_audit.send(()).unwrap();
    // More while the following runs judge their thousand Machines.
    assert_eq!(post_reviews(&served, 200).await, 200);

    let machine_set_findings =
        r#"machine_efa_webhook_audit_findings{kind="MachineSet",rule="efa-instance-type"}"#;
    let metrics = eventually_some("the first complete audit in the metrics", async || {
        let metrics = served.metrics().await?;
        let last_run = sample(
            &metrics,
            "machine_efa_webhook_audit_last_run_timestamp_seconds",
        )?;
        (last_run > 0.0 && sample(&metrics, machine_set_findings) == Some(1.0)).then_some(metrics)
    })
    .await;
    for (labels, count) in [
        (r#"kind="Machine",rule="network-interface-type""#, 1.0),
        (r#"kind="AWSMachine",rule="efa-instance-type""#, 1.0),
        (r#"kind="Machine",rule="efa-instance-type""#, 0.0),
        // Every kind and rule is there, zeros included, for dashboards and alerts.
        (r#"kind="AWSMachineTemplate",rule="placement-group""#, 0.0),
        (r#"kind="MachineSet",rule="malformed""#, 0.0),
    ] {
        let name = format!("machine_efa_webhook_audit_findings{{{labels}}}");
        assert_eq!(sample(&metrics, &name), Some(count), "{name}\n{metrics}");
    }
    assert_eq!(
        metrics
            .matches("machine_efa_webhook_audit_findings{")
            .count(),
        4 * machine_efa_webhook::core::FieldError::RULES.len(),
        "{metrics}"
    );
    // Runs go on finding the same objects, and log each once.
    wait_for_runs(&api, 2).await;
    let found = eventually_some("the findings in the log", async || {
        let found = logged(&log_lines(&served.log), "audit: finding");
        (found.len() >= 3).then_some(found)
    })
    .await;
    assert_eq!(found, [M5_AWSMACHINE, EFA_ONLY_MACHINE, M5_MACHINESET]);

    // The MachineSet is fixed: EFA on a type that has it.
    api.change(|cluster| {
        cluster.edit(
            "machinesets",
            "openshift-machine-api",
            "prod-7x2kq-efa-m5-us-east-1c",
            |machine_set| {
                let path = "/spec/template/spec/providerSpec/value/instanceType";
                set(machine_set, path, "c5n.18xlarge".into())
            },
        )
    });
    eventually_some(
        "the MachineSet finding cleared in the metrics",
        async || {
            let metrics = served.metrics().await?;
            (sample(&metrics, machine_set_findings) == Some(0.0)).then_some(())
        },
    )
    .await;
    wait_for_runs(&api, 2).await;
    let runs = runs_begun(&api);
    let log = served.stop().await;
    api.stop().await;

    // However many runs found them, each finding was logged once, and the one that
    // cleared was logged clearing once.
    let found = logged(&log, "audit: finding");
    eprintln!("{runs} audit runs; logged findings: {found:?}");
    assert!(runs >= 5, "{runs}");
    assert_eq!(found, [M5_AWSMACHINE, EFA_ONLY_MACHINE, M5_MACHINESET]);
    assert_eq!(logged(&log, "audit: finding cleared"), [M5_MACHINESET]);
    let logged_set = log
        .iter()
        .find(|line| line["message"] == "audit: finding" && line["kind"] == "MachineSet")
        .unwrap();
    assert_eq!(logged_set["rule"], "efa-instance-type");
    assert_eq!(logged_set["level"], "INFO");
    assert_eq!(
        logged_set["finding"], M5_MACHINESET_FINDING,
        "the finding, never the object"
    );
    assert!(
        log.iter()
            .all(|line| line["message"] != "audit: cannot read"),
        "every run read every kind"
    );
}
