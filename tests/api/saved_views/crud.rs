//! Create, read, list, patch and delete; slugs from names with numbered suffixes on collision.

use reqwest::Method;
use serde_json::{Value, json};

use super::{ALICE, BOB, call, create, spawn};
use crate::helpers::DEPLOYMENTS;

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn a_view_is_created_read_renamed_and_deleted_by_its_owner() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        let view = create(
            &app,
            ALICE,
            json!({"name": "Failed billing", "description": "On-call view",
                   "filters": {"type": "billing.*.failed", "severity": ["error", "critical"],
                               "from": "2026-11-22", "jsonPath": "$.amount > 10"}}),
        )
        .await;
        assert_eq!(view["slug"], "failed-billing", "{db:?}/{mode:?}");
        assert_eq!(view["name"], "Failed billing");
        assert_eq!(view["description"], "On-call view");
        assert_eq!(view["visibility"], "private");
        assert_eq!(view["owner"], json!({"subject": "alice"}));
        assert_eq!(
            (view["appliedCount"].clone(), view["sharedCount"].clone()),
            (json!(0), json!(0))
        );
        assert_eq!(view["lastAppliedAt"], Value::Null);
        assert_eq!(
            view["filters"],
            json!({"type": "billing.*.failed", "source": null, "correlationId": null,
                   "severity": ["error", "critical"], "from": "2026-11-22T00:00:00.000Z", "to": null,
                   "jsonPath": "$.amount > 10"})
        );
        assert_eq!(view["analytics"]["windowSeconds"], 900);

        let (status, got) = call(
            &app,
            Method::GET,
            "/admin/saved-views/failed-billing",
            ALICE,
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(got["data"]["filters"], view["filters"]);
        assert_eq!(got["data"]["createdAt"], view["createdAt"]);

        let (status, patched) = call(
            &app,
            Method::PATCH,
            "/admin/saved-views/failed-billing",
            ALICE,
            Some(json!({"name": "Billing failures", "description": "", "filters": {"source": "billing.api"}})),
        )
        .await;
        assert_eq!(status, 200, "{patched}");
        let patched = &patched["data"];
        assert_eq!(patched["slug"], "failed-billing", "a rename keeps the slug");
        assert_eq!(patched["name"], "Billing failures");
        assert_eq!(patched["description"], Value::Null);
        assert_eq!(patched["filters"]["source"], "billing.api");
        assert_eq!(
            patched["filters"]["type"],
            Value::Null,
            "filters are replaced whole"
        );

        let (status, body) = call(
            &app,
            Method::DELETE,
            "/admin/saved-views/failed-billing",
            ALICE,
            None,
        )
        .await;
        assert_eq!((status, body), (204, Value::Null));
        let (status, body) = call(
            &app,
            Method::GET,
            "/admin/saved-views/failed-billing",
            ALICE,
            None,
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(body["error"]["code"], "not_found");
        let (status, _) = call(
            &app,
            Method::DELETE,
            "/admin/saved-views/failed-billing",
            ALICE,
            None,
        )
        .await;
        assert_eq!(status, 404);
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn colliding_names_get_numbered_slugs_and_odd_names_still_make_one() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        let mut slugs = Vec::new();
        for (token, name) in [
            (ALICE, "Errors"),
            (BOB, "errors!"),
            (ALICE, "  ERRORS  "),
            (ALICE, "Ops / On-call: 24x7"),
            (ALICE, "!!!"),
        ] {
            slugs.push(create(&app, token, json!({ "name": name })).await["slug"].clone());
        }
        assert_eq!(
            slugs,
            [
                json!("errors"),
                json!("errors-2"),
                json!("errors-3"),
                json!("ops-on-call-24x7"),
                json!("view")
            ],
            "{db:?}/{mode:?}"
        );
        let long = create(&app, ALICE, json!({ "name": "x".repeat(120) })).await;
        assert_eq!(long["slug"].as_str().map(str::len), Some(64));
        let again = create(&app, ALICE, json!({ "name": "x".repeat(120) })).await;
        assert_eq!(again["slug"], format!("{}-2", "x".repeat(62)));
    }
}

#[actix_rt::test(system = "crate::helpers::TestSystem")]
async fn the_list_holds_own_and_shared_views_newest_first_by_cursor() {
    for (db, mode) in DEPLOYMENTS {
        let app = spawn(db, mode).await;
        for name in ["a1", "a2", "a3"] {
            create(&app, ALICE, json!({ "name": name })).await;
        }
        create(&app, BOB, json!({ "name": "b-private" })).await;
        create(
            &app,
            BOB,
            json!({ "name": "b-shared", "visibility": "shared" }),
        )
        .await;

        let (status, first) =
            call(&app, Method::GET, "/admin/saved-views?limit=2", ALICE, None).await;
        assert_eq!(status, 200, "{first}");
        let names = |page: &Value| -> Vec<String> {
            page["data"]["savedViews"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names(&first), ["b-shared", "a3"], "{db:?}/{mode:?}");
        assert_eq!(first["data"]["page"]["hasMore"], true);
        assert_eq!(first["data"]["savedViews"][0]["analytics"], Value::Null);
        let cursor = first["data"]["page"]["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();
        let (_, second) = call(
            &app,
            Method::GET,
            &format!("/admin/saved-views?limit=2&cursor={cursor}"),
            ALICE,
            None,
        )
        .await;
        assert_eq!(names(&second), ["a2", "a1"]);
        assert_eq!(
            second["data"]["page"],
            json!({"nextCursor": null, "hasMore": false, "limit": 2})
        );

        let (_, bobs) = call(&app, Method::GET, "/admin/saved-views", BOB, None).await;
        assert_eq!(names(&bobs), ["b-shared", "b-private"]);

        for bad in ["limit=0", "cursor=nonsense", "owner=bob"] {
            let (status, body) = call(
                &app,
                Method::GET,
                &format!("/admin/saved-views?{bad}"),
                ALICE,
                None,
            )
            .await;
            assert_eq!(status, 400, "{bad}: {body}");
        }
    }
}
