//! Reading sources: `GET /admin/sources` and its paging, a source's history, and the failures it is charged with.

use serde_json::{Value, json};

use crate::helpers::{Db, Mode, TestEnv, spawn_app};

use super::{data, event, view_when};

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_source_history_needs_a_valid_source_and_refuses_a_cursor_of_another_source() {
    let app = spawn_app(Db::Sqlite, Mode::Inline).await;
    app.pause_source(&json!({ "source": "a.api", "reason": "r1" }))
        .await;
    app.pause_source(&json!({ "source": "a.api", "reason": "r2" }))
        .await;
    let page: Value = app
        .source_history("source=a.api&limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = page["data"]["page"]["nextCursor"]
        .as_str()
        .expect("a second page")
        .to_owned();

    for (query, parameter) in [
        ("", "source"),
        ("source=", "source"),
        ("source=a%20b", "source"),
        ("source=a.api&limit=0", "limit"),
        ("source=a.api&since=1", "since"),
    ] {
        let response = app.source_history(query).await;
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["details"]["parameter"], parameter,
            "{query}: {body}"
        );
    }
    let reused = app
        .source_history(&format!("source=b.api&cursor={cursor}"))
        .await;
    assert_eq!(reused.status(), 400);
    let body: Value = reused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_cursor", "{body}");
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_source_list_pages_by_name_and_refuses_bad_parameters() {
    // Arrange
    let app = TestEnv::new(Db::Sqlite, Mode::Inline).await.spawn().await;
    for source in ["c.three", "a.one", "b.two"] {
        data(
            app.pause_source(&json!({ "source": source, "reason": "r" }))
                .await,
        )
        .await;
    }

    // Act
    let first = data(app.list_sources("limit=2").await).await;
    let cursor = first["page"]["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = data(app.list_sources(&format!("limit=2&cursor={cursor}")).await).await;

    // Assert
    let names = |page: &Value| -> Vec<String> {
        page["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["source"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["a.one", "b.two"]);
    assert_eq!(first["page"]["hasMore"], true);
    assert_eq!(names(&second), ["c.three"]);
    assert!(second["page"]["nextCursor"].is_null());
    for (query, code) in [
        ("limit=0", "invalid_parameter"),
        ("limit=201", "invalid_parameter"),
        ("cursor=nonsense", "invalid_cursor"),
        ("source=a.one", "invalid_parameter"),
    ] {
        let response = app.list_sources(query).await;
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{query}");
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn dead_letters_count_as_failures_of_their_source() {
    for db in [Db::Sqlite, Db::Postgres] {
        // Arrange
        let app = TestEnv::new(db, Mode::Redis).await.spawn().await;

        // Act: two entries that cannot become events, one valid, and one whose source is itself invalid.
        app.xadd_envelope(r#"{"type":"nodots","source":"broken.api"}"#)
            .await;
        app.xadd_envelope(r#"{"type":"a.b","source":"broken.api","extra":1}"#)
            .await;
        app.xadd_envelope(&event("fine-1", "broken.api").to_string())
            .await;
        app.xadd_envelope(r#"{"type":"nodots","source":"not a source"}"#)
            .await;

        // Assert
        let view = view_when(&app, "broken.api", "2 failures", |v| {
            v["failures"] == 2 && v["total"] == 1
        })
        .await;
        assert_eq!(view["throttled"], 0, "{db:?}: {view}");
        app.dead_letters_eventually(3).await;
        assert!(app.source_view("not a source").await.is_none());
        app.delete_stream().await;
    }
}
