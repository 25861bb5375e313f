//! A real webhook receiver for trigger tests: an actix-web server on 127.0.0.1 that records every request and
//! answers from a script (fail N times, 429 with `Retry-After`, hang past a timeout, redirect), then `200`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::Value;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status, with an optional `Retry-After` (seconds).
    Status(u16, Option<u64>),
    /// Sleep this long, then `200` (a receiver that hangs past the trigger's timeout).
    Hang(Duration),
    /// `302` to this location.
    Redirect(String),
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header name (lowercase) → value.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub answered: u16,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON webhook body")
    }
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

/// The receiver; dropped with the test.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    /// Starts a receiver answering `200` to everything until scripted otherwise.
    pub async fn start() -> Receiver {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = web::Data::new(shared.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            shared,
            handle,
        }
    }

    /// Queues answers for the next requests, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.lock().unwrap().script.extend(replies);
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.shared.lock().unwrap().received.clone()
    }

    /// The requests answered `2xx`.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Stops the server.
    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Mutex<Shared>>>,
) -> HttpResponse {
    let reply = shared.lock().unwrap().script.pop_front();
    let headers = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let record = |answered: u16| {
        shared.lock().unwrap().received.push(Received {
            headers,
            body: body.to_vec(),
            answered,
        });
    };
    match reply {
        None => {
            record(200);
            HttpResponse::Ok().body("ok")
        }
        Some(Reply::Status(status, retry_after)) => {
            record(status);
            let mut response = HttpResponse::build(
                actix_web::http::StatusCode::from_u16(status).expect("a status"),
            );
            if let Some(seconds) = retry_after {
                response.insert_header(("retry-after", seconds.to_string()));
            }
            response.body("scripted")
        }
        Some(Reply::Hang(delay)) => {
            record(200);
            actix_rt::time::sleep(delay).await;
            HttpResponse::Ok().body("late")
        }
        Some(Reply::Redirect(location)) => {
            record(302);
            HttpResponse::Found()
                .insert_header(("location", location))
                .finish()
        }
    }
}
