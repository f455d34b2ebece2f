//! Certificates in operation: rotation through the kubelet's `..data` symlink swap while
//! requests run, a bad pair that keeps the old one, and required client certificates.

use crate::common;

use common::{TestServer, client_builder_for, embedded_store, fixture, policy};
use machine_efa_webhook::cli::certs::{Authority, Issued};
use machine_efa_webhook::metrics::Metrics;
use machine_efa_webhook::server::tls;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Lays out a secret volume as the kubelet does: `..<generation>/` holds the files,
/// `..data` points at it, and `tls.crt`/`tls.key` point through `..data`.
fn mount(dir: &Path, generation: &str, pair: &Issued) {
    let data = dir.join(generation);
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("tls.crt"), &pair.cert_pem).unwrap();
    std::fs::write(data.join("tls.key"), &pair.key_pem).unwrap();
    // The swap itself: a new symlink renamed over `..data`, atomically; then the old
    // generation goes, as the kubelet removes it.
    let previous = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(generation, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    if let Some(previous) = previous {
        std::fs::remove_dir_all(dir.join(previous)).unwrap();
    }
    for file in ["tls.crt", "tls.key"] {
        let link = dir.join(file);
        if !link.exists() {
            std::os::unix::fs::symlink(format!("..data/{file}"), link).unwrap();
        }
    }
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .unwrap()
        .to_vec()
}

struct Rotating {
    server: TestServer,
    cert: Arc<tls::ReloadingCert>,
    metrics: Arc<Metrics>,
    reloader: tokio::task::JoinHandle<()>,
}

async fn rotating_server(ca: &Authority, first: &Issued) -> Rotating {
    let dir = tempfile::tempdir().unwrap();
    mount(dir.path(), "..2026_11_25_a", first);
    let cert = Arc::new(
        tls::ReloadingCert::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap(),
    );
    let metrics = Arc::new(Metrics::default());
    let reloader =
        tls::spawn_cert_reloader(cert.clone(), Duration::from_millis(50), metrics.clone());
    let config = tls::server_config(cert.clone(), None).unwrap();
    let server =
        TestServer::start_with(policy(), embedded_store(), config, ca.pem.clone(), dir).await;
    Rotating {
        server,
        cert,
        metrics,
        reloader,
    }
}

/// The certificate a new connection is served.
async fn served_cert(server: &TestServer) -> Vec<u8> {
    let client = server.client_builder().tls_info(true).build().unwrap();
    let response = client.get(server.url("/healthz")).send().await.unwrap();
    let info = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .unwrap();
    info.peer_certificate().unwrap().to_vec()
}

fn serving_pair(ca: &Authority) -> Issued {
    ca.issue_serving(&["localhost".into()], &["127.0.0.1".parse().unwrap()], 1)
        .unwrap()
}

#[tokio::test]
async fn a_symlink_swap_is_served_without_a_failed_request() {
    let ca = Authority::new(1).unwrap();
    let (first, second) = (serving_pair(&ca), serving_pair(&ca));
    let rotating = rotating_server(&ca, &first).await;
    let server = &rotating.server;
    assert_eq!(served_cert(server).await, der(&first.cert_pem));

    // Requests over both protocols, each on a new connection so each handshakes.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let body = serde_json::to_vec(&fixture("machineset-create-efa-m5.json")).unwrap();
    // The certificates the load's own connections were served.
    let seen = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let mut load = Vec::new();
    for http2 in [true, false, true, false] {
        let (url, body, stop, ok, failed, seen) = (
            server.url("/validate"),
            body.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
            seen.clone(),
        );
        let (ca_pem, addr) = (server.ca_pem.clone(), server.addr);
        // A new client per request: every request is a new connection and handshake.
        let new_client = move || {
            let builder = client_builder_for(&ca_pem, addr).tls_info(true);
            if http2 { builder } else { builder.http1_only() }
                .build()
                .unwrap()
        };
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match new_client().post(&url).body(body.clone()).send().await {
                    Ok(r) if r.status() == 200 => {
                        if let Some(info) = r.extensions().get::<reqwest::tls::TlsInfo>() {
                            let cert = info.peer_certificate().unwrap_or_default().to_vec();
                            seen.lock().unwrap().insert(cert);
                        }
                        ok.fetch_add(1, Ordering::SeqCst)
                    }
                    _ => failed.fetch_add(1, Ordering::SeqCst),
                };
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    mount(server_dir(&rotating), "..2026_11_25_b", &second);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while served_cert(server).await != der(&second.cert_pem) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was not served within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "failed requests during the swap"
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen.contains(&der(&first.cert_pem)) && seen.contains(&der(&second.cert_pem)),
        "the load handshook both before and after the swap"
    );
    assert!(
        ok.load(Ordering::SeqCst) > 10,
        "too few requests to prove anything"
    );
    let text = rotating.metrics.encode();
    assert!(
        text.contains(r#"machine_efa_webhook_tls_certificate_reloads_total{result="success"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("machine_efa_webhook_tls_certificate_expiry_timestamp_seconds "),
        "{text}"
    );
    rotating.reloader.abort();
}

fn server_dir(rotating: &Rotating) -> &Path {
    rotating.cert.cert_path().parent().unwrap()
}

#[tokio::test]
async fn a_bad_or_half_written_pair_keeps_the_old_one() {
    let ca = Authority::new(1).unwrap();
    let (first, other, fixed) = (serving_pair(&ca), serving_pair(&ca), serving_pair(&ca));
    let rotating = rotating_server(&ca, &first).await;
    let server = &rotating.server;

    // Half written: the new certificate with the old key (the key file not yet swapped).
    let half = Issued {
        cert_pem: other.cert_pem.clone(),
        key_pem: first.key_pem.clone(),
    };
    mount(server_dir(&rotating), "..2026_11_25_b", &half);
    wait_for_failures(&rotating.metrics, 1).await;
    // Truncated PEM.
    let truncated = Issued {
        cert_pem: first.cert_pem[..100].to_owned(),
        key_pem: first.key_pem.clone(),
    };
    mount(server_dir(&rotating), "..2026_11_25_c", &truncated);
    wait_for_failures(&rotating.metrics, 2).await;

    assert_eq!(
        served_cert(server).await,
        der(&first.cert_pem),
        "the old pair is kept"
    );
    let response = server
        .client(true)
        .post(server.url("/validate"))
        .body(serde_json::to_vec(&fixture("machineset-create-efa-m5.json")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = rotating.metrics.encode();
    assert!(
        text.contains(r#"machine_efa_webhook_tls_certificate_reloads_total{result="failure"} 2"#),
        "{text}"
    );

    // Once the pair is whole, it is taken.
    mount(server_dir(&rotating), "..2026_11_25_d", &fixed);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while served_cert(server).await != der(&fixed.cert_pem) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the good pair was not served within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rotating.reloader.abort();
}

#[tokio::test]
async fn a_client_ca_requires_client_certificates() {
    let ca = Authority::new(1).unwrap();
    let serving = serving_pair(&ca);
    let client_ca = Authority::new(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), &serving.cert_pem).unwrap();
    std::fs::write(dir.path().join("tls.key"), &serving.key_pem).unwrap();
    std::fs::write(dir.path().join("client-ca.crt"), &client_ca.pem).unwrap();
    let cert = Arc::new(
        tls::ReloadingCert::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap(),
    );
    let config = tls::server_config(cert, Some(&dir.path().join("client-ca.crt"))).unwrap();
    let server =
        TestServer::start_with(policy(), embedded_store(), config, ca.pem.clone(), dir).await;

    assert!(
        server
            .client(true)
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err(),
        "no client certificate"
    );
    let stranger = ca.issue_client("kube-apiserver", 1).unwrap();
    let identity = |pair: &Issued| {
        reqwest::Identity::from_pem(format!("{}{}", pair.cert_pem, pair.key_pem).as_bytes())
            .unwrap()
    };
    let wrong = server
        .client_builder()
        .identity(identity(&stranger))
        .build()
        .unwrap();
    assert!(
        wrong.get(server.url("/healthz")).send().await.is_err(),
        "signed by another CA"
    );
    let apiserver = client_ca.issue_client("kube-apiserver", 1).unwrap();
    for http2 in [true, false] {
        let builder = server.client_builder().identity(identity(&apiserver));
        let client = if http2 { builder } else { builder.http1_only() }
            .build()
            .unwrap();
        let response = client.get(server.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
}

async fn wait_for_failures(metrics: &Metrics, count: u32) {
    let want =
        format!(r#"machine_efa_webhook_tls_certificate_reloads_total{{result="failure"}} {count}"#);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !metrics.encode().contains(&want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {want} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn a_missing_file_is_reported_once_and_the_pair_kept() {
    let ca = Authority::new(1).unwrap();
    let pair = serving_pair(&ca);
    let dir = tempfile::tempdir().unwrap();
    mount(dir.path(), "..2026_11_25_a", &pair);
    let cert =
        tls::ReloadingCert::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();
    std::fs::remove_file(dir.path().join("..2026_11_25_a/tls.key")).unwrap();
    assert!(cert.reload().is_err(), "reported");
    assert_eq!(
        cert.reload().unwrap(),
        tls::Reload::Unchanged,
        "not reported again"
    );
    assert_eq!(cert.current_cert().to_vec(), der(&pair.cert_pem));
}
