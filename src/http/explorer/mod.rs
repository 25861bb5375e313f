//! The Explorer (SPEC §8): the web UI, served at `/` from assets embedded in the binary (`assets/`, plain HTML,
//! CSS and JavaScript: nothing to build). No token is needed for the page and its assets (SPEC §10); the page asks
//! for one and sends it with every API call and as a `/ws` subprotocol.
//!
//! Assets are answered gzip-compressed when the browser accepts it, with an `ETag` (their SHA-256) so a reload
//! costs a `304`, and the page with a Content-Security-Policy that allows only same-origin scripts, styles and
//! connections.

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Compress;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

use super::ApiError;

/// The embedded files.
#[derive(RustEmbed)]
#[folder = "src/http/explorer/assets/"]
struct Assets;

/// The page's policy: its own scripts, styles and connections (`/ws` included) only, never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Registers `/` and `/explorer/{file}`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .wrap(Compress::default())
            .route(web::get().to(index)),
    )
    .service(
        web::resource("/explorer/{file}")
            .wrap(Compress::default())
            .route(web::get().to(asset)),
    );
}

/// `GET /`: the Explorer's page.
async fn index(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let mut response = serve(&request, "index.html")?;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

/// `GET /explorer/{file}`: one of the page's assets.
async fn asset(request: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&request, &file)
}

/// The embedded `name` with its type and `ETag`, or `304` when the browser holds it, or `404`.
fn serve(request: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    let file = Assets::get(name)
        .ok_or_else(|| ApiError::not_found(format!("no Explorer asset {name:?}")))?;
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cached = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if cached {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        // Revalidate every time: the ETag makes that a 304, and a new binary's assets are never stale.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if cached {
        return Ok(response.finish());
    }
    Ok(response
        .content_type(file.metadata.mimetype())
        .body(file.data.into_owned()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// The budget for everything the page loads, compressed.
    const BUDGET_BYTES: usize = 300 * 1024;

    #[test]
    fn every_asset_together_stays_within_the_compressed_budget() {
        let mut total = 0;
        for name in Assets::iter() {
            let file = Assets::get(&name).unwrap();
            let mut gzip =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gzip.write_all(&file.data).unwrap();
            total += gzip.finish().unwrap().len();
        }
        assert!(total > 0, "the assets are embedded");
        assert!(total < BUDGET_BYTES, "{total} bytes compressed");
    }
}
