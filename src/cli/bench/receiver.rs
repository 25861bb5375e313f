//! The benches' webhook receiver (and the settings that let webhooks reach it): a local HTTP server that answers 200 to every request and notes when the first
//! webhook of each event id arrived.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::Value;

use super::Scratch;
use crate::config::Settings;
use crate::trigger::AddressPolicy;

/// `settings` on `scratch`, with webhooks allowed to reach the local receiver.
///
/// # Errors
/// As [`Scratch::settings`].
pub(super) fn webhook_settings(scratch: &Scratch, settings: &Settings) -> anyhow::Result<Settings> {
    let mut bench = scratch.settings(settings)?;
    bench.triggers.webhook_addresses =
        AddressPolicy::parse("127.0.0.0/8").map_err(anyhow::Error::msg)?;
    Ok(bench)
}

/// Event id → when its first webhook arrived.
pub(super) type Received = Arc<Mutex<HashMap<String, Instant>>>;

/// A running receiver.
pub(super) struct Receiver {
    /// Where to point a webhook trigger.
    pub(super) url: String,
    /// What arrived.
    pub(super) received: Received,
    handle: ServerHandle,
}

impl Receiver {
    /// Starts a receiver on a free local port (one worker: it only counts).
    ///
    /// # Errors
    /// When no local port can be bound.
    pub(super) fn start() -> anyhow::Result<Receiver> {
        let received = Received::default();
        let data = web::Data::new(received.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            received,
            handle,
        })
    }

    /// How many events have arrived.
    pub(super) fn count(&self) -> usize {
        // unwrap: the mutex is never held across a panic.
        self.received.lock().unwrap().len()
    }

    /// Stops the server.
    pub(super) async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn receive(body: web::Bytes, received: web::Data<Received>) -> HttpResponse {
    let now = Instant::now();
    if let Ok(payload) = serde_json::from_slice::<Value>(&body)
        && let Some(id) = payload["event"]["id"].as_str()
    {
        // unwrap: the mutex is never held across a panic.
        received.lock().unwrap().entry(id.to_owned()).or_insert(now);
    }
    HttpResponse::Ok().finish()
}
