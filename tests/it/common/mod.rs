//! Shared test harness: the real server on a loopback port with certificates made in
//! the test, clients for HTTP/1.1 and HTTP/2, the fixtures, and ([`apiserver`]) a
//! real etcd and kube-apiserver.
#![allow(dead_code)] // not every helper is used by every build of the tests

pub mod apiserver;

use machine_efa_webhook::admission::Webhook;
use machine_efa_webhook::capabilities::{CapabilityStore, snapshot};
use machine_efa_webhook::cli::certs;
use machine_efa_webhook::core::{Policy, Spelling, UnknownInstanceType};
use machine_efa_webhook::server::{self, tls};
use reqwest::{StatusCode, Version};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

pub fn policy() -> Policy {
    Policy {
        spelling: Spelling::OpenShift,
        unknown_instance_type: UnknownInstanceType::Warn,
        default_region: "us-east-1".into(),
    }
}

pub fn embedded_store() -> Arc<CapabilityStore> {
    Arc::new(CapabilityStore::fixed(snapshot::embedded_table()))
}

/// The real HTTPS server on 127.0.0.1, stopped when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub state: Arc<server::AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// The server with a fresh CA and serving certificate.
    pub async fn start(policy: Policy, store: Arc<CapabilityStore>) -> Self {
        Self::start_state(server::AppState::new(
            Webhook::new(policy, store),
            Default::default(),
        ))
        .await
    }

    /// The server for `state`, with a fresh CA and serving certificate.
    pub async fn start_state(state: server::AppState) -> Self {
        let state = Arc::new(state);
        Self::start_app_with_state(server::router(state.clone()), state).await
    }

    /// `app` rather than the webhook's routes, over HTTPS with a fresh CA and serving
    /// certificate (`state` is then the webhook's, unused).
    pub async fn start_app(app: axum::Router) -> Self {
        let state =
            server::AppState::new(Webhook::new(policy(), embedded_store()), Default::default());
        Self::start_app_with_state(app, Arc::new(state)).await
    }

    async fn start_app_with_state(app: axum::Router, state: Arc<server::AppState>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let generated =
            certs::generate(&["localhost".into()], &["127.0.0.1".parse().unwrap()], 1).unwrap();
        generated.write_to(dir.path()).unwrap();
        let cert = tls::ReloadingCert::load(
            &dir.path().join(certs::CERT_FILE),
            &dir.path().join(certs::KEY_FILE),
        )
        .unwrap();
        let tls = tls::server_config(Arc::new(cert), None).unwrap();
        let limits = server::Limits {
            shutdown_grace: Duration::from_secs(5),
            ..server::Limits::default()
        };
        Self::serve(state, app, tls, generated.ca_pem, dir, limits).await
    }

    /// The server with the given TLS configuration; `dir` lives as long as the server.
    pub async fn start_with(
        policy: Policy,
        store: Arc<CapabilityStore>,
        tls: Arc<rustls::ServerConfig>,
        ca_pem: String,
        dir: tempfile::TempDir,
    ) -> Self {
        let limits = server::Limits {
            shutdown_grace: Duration::from_secs(5),
            ..server::Limits::default()
        };
        Self::start_limited(policy, store, tls, ca_pem, dir, limits).await
    }

    /// The server with the given TLS configuration and limits.
    pub async fn start_limited(
        policy: Policy,
        store: Arc<CapabilityStore>,
        tls: Arc<rustls::ServerConfig>,
        ca_pem: String,
        dir: tempfile::TempDir,
        limits: server::Limits,
    ) -> Self {
        let state = Arc::new(server::AppState::new(
            Webhook::new(policy, store),
            Default::default(),
        ));
        Self::serve(
            state.clone(),
            server::router(state),
            tls,
            ca_pem,
            dir,
            limits,
        )
        .await
    }

    async fn serve(
        state: Arc<server::AppState>,
        app: axum::Router,
        tls: Arc<rustls::ServerConfig>,
        ca_pem: String,
        dir: tempfile::TempDir,
        limits: server::Limits,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(
            listener,
            tls,
            app,
            async {
                let _ = stopped.await;
            },
            limits,
        ));
        TestServer {
            addr,
            ca_pem,
            state,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// A client builder that trusts the test CA and reaches `localhost` on this server.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        client_builder_for(&self.ca_pem, self.addr)
    }

    /// A client that trusts the test CA; HTTP/2 via ALPN, or HTTP/1.1 only.
    pub fn client(&self, http2: bool) -> reqwest::Client {
        let builder = self.client_builder();
        let builder = if http2 { builder } else { builder.http1_only() };
        builder.build().unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client builder that trusts `ca_pem` and resolves `localhost` to `addr`.
pub fn client_builder_for(ca_pem: &str, addr: SocketAddr) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(10))
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The object of the review fixture `fixture_name`, named `name` in `namespace`.
pub fn fixture_object(fixture_name: &str, namespace: &str, name: &str) -> Value {
    let mut object = fixture(fixture_name)["request"]["object"].clone();
    object["metadata"]["namespace"] = namespace.into();
    object["metadata"]["name"] = name.into();
    object
}

/// The moto endpoint `make test` started (tests/moto/with_moto.sh).
pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT")
        .expect("MOTO_ENDPOINT is not set: run the tests with `make test` (tests/moto/with_moto.sh starts moto)")
}

/// An SDK config whose EC2 calls go to `endpoint` with dummy credentials.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    sdk_config_with_timeout(endpoint, Duration::from_secs(30)).await
}

/// Like [`sdk_config_for`], giving up on an operation after `timeout`.
pub async fn sdk_config_with_timeout(endpoint: &str, timeout: Duration) -> aws_config::SdkConfig {
    let credentials =
        aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(timeout)
                .build(),
        )
        .load()
        .await
}

/// Posts `body` to `path` and returns the status and the parsed answer.
pub async fn post(
    server: &TestServer,
    http2: bool,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = server
        .client(http2)
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let want = if http2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    assert_eq!(response.version(), want);
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

pub async fn admit(server: &TestServer, http2: bool, endpoint: &str, review: &Value) -> Value {
    // The API server calls the configured path with a timeout query.
    let (status, body) = post(
        server,
        http2,
        &format!("/{endpoint}?timeout=10s"),
        serde_json::to_vec(review).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(
        body["response"]["uid"], review["request"]["uid"],
        "uid echoed"
    );
    body["response"].clone()
}

pub fn patched(review: &Value, response: &Value) -> Value {
    let mut object = review["request"]["object"].clone();
    if let Some(patch) = response.get("patch") {
        assert_eq!(response["patchType"], "JSONPatch");
        let patch = patch
            .as_str()
            .expect("the patch is base64 text, as the API server wants");
        let bytes =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, patch).unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        json_patch::patch(&mut object, &patch).unwrap();
    }
    object
}

/// The message of a denial.
pub fn denial(response: &Value) -> &str {
    assert_eq!(response["allowed"], false, "{response}");
    response["status"]["message"].as_str().unwrap()
}

pub fn warnings(response: &Value) -> String {
    response["warnings"]
        .as_array()
        .map(|w| {
            w.iter()
                .map(|s| s.as_str().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

pub const HEALTHY: u8 = 0;
pub const ANSWER_500: u8 = 1;
pub const SLOW: u8 = 2;

/// A loopback stand-in for EC2 that forwards to moto while healthy and misbehaves on
/// demand; aborting its task kills it.
pub async fn switchable_endpoint(mode: Arc<AtomicU8>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |method: axum::http::Method, uri: axum::http::Uri, headers: axum::http::HeaderMap, body: axum::body::Bytes| {
        let (mode, client) = (mode.clone(), client.clone());
        async move {
            match mode.load(Ordering::SeqCst) {
                ANSWER_500 => {
                    return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "<Response><Errors><Error><Code>InternalError</Code></Error></Errors></Response>".to_owned());
                }
                SLOW => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                _ => {}
            }
            let mut request = client.request(method, format!("{}{uri}", moto_endpoint())).body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            let response = request.send().await.unwrap();
            let status = axum::http::StatusCode::from_u16(response.status().as_u16()).unwrap();
            (status, response.text().await.unwrap())
        }
    });
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, task)
}

/// Makes placement group `name` in `region` on moto (the wrapper's stand-in), once: the
/// tests share one moto, so a group another test made is as good.
pub async fn ensure_placement_group(region: &str, name: &str, strategy: &str) {
    let sdk = sdk_config_for(&moto_endpoint()).await;
    let client = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .build(),
    );
    let made = client
        .create_placement_group()
        .group_name(name)
        .strategy(aws_sdk_ec2::types::PlacementStrategy::from(strategy))
        .send()
        .await;
    if let Err(err) = made {
        let code = aws_sdk_ec2::error::ProvideErrorMetadata::code(&err);
        assert_eq!(code, Some("InvalidPlacementGroup.Duplicate"), "{err:?}");
    }
}

/// An EC2 client on moto for `region`.
pub async fn moto_client(region: &str) -> aws_sdk_ec2::Client {
    let sdk = sdk_config_for(&moto_endpoint()).await;
    aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(&sdk)
            .region(aws_sdk_ec2::config::Region::new(region.to_owned()))
            .build(),
    )
}

/// Makes a security group named `name` (also its Name tag) in `region`'s default VPC,
/// with the EFA rules asked for: all traffic from itself in, to itself out.
pub async fn security_group(region: &str, name: &str, inbound: bool, outbound: bool) -> String {
    use aws_sdk_ec2::types::{IpPermission, ResourceType, Tag, TagSpecification, UserIdGroupPair};
    let client = moto_client(region).await;
    let id = client
        .create_security_group()
        .group_name(name)
        .description("machine-efa-webhook test")
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(Tag::builder().key("Name").value(name).build())
                .build(),
        )
        .send()
        .await
        .unwrap()
        .group_id()
        .unwrap()
        .to_owned();
    let itself = || {
        IpPermission::builder()
            .ip_protocol("-1")
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(&id).build())
            .build()
    };
    if inbound {
        client
            .authorize_security_group_ingress()
            .group_id(&id)
            .ip_permissions(itself())
            .send()
            .await
            .unwrap();
    }
    if outbound {
        client
            .authorize_security_group_egress()
            .group_id(&id)
            .ip_permissions(itself())
            .send()
            .await
            .unwrap();
    }
    id
}

/// Waits, up to a minute, until `done` holds.
pub async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    eventually_some(what, async || done().await.then_some(())).await
}

/// Waits, up to a minute, until `done` gives a value, and returns it.
pub async fn eventually_some<T>(what: &str, mut done: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = done().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within a minute: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A loopback port free right now, for a server the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every document of a YAML stream, as JSON (empty documents left out).
pub fn yaml_documents(text: &str) -> Vec<Value> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn json(yaml: &Yaml) -> Value {
        match yaml {
            Yaml::Real(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
            Yaml::Integer(n) => Value::from(*n),
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Boolean(b) => Value::Bool(*b),
            Yaml::Array(items) => items.iter().map(json).collect(),
            Yaml::Hash(map) => map
                .iter()
                .map(|(k, v)| (k.as_str().expect("string keys").to_owned(), json(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Yaml::Null | Yaml::BadValue => Value::Null,
            Yaml::Alias(_) => panic!("YAML aliases are not used in this project's manifests"),
        }
    }
    YamlLoader::load_from_str(text)
        .unwrap()
        .iter()
        .map(json)
        .filter(|v| !v.is_null())
        .collect()
}
