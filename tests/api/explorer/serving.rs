//! The Explorer's page and assets over HTTP: served without a token on every deployment (SPEC §10), with their
//! types, a Content-Security-Policy, an ETag that turns a reload into a `304`, and gzip (the size budget over every
//! asset is a unit test beside the embedding).

use std::io::Read;

use reqwest::header;

use crate::helpers::{DEPLOYMENTS, TestEnv, token_registry};
use herald::auth::AccessPolicy;

/// The asset paths `text` refers to: `/explorer/…` in the page, `./….js` imports in a module.
fn referenced(text: &str) -> Vec<String> {
    let page = regex::Regex::new(r#""(/explorer/[a-z-]+\.(?:js|css))""#).unwrap();
    let module = regex::Regex::new(r#"from '\./([a-z-]+\.js)'"#).unwrap();
    page.captures_iter(text)
        .map(|c| c[1].to_owned())
        .chain(
            module
                .captures_iter(text)
                .map(|c| format!("/explorer/{}", &c[1])),
        )
        .collect()
}

/// The type an asset is served with.
fn kind(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("js") => "javascript",
        Some("css") => "text/css",
        _ => "text/html",
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_page_and_its_assets_are_served_without_a_token_compressed_and_cacheable() {
    for (db, mode) in DEPLOYMENTS {
        // Tokens are required for the API, not for the page.
        let env = TestEnv::new(db, mode).await;
        let app = env
            .spawn_with(AccessPolicy::Tokens(token_registry()), None)
            .await;
        let client = reqwest::Client::builder().no_gzip().build().unwrap();
        // The page, then everything it and its modules refer to, each once.
        let mut queue = vec!["/".to_owned()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let url = format!("{}{path}", app.address);
            let response = client
                .get(&url)
                .header(header::ACCEPT_ENCODING, "gzip")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{db:?}/{mode:?} {path}");
            let headers = response.headers().clone();
            let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
            assert!(content_type.contains(kind(&path)), "{path}: {content_type}");
            assert_eq!(headers[header::CONTENT_ENCODING], "gzip", "{path}");
            let etag = headers[header::ETAG].to_str().unwrap().to_owned();
            let body = response.bytes().await.unwrap();
            let mut text = String::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_string(&mut text)
                .unwrap();
            assert!(!text.is_empty(), "{path}");
            queue.extend(referenced(&text));
            if path == "/" {
                let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
                assert!(csp.contains("script-src 'self'"), "{csp}");
                assert!(text.contains("/explorer/app.js") && text.contains("/explorer/app.css"));
            }
            let again = client
                .get(&url)
                .header(header::IF_NONE_MATCH, &etag)
                .send()
                .await
                .unwrap();
            assert_eq!(again.status(), 304, "{path}: a reload revalidates to 304");
        }
        assert!(
            seen.len() > 3 && seen.contains("/explorer/live.js"),
            "the page's modules were followed: {seen:?}"
        );
        let missing = client
            .get(format!("{}/explorer/nope.js", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let body: serde_json::Value = missing.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{body}");
        let api = client
            .get(format!("{}/admin/events", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status(), 401, "the API still needs a token");
    }
}
