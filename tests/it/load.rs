//! Load and slow clients on the real server: a few thousand mixed reviews over HTTP/2
//! and HTTP/1.1 at once with every answer checked, and a client that sends its headers
//! byte by byte, cut off without affecting the others.

use crate::common;

use common::{TestServer, embedded_store, fixture, policy};
use machine_efa_webhook::cli::certs;
use machine_efa_webhook::server::{self, tls};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A review to send and what its answer must be.
struct Case {
    body: Value,
    status: u16,
    allowed: Option<bool>,
    patched: bool,
}

fn cases() -> Vec<Case> {
    let review = |name: &str, allowed: bool, patched: bool| Case {
        body: fixture(name),
        status: 200,
        allowed: Some(allowed),
        patched,
    };
    vec![
        review("machineset-create-efa-m5.json", false, false),
        review("machineset-create-efa-p4d.json", true, false),
        review("machineset-create-default.json", true, true),
        review("machineset-create-alias.json", true, true),
        review("machine-create-efa-m5.json", false, false),
        review("machineset-update-ratchet.json", true, false),
        review("machine-delete.json", true, false),
        review("machineset-create-gcp.json", true, false),
        Case {
            body: json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
            status: 400,
            allowed: None,
            patched: false,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_mixed_reviews_over_both_protocols() {
    const REQUESTS: usize = 3_000;
    const WORKERS: usize = 16;
    let server = Arc::new(TestServer::start(policy(), embedded_store()).await);
    let cases = Arc::new(cases());
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..WORKERS {
        let (server, cases) = (server.clone(), cases.clone());
        // Half the workers speak HTTP/2 (one connection, many streams), half HTTP/1.1.
        let client = server.client(worker % 2 == 0);
        workers.push(tokio::spawn(async move {
            let mut checked = 0;
            for i in (worker..REQUESTS).step_by(WORKERS) {
                let case = &cases[i % cases.len()];
                let mut body = case.body.clone();
                let uid = format!("load-{i}");
                if body.get("request").is_some() {
                    body["request"]["uid"] = json!(uid);
                }
                let endpoint = if case.patched { "/mutate" } else { "/validate" };
                let response = client
                    .post(server.url(endpoint))
                    .body(serde_json::to_vec(&body).unwrap())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("transport error on request {i}: {e}"));
                assert_eq!(response.status().as_u16(), case.status, "request {i}");
                let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
                if let Some(allowed) = case.allowed {
                    assert_eq!(answer["response"]["uid"], json!(uid), "request {i}");
                    assert_eq!(
                        answer["response"]["allowed"],
                        json!(allowed),
                        "request {i}: {answer}"
                    );
                    assert_eq!(
                        answer["response"].get("patch").is_some(),
                        case.patched,
                        "request {i}"
                    );
                }
                checked += 1;
            }
            checked
        }));
    }
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    assert_eq!(total, REQUESTS);
    eprintln!("{REQUESTS} reviews in {:?}", started.elapsed());
}

/// A server whose header read timeout is 1 s and idle timeout 2 s, and a raw TLS
/// connector speaking `protocol`.
async fn impatient_server(protocol: &[u8]) -> (TestServer, tokio_rustls::TlsConnector) {
    let dir = tempfile::tempdir().unwrap();
    let generated =
        certs::generate(&["localhost".into()], &["127.0.0.1".parse().unwrap()], 1).unwrap();
    generated.write_to(dir.path()).unwrap();
    let cert =
        tls::ReloadingCert::load(&dir.path().join("tls.crt"), &dir.path().join("tls.key")).unwrap();
    let config = tls::server_config(Arc::new(cert), None).unwrap();
    let limits = server::Limits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..server::Limits::default()
    };
    let ca_pem = generated.ca_pem.clone();
    let server =
        TestServer::start_limited(policy(), embedded_store(), config, ca_pem, dir, limits).await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(
            rustls::pki_types::CertificateDer::from_pem_slice(generated.ca_pem.as_bytes()).unwrap(),
        )
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_config.alpn_protocols = vec![protocol.to_vec()];
    (
        server,
        tokio_rustls::TlsConnector::from(Arc::new(client_config)),
    )
}

async fn raw_connection(
    server: &TestServer,
    connector: &tokio_rustls::TlsConnector,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (server, connector) = impatient_server(b"http/1.1").await;
    let mut connection = raw_connection(&server, &connector).await;
    connection
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 1024];
    let n = connection.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );
    // Then silence: the server closes the connection instead of holding it forever.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut rest = Vec::new();
        let _ = connection.read_to_end(&mut rest).await;
    })
    .await;
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection was held open for 5 s"
    );
}

#[tokio::test]
async fn a_client_sending_headers_byte_by_byte_is_cut_off_alone() {
    let (server, connector) = impatient_server(b"http/1.1").await;
    // The slow client: TLS done, then one header byte every 100 ms.
    let mut slow = raw_connection(&server, &connector).await;
    let started = Instant::now();
    let slow_client = tokio::spawn(async move {
        let headers = b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
        for byte in headers {
            if slow.write_all(&[*byte]).await.is_err() || slow.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Still open after all that: whatever the server says next ends the test.
        let mut rest = Vec::new();
        let _ = slow.read_to_end(&mut rest).await;
    });

    // Others are served meanwhile.
    let body = serde_json::to_vec(&fixture("machineset-create-efa-m5.json")).unwrap();
    for http2 in [true, false] {
        let response = server
            .client(http2)
            .post(server.url("/validate"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    tokio::time::timeout(Duration::from_secs(5), slow_client)
        .await
        .expect("the slow client was not cut off")
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "cut off after {elapsed:?}; the headers alone would take 12 s"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let (server, connector) = impatient_server(b"h2").await;
    let mut connection = raw_connection(&server, &connector).await;
    // The client preface and an empty SETTINGS frame, then silence.
    connection
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    connection
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let started = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut rest = Vec::new();
        let _ = connection.read_to_end(&mut rest).await;
    })
    .await;
    assert!(
        closed.is_ok(),
        "an idle HTTP/2 connection was held open for 10 s"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed too early: {:?}",
        started.elapsed()
    );
}
