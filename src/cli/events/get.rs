//! `herald events get <ID>`: one stored event, as aligned fields for people or its `data` as one JSON line.

use std::io::Write;

use super::render::render_event;
use super::{Failure, GetArgs};
use crate::cli::client::Client;

/// Fetches the event and prints it.
pub(super) async fn run(args: &GetArgs) -> Result<(), Failure> {
    let client = Client::new(&args.server)?;
    let url = client.url(&["admin", "events", &args.id])?;
    let body = client
        .get(url, &[], Some(&format!("event {}", args.id)))
        .await?;
    let data = &body["data"];
    if !data["event"].is_object() {
        return Err(Failure::Unexpected {
            missing: "data.event object",
        });
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{data}")?;
    } else {
        out.write_all(render_event(&data["event"]).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
