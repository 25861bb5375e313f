//! One attempt against a real receiver on 127.0.0.1, for every outcome of SPEC §5.5 and the address policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::{App, HttpResponse, HttpServer, web};

use super::*;

/// A receiver with one route per behaviour; counts the requests it gets.
async fn receiver() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let server = HttpServer::new(move || {
        let counter = counter.clone();
        App::new()
            .wrap_fn(move |req, srv| {
                counter.fetch_add(1, Ordering::SeqCst);
                actix_web::dev::Service::call(srv, req)
            })
            .route(
                "/ok",
                web::post().to(|| async { HttpResponse::NoContent().finish() }),
            )
            .route(
                "/busy",
                web::post().to(|| async {
                    HttpResponse::TooManyRequests()
                        .insert_header(("retry-after", "7"))
                        .body("slow down")
                }),
            )
            .route(
                "/down",
                web::post().to(|| async { HttpResponse::ServiceUnavailable().finish() }),
            )
            .route(
                "/bad",
                web::post().to(|| async { HttpResponse::BadRequest().body("no such key") }),
            )
            .route(
                "/moved",
                web::post().to(|| async {
                    HttpResponse::Found()
                        .insert_header(("location", "http://169.254.169.254/"))
                        .finish()
                }),
            )
            .route(
                "/hang",
                web::post().to(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    HttpResponse::Ok().finish()
                }),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    actix_rt::spawn(server.run());
    (port, hits)
}

fn url(host: &str, port: u16, path: &str) -> reqwest::Url {
    format!("http://{host}:{port}{path}").parse().unwrap()
}

async fn attempt(client: &WebhookClient, url: &reqwest::Url) -> Attempt {
    client
        .post(
            url,
            &[("x-team".into(), "search".into())],
            b"{}".to_vec(),
            Duration::from_millis(300),
            Utc::now(),
        )
        .await
}

#[actix_rt::test]
async fn every_receiver_answer_has_its_outcome() {
    let (port, _) = receiver().await;
    let client = WebhookClient::new(AddressPolicy::default_for(true)).unwrap();
    assert!(matches!(
        attempt(&client, &url("127.0.0.1", port, "/ok")).await,
        Attempt::Delivered { status: 204, .. }
    ));
    match attempt(&client, &url("localhost", port, "/busy")).await {
        Attempt::Retryable {
            status,
            retry_after,
            error,
            ..
        } => {
            assert_eq!(status, Some(429));
            assert_eq!(retry_after, Some(TimeDelta::seconds(7)));
            assert!(error.contains("slow down"), "{error}");
        }
        other => panic!("429: {other:?}"),
    }
    assert!(matches!(
        attempt(&client, &url("127.0.0.1", port, "/down")).await,
        Attempt::Retryable {
            status: Some(503),
            ..
        }
    ));
    assert!(matches!(
        attempt(&client, &url("127.0.0.1", port, "/bad")).await,
        Attempt::Failed {
            status: Some(400),
            ..
        }
    ));
    assert!(
        matches!(
            attempt(&client, &url("127.0.0.1", port, "/moved")).await,
            Attempt::Failed {
                status: Some(302),
                ..
            }
        ),
        "a redirect is not followed"
    );
    match attempt(&client, &url("127.0.0.1", port, "/hang")).await {
        Attempt::Retryable {
            status: None,
            error,
            ..
        } => assert!(error.contains("timed out"), "{error}"),
        other => panic!("hang: {other:?}"),
    }
}

#[actix_rt::test]
async fn a_receiver_that_is_not_there_is_retryable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = WebhookClient::new(AddressPolicy::default_for(true)).unwrap();
    assert!(matches!(
        attempt(&client, &url("127.0.0.1", port, "/ok")).await,
        Attempt::Retryable { status: None, .. }
    ));
}

#[actix_rt::test]
async fn refused_addresses_are_never_connected_to() {
    let (port, hits) = receiver().await;
    let client = WebhookClient::new(AddressPolicy::default_for(false)).unwrap();
    for host in ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"] {
        match attempt(&client, &url(host, port, "/ok")).await {
            Attempt::Failed {
                status: None,
                error,
                ..
            } => {
                assert!(
                    error.contains("HERALD_WEBHOOK_ALLOW_CIDRS"),
                    "{host}: {error}"
                )
            }
            other => panic!("{host}: {other:?}"),
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the receiver saw no request"
    );
}
