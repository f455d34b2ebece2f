//! The binary as an operator runs it: `certs`, and `serve` from each table source,
//! stopped by SIGINT.

use crate::common;

use base64::Engine;
use common::{fixture_path, free_port};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_machine-efa-webhook");

fn make_certs(dir: &Path) -> String {
    let output = Command::new(BIN)
        .args(["certs", "--out"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn certs_writes_a_ca_and_serving_pair_and_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = make_certs(dir.path());
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(bundle)
            .unwrap(),
        ca
    );
    for file in ["tls.crt", "tls.key"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let cert = std::fs::read(dir.path().join("tls.crt")).unwrap();
    make_certs(dir.path());
    assert_eq!(
        std::fs::read(dir.path().join("tls.crt")).unwrap(),
        cert,
        "kept without --force"
    );
}

/// A `serve` process on a loopback port; killed if the test fails before stopping it.
struct Served {
    child: Child,
    port: u16,
    metrics_port: u16,
    client: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Served {
        Self::start_logging(extra, env, Stdio::null())
    }

    fn start_logging(extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Served {
        let dir = tempfile::tempdir().unwrap();
        make_certs(dir.path());
        let (port, metrics_port) = (free_port(), free_port());
        let child = Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
            .arg("--tls-cert")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key")
            .arg(dir.path().join("tls.key"))
            .args(extra)
            // Isolated from the host's AWS settings; no shutdown delay unless a test asks.
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_PROFILE")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("EFA_WEBHOOK_SHUTDOWN_DELAY", "0s")
            .envs(env.iter().copied())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
        let client = reqwest::blocking::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let served = Served {
            child,
            port,
            metrics_port,
            client,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while served.get("/readyz") != Some(200) {
            assert!(Instant::now() < deadline, "not ready in 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    fn get(&self, path: &str) -> Option<u16> {
        let url = format!("https://localhost:{}{path}", self.port);
        self.client
            .get(url)
            .send()
            .ok()
            .map(|r| r.status().as_u16())
    }

    fn validate(&self, fixture: &str) -> Value {
        let body = std::fs::read(fixture_path(fixture)).unwrap();
        let url = format!("https://localhost:{}/validate?timeout=10s", self.port);
        let text = self
            .client
            .post(url)
            .body(body)
            .send()
            .unwrap()
            .text()
            .unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["response"].clone()
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(sent.success());
    }

    fn plain_get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(format!("http://127.0.0.1:{}{path}", self.metrics_port)).unwrap()
    }

    /// Ctrl-C, and the exit status.
    fn interrupt(self) -> std::process::ExitStatus {
        self.signal("-INT");
        self.wait()
    }

    fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "did not stop within 10 s of the signal"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_embedded_answers_and_stops_cleanly_on_ctrl_c() {
    let served = Served::start(&[], &[("EFA_WEBHOOK_REGION", "us-east-1")]);
    let response = served.validate("machineset-create-efa-m5.json");
    assert_eq!(response["allowed"], false);
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(served.get("/healthz"), Some(200));
    // The metrics port: plain HTTP, metrics and the probes.
    let plain = |path: &str| served.plain_get(path);
    let url = format!("https://localhost:{}/validate", served.port);
    assert_eq!(
        served.client.post(url).body("{").send().unwrap().status(),
        400
    );
    let metrics = plain("/metrics").text().unwrap();
    for line in [
        r#"machine_efa_webhook_admission_requests_total{endpoint="validate",kind="MachineSet",operation="CREATE",decision="denied"} 1"#,
        r#"machine_efa_webhook_admission_duration_seconds_count{endpoint="validate"} 1"#,
        r#"machine_efa_webhook_admission_duration_seconds_bucket{le="0.00001",endpoint="validate"}"#,
        r#"machine_efa_webhook_bad_requests_total{reason="not_json"} 1"#,
        r#"machine_efa_webhook_capability_table_instance_types{region="us-east-2",source="embedded"}"#,
        r#"machine_efa_webhook_capability_table_age_seconds{region="us-east-1",source="embedded"}"#,
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
    assert!(
        metrics.contains("machine_efa_webhook_tls_certificate_expiry_timestamp_seconds "),
        "{metrics}"
    );
    assert_eq!(plain("/readyz").status(), 200);
    assert_eq!(plain("/healthz").status(), 200);
    assert!(served.interrupt().success());
}

#[test]
fn serve_from_a_snapshot_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("east2-only.json");
    // A file holding us-east-2 only: us-east-1 reviews get the missing-region warning.
    let mut file: Value =
        serde_json::from_str(machine_efa_webhook::capabilities::snapshot::EMBEDDED).unwrap();
    file["regions"]
        .as_object_mut()
        .unwrap()
        .retain(|region, _| region == "us-east-2");
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    let served = Served::start(&["--capabilities", path.to_str().unwrap()], &[]);
    let response = served.validate("machineset-create-efa-m5.json");
    assert_eq!(response["allowed"], true, "{response}");
    assert!(
        response["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with(r#"region "us-east-1" is not in the capability table"#)
    );
    let response = served.validate("machineset-create-hpc6a-us-east-2.json");
    assert_eq!(response["allowed"], true, "{response}");
    assert!(served.interrupt().success());
}

#[test]
fn serve_from_ec2_keeps_serving_when_aws_is_unreachable() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let env = [
        ("AWS_ENDPOINT_URL", dead.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_MAX_ATTEMPTS", "1"),
        ("EFA_WEBHOOK_STALE_AFTER", "0s"),
    ];
    let served = Served::start(&["--capabilities", "ec2", "--region", "us-east-1"], &env);
    // Ready at once from the embedded table; the failed refresh is said in a warning.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = served.validate("machineset-create-efa-p4d.json");
        assert_eq!(response["allowed"], true, "{response}");
        let warnings = response["warnings"].to_string();
        if warnings.contains("refreshing from EC2 failed") {
            assert!(
                warnings.contains("is from the embedded snapshot of"),
                "{warnings}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no stale-data warning within 30 s: {warnings}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        served.validate("machineset-create-efa-m5.json")["allowed"],
        false
    );
    let metrics = served.plain_get("/metrics").text().unwrap();
    let refresh_failed =
        r#"machine_efa_webhook_capability_refreshes_total{kind="instance_types",result="network"}"#;
    assert!(metrics.contains(refresh_failed), "{metrics}");
    assert!(served.interrupt().success());
}

#[test]
fn sigterm_turns_readiness_off_but_keeps_serving_through_the_delay() {
    let served = Served::start(&[], &[("EFA_WEBHOOK_SHUTDOWN_DELAY", "2s")]);
    served.signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(1);
    while served.plain_get("/readyz").status() != 503 {
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Calls routed here before the endpoint is gone are still answered.
    assert_eq!(
        served.validate("machineset-create-efa-m5.json")["allowed"],
        false
    );
    assert!(served.wait().success());
}

#[test]
fn sigterm_during_load_answers_every_request() {
    let served = Served::start(&[], &[("EFA_WEBHOOK_SHUTDOWN_DELAY", "1s")]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (answered, failed) = (
        std::sync::atomic::AtomicUsize::new(0),
        std::sync::atomic::AtomicUsize::new(0),
    );
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                // Like an API server: keeps calling until the endpoint is gone (not ready).
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let url = format!("https://localhost:{}/validate", served.port);
                    let body =
                        std::fs::read(fixture_path("machineset-create-efa-m5.json")).unwrap();
                    let answered_right = served
                        .client
                        .post(url)
                        .body(body)
                        .send()
                        .and_then(|r| r.error_for_status())
                        .and_then(|r| r.text())
                        .is_ok_and(|text| text.contains("\"allowed\":false"));
                    let counter = if answered_right { &answered } else { &failed };
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        served.signal("-TERM");
        while served.plain_get("/readyz").status() != 503 {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    assert_eq!(
        failed.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "requests failed around SIGTERM"
    );
    assert!(answered.load(std::sync::atomic::Ordering::SeqCst) > 10);
    assert!(served.wait().success());
}

#[test]
fn every_admission_and_every_skipped_check_is_logged() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let served = Served::start_logging(
        &["--log-format", "json"],
        &[("EFA_WEBHOOK_REGION", "us-east-1")],
        Stdio::from(log.reopen().unwrap()),
    );
    assert_eq!(
        served.validate("machineset-create-efa-m5.json")["allowed"],
        false
    );
    assert_eq!(
        served.validate("machineset-create-efa-m5-skip.json")["allowed"],
        true
    );
    // The lines are written by a background writer; stopping flushes them.
    assert!(served.interrupt().success());
    let lines: Vec<Value> = std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let admissions: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "admission")
        .collect();
    assert_eq!(admissions.len(), 2, "{lines:?}");
    assert_eq!(admissions[0]["decision"], "denied");
    assert_eq!(admissions[0]["kind"], "MachineSet");
    assert_eq!(admissions[1]["decision"], "warned");
    let skipped: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "EFA capability denial skipped by annotation")
        .collect();
    assert_eq!(skipped.len(), 1, "{lines:?}");
    assert_eq!(skipped[0]["level"], "WARN");
    assert_eq!(skipped[0]["name"], "prod-7x2kq-efa-m5-us-east-1c");
}
