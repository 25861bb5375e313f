//! Who may do what: private views are invisible to others, shared ones read-only to everyone but the owner, and
//! every route needs `events:read`.

use reqwest::Method;
use serde_json::{Value, json};

use super::{ALICE, BOB, PUBLISHER, call, create, spawn};
use crate::helpers::DEPLOYMENTS;

/// Every route of one view, with a body where it takes one.
fn routes(slug: &str) -> Vec<(Method, String, Option<Value>)> {
    let one = format!("/admin/saved-views/{slug}");
    vec![
        (Method::GET, one.clone(), None),
        (
            Method::PATCH,
            one.clone(),
            Some(json!({"name": "mine now"})),
        ),
        (Method::DELETE, one.clone(), None),
        (Method::POST, format!("{one}/apply"), None),
        (Method::POST, format!("{one}/share"), None),
    ]
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn another_subjects_private_view_is_not_found_on_every_route() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        create(&app, ALICE, json!({"name": "Alice only"})).await;
        for (method, path, body) in routes("alice-only") {
            let (status, answer) = call(&app, method.clone(), &path, BOB, body).await;
            assert_eq!(status, 404, "{db:?}/{mode:?} {method} {path}: {answer}");
            assert_eq!(answer["error"]["code"], "not_found");
        }
        let (_, list) = call(&app, Method::GET, "/admin/saved-views", BOB, None).await;
        assert_eq!(list["data"]["savedViews"], json!([]));
        // Untouched by bob's attempts.
        let (status, view) = call(
            &app,
            Method::GET,
            "/admin/saved-views/alice-only",
            ALICE,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(view["data"]["name"], "Alice only");
        assert_eq!(view["data"]["appliedCount"], 0);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_shared_view_is_read_only_to_others_and_theirs_to_apply() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        create(
            &app,
            ALICE,
            json!({"name": "Team errors", "filters": {"severity": "error"}}),
        )
        .await;
        let (status, shared) = call(
            &app,
            Method::POST,
            "/admin/saved-views/team-errors/share",
            ALICE,
            None,
        )
        .await;
        assert_eq!(status, 200, "{shared}");
        assert_eq!(shared["data"]["visibility"], "shared");
        assert_eq!(shared["data"]["sharedCount"], 1);

        let (status, read) = call(
            &app,
            Method::GET,
            "/admin/saved-views/team-errors",
            BOB,
            None,
        )
        .await;
        assert_eq!(status, 200, "{db:?}/{mode:?}");
        assert_eq!(read["data"]["owner"]["subject"], "alice");
        let (_, list) = call(&app, Method::GET, "/admin/saved-views", BOB, None).await;
        assert_eq!(list["data"]["savedViews"][0]["slug"], "team-errors");

        for (method, path, body) in routes("team-errors") {
            let (status, answer) = call(&app, method.clone(), &path, BOB, body).await;
            let expected = if method == Method::GET || path.ends_with("/apply") {
                200
            } else {
                403
            };
            assert_eq!(
                status, expected,
                "{db:?}/{mode:?} {method} {path}: {answer}"
            );
            if expected == 403 {
                assert_eq!(answer["error"]["code"], "forbidden");
                assert_eq!(answer["error"]["details"]["owner"], "alice");
            }
        }
        let (_, after) = call(
            &app,
            Method::GET,
            "/admin/saved-views/team-errors",
            ALICE,
            None,
        )
        .await;
        let after = &after["data"];
        assert_eq!(after["name"], "Team errors", "bob's patch changed nothing");
        assert_eq!(
            (after["sharedCount"].clone(), after["appliedCount"].clone()),
            (json!(1), json!(1))
        );

        // The owner may take it private again; then bob no longer sees it.
        let (status, _) = call(
            &app,
            Method::PATCH,
            "/admin/saved-views/team-errors",
            ALICE,
            Some(json!({"visibility": "private"})),
        )
        .await;
        assert_eq!(status, 200);
        let (status, _) = call(
            &app,
            Method::GET,
            "/admin/saved-views/team-errors",
            BOB,
            None,
        )
        .await;
        assert_eq!(status, 404);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn saved_views_need_events_read() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        create(&app, ALICE, json!({"name": "v", "visibility": "shared"})).await;
        let mut every = routes("v");
        every.push((Method::GET, "/admin/saved-views".into(), None));
        every.push((
            Method::POST,
            "/admin/saved-views".into(),
            Some(json!({"name": "w"})),
        ));
        for (method, path, body) in every {
            let (status, answer) = call(&app, method.clone(), &path, PUBLISHER, body.clone()).await;
            assert_eq!(status, 403, "{db:?}/{mode:?} {method} {path}: {answer}");
            assert_eq!(answer["error"]["details"]["requiredScope"], "events:read");
            let (status, _) = call(&app, method.clone(), &path, "t-unknown", body).await;
            assert_eq!(status, 401, "{method} {path}");
        }
    }
}
