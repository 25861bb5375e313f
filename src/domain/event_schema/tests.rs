use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::*;

fn compiled(schema: Value) -> EventSchema {
    EventSchema::compile(&schema, 1).expect("compiles")
}

fn invalid_message(schema: Value) -> String {
    match EventSchema::compile(&schema, 1) {
        Err(SchemaError::Invalid { message }) => message,
        other => panic!("expected invalid_schema for {schema}, got {other:?}"),
    }
}

#[test]
fn a_schema_without_dollar_schema_is_read_as_draft_2020_12() {
    // `prefixItems` is a 2020-12 keyword; draft 7 would ignore it.
    let schema = compiled(json!({"prefixItems": [{"type": "integer"}]}));
    assert!(schema.check(&json!([1])).is_ok());
    assert!(schema.check(&json!(["a"])).is_err());
}

#[test]
fn drafts_2019_09_and_7_are_accepted_and_others_refused() {
    for uri in [
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "http://json-schema.org/draft-07/schema#",
    ] {
        compiled(json!({"$schema": uri, "type": "object"}));
    }
    for uri in [
        "http://json-schema.org/draft-04/schema#",
        "http://json-schema.org/draft-06/schema#",
        "https://example.com/my-meta",
    ] {
        let message = invalid_message(json!({"$schema": uri}));
        assert!(message.contains("2020-12, 2019-09 or 7"), "{message}");
        assert!(message.contains(uri), "{message}");
    }
    assert!(invalid_message(json!({"$schema": 7})).contains("URI string"));
}

#[test]
fn a_schema_that_breaks_its_meta_schema_is_invalid_with_the_validators_message() {
    let message = invalid_message(json!({"type": "strnig"}));
    assert!(message.contains("strnig"), "{message}");
    let message = invalid_message(json!({"minLength": -1}));
    assert!(
        message.starts_with("the schema does not compile"),
        "{message}"
    );
}

#[test]
fn a_schema_that_is_neither_object_nor_boolean_is_invalid() {
    assert!(invalid_message(json!([1])).contains("an array"));
    compiled(json!(true));
}

#[test]
fn a_remote_ref_does_not_compile() {
    invalid_message(json!({"$ref": "https://example.com/other.json"}));
}

#[test]
fn a_schema_over_256_kib_is_too_large_and_exactly_256_kib_is_not() {
    let padding = |bytes: usize| {
        // {"description":"…"} is 17 bytes plus the text.
        json!({"description": "x".repeat(bytes - 18)})
    };
    let exact = padding(MAX_SCHEMA_BYTES);
    assert_eq!(compact_json_len(&exact), MAX_SCHEMA_BYTES);
    compiled(exact);
    assert_eq!(
        EventSchema::compile(&padding(MAX_SCHEMA_BYTES + 1), 1).err(),
        Some(SchemaError::TooLarge {
            size: MAX_SCHEMA_BYTES + 1
        })
    );
}

#[test]
fn a_failure_names_the_instance_path_keyword_and_version() {
    let schema = EventSchema::compile(
        &json!({"type": "object", "properties": {"items": {"type": "array",
            "items": {"type": "object", "required": ["sku"]}}}}),
        3,
    )
    .expect("compiles");
    let violation = schema
        .check(&json!({"items": [{"sku": "a"}, {"qty": 1}]}))
        .expect_err("fails");
    let SchemaViolation::Mismatch {
        instance_path,
        keyword,
        schema_version,
        ..
    } = &violation
    else {
        panic!("{violation:?}");
    };
    assert_eq!(instance_path, "/items/1");
    assert_eq!(keyword, "required");
    assert_eq!(*schema_version, 3);
    assert_eq!(violation.code(), ErrorCode::SchemaMismatch);
    assert!(violation.to_string().contains("`payload/items/1`"));
}

#[test]
fn the_hash_ignores_key_order() {
    assert_eq!(
        schema_hash(&json!({"a": 1, "b": {"c": 2, "d": 3}})),
        schema_hash(&serde_json::from_str(r#"{"b":{"d":3,"c":2},"a":1}"#).unwrap())
    );
    assert_ne!(schema_hash(&json!({"a": 1})), schema_hash(&json!({"a": 2})));
}

#[test]
fn the_catalog_checks_known_types_and_requires_schemas_only_when_asked() {
    let order = EventType::parse("shop.order.placed".into()).unwrap();
    let other = EventType::parse("shop.order.other".into()).unwrap();
    let schema = EventSchema::compile(&json!({"type": "object", "required": ["id"]}), 2).unwrap();
    let by_type = HashMap::from([(order.to_string(), Arc::new(schema))]);
    let lenient = SchemaCatalog::new(by_type.clone(), false);
    assert_eq!(lenient.check(&order, &json!({"id": 1})), Ok(Some(2)));
    assert_eq!(
        lenient.check(&order, &json!({})).unwrap_err().code(),
        ErrorCode::SchemaMismatch
    );
    assert_eq!(lenient.check(&other, &json!({})), Ok(None));
    let strict = SchemaCatalog::new(by_type, true);
    let refused = strict.check(&other, &json!({})).unwrap_err();
    assert_eq!(refused.code(), ErrorCode::SchemaRequired);
    assert!(refused.to_string().contains("shop.order.other"));
}

#[test]
fn a_shared_catalog_hands_out_what_was_stored_last() {
    let shared = SharedCatalog::empty();
    assert!(shared.load().is_empty());
    shared.store(SchemaCatalog::new(HashMap::new(), true));
    assert!(shared.load().requires_schemas());
}
