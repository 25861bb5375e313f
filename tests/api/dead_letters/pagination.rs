//! Cursor pagination: every dead letter exactly once, filters kept across pages, bad cursors refused.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::{
    DATABASES, dead_letters, exactly, invalid_entries, list_ok, param, spawn, stream_ids,
    stream_ids_where, xadd_all,
};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn cursor_pagination_visits_every_dead_letter_exactly_once() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let all = dead_letters(&app, 7).await;
        let mut pages = Vec::new();
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;

        // Act
        loop {
            let query = match &cursor {
                Some(c) => format!("limit=3&{}", param("cursor", c)),
                None => "limit=3".to_owned(),
            };
            let body = list_ok(&app, &query).await;
            let page = &body["data"]["page"];
            pages.push((
                stream_ids(&body).len(),
                page["hasMore"].as_bool().unwrap(),
                page["nextCursor"].is_string(),
                page["limit"].clone(),
            ));
            seen.extend(stream_ids(&body));
            cursor = page["nextCursor"].as_str().map(str::to_owned);
            if cursor.is_none() || pages.len() > 5 {
                break;
            }
        }

        // Assert
        assert_eq!(
            pages,
            vec![
                (3, true, true, json!(3)),
                (3, true, true, json!(3)),
                (1, false, false, json!(3))
            ],
            "{db:?}: (letters, hasMore, nextCursor set, limit) per page"
        );
        assert_eq!(
            seen,
            stream_ids_where(&all, |_| true),
            "{db:?}: every letter once, in order"
        );
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_cursor_keeps_its_filters_when_paging_a_filtered_list() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        let entries = invalid_entries();
        xadd_all(&app, &entries).await;
        let all = exactly(&app, entries.len()).await;
        let filter = param("reason", "invalid_field");
        let first = list_ok(&app, &format!("{filter}&limit=2")).await;
        let cursor = first["data"]["page"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();

        // Act
        let second = list_ok(
            &app,
            &format!("{filter}&limit=2&{}", param("cursor", &cursor)),
        )
        .await;

        // Assert
        let mut seen = stream_ids(&first);
        seen.extend(stream_ids(&second));
        assert_eq!(
            seen,
            stream_ids_where(&all, |l| l["reason"] == "invalid_field"),
            "{db:?}"
        );
        assert_eq!(second["data"]["page"]["hasMore"], false);
        assert!(second["data"]["page"]["nextCursor"].is_null());
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_tampered_malformed_or_reused_cursor_is_rejected_as_invalid_cursor() {
    for db in DATABASES {
        // Arrange
        let app = spawn(db).await;
        dead_letters(&app, 4).await;
        let first = list_ok(&app, "limit=2").await;
        let cursor = first["data"]["page"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        let tampered: String = cursor
            .char_indices()
            .map(|(i, c)| match (i, c) {
                (3, 'A') => 'B',
                (3, _) => 'A',
                _ => c,
            })
            .collect();
        assert_ne!(tampered, cursor);
        let cases = [
            (
                "a tampered cursor",
                format!("limit=2&{}", param("cursor", &tampered)),
            ),
            (
                "a truncated cursor",
                format!("limit=2&{}", param("cursor", &cursor[..cursor.len() - 1])),
            ),
            (
                "a cursor without its checksum",
                format!(
                    "limit=2&{}",
                    param("cursor", cursor.split('.').next().unwrap())
                ),
            ),
            (
                "not a cursor",
                format!("limit=2&{}", param("cursor", "not-a-cursor")),
            ),
            (
                "a cursor with another reason",
                format!("limit=2&reason=invalid_field&{}", param("cursor", &cursor)),
            ),
            (
                "a cursor with another source",
                format!("limit=2&source=pager.api&{}", param("cursor", &cursor)),
            ),
            (
                "a cursor with a time bound",
                format!("limit=2&from=2020-01-01&{}", param("cursor", &cursor)),
            ),
        ];

        for (case, query) in cases {
            // Act
            let response = app.list_dead_letters(&query).await;

            // Assert
            assert_eq!(response.status(), 400, "{db:?}: {case}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(
                body["error"]["code"], "invalid_cursor",
                "{db:?}: {case}: {body}"
            );
        }
        // The untouched cursor with the same filters still works.
        let second = list_ok(&app, &format!("limit=2&{}", param("cursor", &cursor))).await;
        assert_eq!(stream_ids(&second).len(), 2, "{db:?}");
    }
}
