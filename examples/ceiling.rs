//! The ceiling for `make bench`: the least an HTTPS admission endpoint can do. It
//! accepts TLS with the webhook's own rustls configuration (same certificate, ALPN,
//! versions and provider), serves HTTP/1.1 and HTTP/2 with hyper, reads each request
//! body whole, and answers with one AdmissionReview computed once at start for the
//! benchmark's request body. No routing, no parsing, no decision.
//!
//! ceiling LISTEN CERT KEY BODY_FILE ENDPOINT(mutate|validate)

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use machine_efa_webhook::admission::{Endpoint, Webhook};
use machine_efa_webhook::capabilities::{CapabilityStore, snapshot};
use machine_efa_webhook::core::{Policy, Spelling, UnknownInstanceType};
use machine_efa_webhook::server::tls;
use std::convert::Infallible;
use std::sync::Arc;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key, body, endpoint] = args.as_slice() else {
        eprintln!("usage: ceiling LISTEN CERT KEY BODY_FILE mutate|validate");
        std::process::exit(2);
    };
    let endpoint = match endpoint.as_str() {
        "mutate" => Endpoint::Mutate,
        _ => Endpoint::Validate,
    };
    let policy = Policy {
        spelling: Spelling::OpenShift,
        unknown_instance_type: UnknownInstanceType::Warn,
        default_region: "us-east-1".into(),
    };
    let store = Arc::new(CapabilityStore::fixed(snapshot::embedded_table()));
    let request = std::fs::read(body).expect("reading the request body");
    let answer = Webhook::new(policy, store)
        .answer(endpoint, &request)
        .unwrap();
    let answer = Bytes::from(answer.body);

    let cert =
        tls::ReloadingCert::load(cert.as_ref(), key.as_ref()).expect("loading the certificate");
    let acceptor =
        tokio_rustls::TlsAcceptor::from(tls::server_config(Arc::new(cert), None).unwrap());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("listening");
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http2().max_concurrent_streams(250);
    eprintln!("ceiling serving on {listen}");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // As the webhook does: no Nagle delay on small answers.
        let _ = tcp.set_nodelay(true);
        let (acceptor, builder, answer) = (acceptor.clone(), builder.clone(), answer.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let answer = answer.clone();
                async move {
                    // Read the body, as any real endpoint must.
                    let _ = request.into_body().collect().await;
                    Ok::<_, Infallible>(
                        Response::builder()
                            .header("content-type", "application/json")
                            .body(Full::new(answer))
                            .unwrap(),
                    )
                }
            });
            let _ = builder.serve_connection(TokioIo::new(tls), service).await;
        });
    }
}
