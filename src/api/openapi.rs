//! The OpenAPI 3.1 document: assembled from the handlers' annotations, then
//! made as strict as the server (contract §15). A schema-driven client must
//! never send a request the document allows and the server refuses, nor find
//! a response the document does not describe.
//!
//! Two layers, so a new endpoint needs nothing here unless it brings a new
//! kind of value:
//! - per operation, its `#[utoipa::path]` annotation: the statuses its
//!   handler answers, its body and parameters;
//! - [`strict`], rules applied to every operation by what it is: path
//!   parameters by name ([`PATH_IDS`]), the errors and headers every route,
//!   every authenticated route and every JSON body can answer with
//!   ([`common_responses`]), and field constraints that follow the domain
//!   rules ([`constrain_schemas`], [`constrain_parameters`]), with the
//!   domain's own limits.

use crate::config::Config;
use crate::domain::connector::{MAX_ALLOWED_EMAILS, MAX_DESCRIPTION_CHARS, MAX_LABEL_CHARS};
use crate::domain::document::{MAX_FILE_NAME_CHARS, MAX_TAGS_PER_REQUEST, MAX_TAG_NAME_CHARS};
use crate::domain::RequestOrigin;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Inlet Content API",
        description = "Connectors that bring research into a private, permissioned document store. \
                       Compatible with the Bigdata Content API.",
    ),
    modifiers(&ApiKeyAuth),
    components(schemas(super::error::ErrorBody)),
    tags(
        (name = "Connectors", description = "Email inboxes and research-portal syncs"),
        (name = "Documents", description = "The private document store"),
        (name = "Sync jobs", description = "Research-portal syncs of investment_research connectors"),
        (name = "Tags", description = "Per-user labels on documents"),
        (name = "Operations", description = "Health and service documents"),
    )
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "ApiKeyAuth",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "X-API-KEY",
                    "Your API key, created with `inlet admin create-key`.",
                ))),
            );
    }
}

/// A hyphenated UUID, any case (`params::parse_hyphenated_uuid`).
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/// 32 uppercase hex characters (`DocumentId::parse`).
pub const DOCUMENT_ID_PATTERN: &str = "^[0-9A-F]{32}$";
/// What Rust's `str::trim` removes (Unicode `White_Space`), as a class body.
const WHITE_SPACE: &str =
    "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/// Control characters (`char::is_control`: Unicode `Cc`), as a class body.
const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";
/// A connector list cursor (`connectors::encode_cursor`).
pub const CURSOR_PATTERN: &str =
    "^(0|[1-9][0-9]{0,17})\\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// An address `email_address::parse` accepts: a dot-atom local part and a
/// dotted domain of letter-digit-hyphen labels. (The 64-character bound on
/// the local part is checked too, but a pattern cannot say it.)
const EMAIL_PATTERN: &str = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";
/// ISO 8601 without an offset, read as UTC (`Timestamp::parse`). Days stop
/// at 28 so that every string the pattern allows is a real date; the
/// server takes every real one.
const NAIVE_DATE_TIME_PATTERN: &str = "^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?$";

/// Path parameters by name, wherever they appear.
const PATH_IDS: &[(&str, &str, &str)] = &[
    (
        "connector_id",
        UUID_PATTERN,
        "019a9612-bfad-758c-884e-37dd8c6ad2cb",
    ),
    (
        "sync_job_id",
        UUID_PATTERN,
        "019a9612-c0de-7c3a-9a52-0c3b2d1e4f5a",
    ),
    (
        "id",
        DOCUMENT_ID_PATTERN,
        "019A9612BFAD758C884E37DD8C6AD2CB",
    ),
];

/// Text that must hold something besides white space (`Label::parse`,
/// `parse_research_login`).
fn not_blank(max_chars: Option<usize>) -> Value {
    let mut s = json!({"type": "string", "minLength": 1, "pattern": format!("[^{WHITE_SPACE}]")});
    if let Some(max) = max_chars {
        s["maxLength"] = json!(max);
    }
    s
}

/// A display name: no control characters, something besides white space
/// (`parse_file_name`, `parse_tag_name`).
fn display_name(max_chars: usize) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": max_chars,
        "pattern": format!("^[^{CONTROL}]*[^{CONTROL}{WHITE_SPACE}][^{CONTROL}]*$"),
    })
}

/// What `Timestamp::parse` reads: RFC 3339, a date, or a naive date-time.
fn timestamp_input() -> Value {
    json!({
        "description": "An RFC 3339 date-time, a YYYY-MM-DD date (midnight UTC), or an ISO 8601 \
                        date-time without an offset (read as UTC; every real date is accepted)",
        "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "string", "pattern": NAIVE_DATE_TIME_PATTERN},
    ]})
}

fn nullable(schema: Value) -> Value {
    json!({"oneOf": [schema, {"type": "null"}]})
}

fn uuid_schema() -> Value {
    json!({"type": "string", "format": "uuid", "pattern": UUID_PATTERN})
}

/// The document as served: the annotations made strict.
pub fn document(doc: utoipa::openapi::OpenApi, config: &Config) -> Value {
    let mut doc = serde_json::to_value(doc).expect("the OpenAPI document serializes");
    constrain_schemas(&mut doc, config);
    let paths = doc["paths"].as_object_mut().expect("paths");
    for (path, item) in paths.iter_mut() {
        for op in item.as_object_mut().expect("path item").values_mut() {
            constrain_parameters(path, op);
            common_responses(op);
        }
    }
    add_links(&mut doc);
    doc
}

fn schema<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    let s = &mut doc["components"]["schemas"][name];
    assert!(s.is_object(), "schema {name} is not in the document");
    s
}

fn property<'a>(doc: &'a mut Value, name: &str, field: &str) -> &'a mut Value {
    let p = &mut schema(doc, name)["properties"][field];
    assert!(p.is_object(), "{name}.{field} is not in the document");
    p
}

/// Field rules of the request bodies, as the domain checks them.
fn constrain_schemas(doc: &mut Value, config: &Config) {
    let label = not_blank(Some(MAX_LABEL_CHARS));
    let description = json!({"type": ["string", "null"], "maxLength": MAX_DESCRIPTION_CHARS});
    let allowed_emails = json!({
        "type": "array",
        "maxItems": MAX_ALLOWED_EMAILS,
        "items": {
            "type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN,
            "description": "A dot-atom local part of at most 64 characters, @, a dotted domain; \
                            duplicates are folded case-insensitively, surrounding white space trimmed",
        },
    });

    // Create: the config's shape follows `type`.
    *property(doc, "EmailConfigInput", "allowed_emails") = allowed_emails.clone();
    *property(doc, "ResearchConfigInput", "user_id") = not_blank(None);
    *property(doc, "ResearchConfigInput", "user_password") =
        json!({"type": "string", "minLength": 1});
    // Only a configured portal's name; omitted or null: the default portal.
    let mut portals: Vec<Value> = config.portals.iter().map(|p| json!(p.name)).collect();
    portals.push(Value::Null);
    *property(doc, "ResearchConfigInput", "portal") = json!({"enum": portals});
    let create = schema(doc, "ConnectorCreate").clone();
    let variant = |kind: &str, config_schema: &str| {
        let mut v = create.clone();
        v["properties"]["type"] = json!({"type": "string", "const": kind});
        v["properties"]["label"] = label.clone();
        v["properties"]["description"] = description.clone();
        v["properties"]["config"] =
            json!({"$ref": format!("#/components/schemas/{config_schema}")});
        v.as_object_mut().unwrap().remove("description");
        v
    };
    let schemas = doc["components"]["schemas"].as_object_mut().unwrap();
    schemas.insert(
        "EmailConnectorCreate".into(),
        variant("email", "EmailConfigInput"),
    );
    let mut one_of = vec![json!({"$ref": "#/components/schemas/EmailConnectorCreate"})];
    let mut mapping = Map::new();
    mapping.insert(
        "email".into(),
        json!("#/components/schemas/EmailConnectorCreate"),
    );
    // Without a configured portal every research connector is refused.
    if !config.portals.is_empty() {
        schemas.insert(
            "ResearchConnectorCreate".into(),
            variant("investment_research", "ResearchConfigInput"),
        );
        one_of.push(json!({"$ref": "#/components/schemas/ResearchConnectorCreate"}));
        mapping.insert(
            "investment_research".into(),
            json!("#/components/schemas/ResearchConnectorCreate"),
        );
    }
    schemas.insert(
        "ConnectorCreate".into(),
        json!({
            "description": create["description"],
            "oneOf": one_of,
            "discriminator": {"propertyName": "type", "mapping": mapping},
        }),
    );
    schemas.remove("ConnectorConfigInput");
    // Validate answers every JSON object with `200` and its problems, so its
    // body is any object; the fields are described, not constrained.
    let fields = |names: &[&str]| -> Map<String, Value> {
        names
            .iter()
            .map(|n| {
                (
                    (*n).to_string(),
                    json!({"description": "As in ConnectorCreate"}),
                )
            })
            .collect()
    };
    let mut validate = fields(&["type", "label", "description", "share_with_org", "config"]);
    validate.insert(
        "test_connection".into(),
        json!({"description": "`true`: also log in to the portal (investment_research); \
                               anything but a boolean or null is reported as a problem"}),
    );
    schemas.insert(
        "ConnectorValidate".into(),
        json!({
            "type": "object",
            "description": "A ConnectorCreate body, and optionally `test_connection`. \
                            Any JSON object is answered `200` with every problem it has.",
            "properties": validate,
        }),
    );

    // Update: unknown fields are refused; the Connector's read-only fields
    // may be sent back, equal to the current values.
    *property(doc, "EmailConfigUpdate", "allowed_emails") = allowed_emails;
    for generated in ["email_hash", "email"] {
        let p = property(doc, "EmailConfigUpdate", generated);
        p["readOnly"] = json!(true);
        p["description"] = json!("May be sent back; must equal the current value");
    }
    let view = schema(doc, "ConnectorView")["properties"].clone();
    let update = schema(doc, "ConnectorUpdate");
    update["additionalProperties"] = json!(false);
    update["properties"]["label"] = label;
    update["properties"]["description"] = description;
    for field in ["type"]
        .iter()
        .chain(super::connectors::READ_ONLY_FIELDS.iter())
    {
        let mut p = view[*field].clone();
        p["readOnly"] = json!(true);
        update["properties"][*field] = p;
    }

    // Documents and tags.
    *property(doc, "DocumentCreate", "file_name") = display_name(MAX_FILE_NAME_CHARS);
    *property(doc, "DocumentCreate", "published_ts") = nullable(timestamp_input());
    *property(doc, "DocumentCreate", "tags") = nullable(json!({
        "type": "array",
        "maxItems": MAX_TAGS_PER_REQUEST,
        "items": display_name(MAX_TAG_NAME_CHARS),
    }));
    *property(doc, "DocumentPatch", "tags") =
        nullable(json!({"type": "array", "items": uuid_schema()}));
    *property(doc, "TagCreate", "tag_name") = display_name(MAX_TAG_NAME_CHARS);
    let date_limit = property(doc, "SyncRequest", "date_limit");
    date_limit["format"] = json!("date");
}

/// Query and path parameters: the values `params::Query` and the path
/// extractors accept.
fn constrain_parameters(path: &str, op: &mut Value) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    // Aliases are accepted but not listed: given with their name they
    // would contradict it (`400`), which a schema cannot say.
    params.retain(|p| !matches!(p["name"].as_str(), Some("hard" | "connector")));
    for p in params.iter_mut() {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let schema = match (p["in"].as_str(), name.as_str()) {
            (Some("path"), name) => {
                let (_, pattern, example) = PATH_IDS
                    .iter()
                    .find(|(n, ..)| *n == name)
                    .unwrap_or_else(|| panic!("path parameter {name} of {path} has no rule"));
                p["example"] = json!(example);
                json!({"type": "string", "pattern": pattern})
            }
            (_, "type") => json!({"type": "string", "enum": ["email", "investment_research"]}),
            (_, "ownership") => json!({"type": "string", "enum": ["all", "owned", "shared"]}),
            (_, "origin") => json!({"type": "string", "enum": RequestOrigin::ALL}),
            (_, "sort_by") => json!({"type": "string", "enum": super::documents::SORT_BY}),
            (_, "sort_order") => json!({"type": "string", "enum": ["asc", "desc"]}),
            (_, "from_date") => timestamp_input(),
            // An event cursor is the last event's id (`events::decode_cursor`).
            (_, "cursor") if path.ends_with("/events") => uuid_schema(),
            (_, "cursor") => json!({"type": "string", "pattern": CURSOR_PATTERN}),
            (_, "connector_id") => uuid_schema(),
            // The search syntax (contract 11) is more than a pattern can
            // say; the length bound and a visible character are stated.
            (_, "q") => json!({
                "type": "string",
                "minLength": 1,
                "maxLength": crate::domain::search::query::MAX_QUERY_CHARS,
                "pattern": "\\S",
            }),
            (_, "owner" | "file_name" | "rp_collection_id") => {
                json!({"type": "string", "minLength": 1})
            }
            (_, "tags") => {
                p["explode"] = json!(true);
                p["style"] = json!("form");
                json!({"type": "array", "items": {"type": "string", "minLength": 1}})
            }
            _ => continue,
        };
        p["schema"] = schema;
    }
}

fn header(description: &str, schema: Value, required: bool) -> Value {
    json!({"description": description, "required": required, "schema": schema})
}

/// Errors and headers that come from the layers every request passes, not
/// from one handler: added to every operation they apply to.
fn common_responses(op: &mut Value) {
    let authenticated = op.get("security").is_some();
    let json_body = op
        .pointer("/requestBody/content/application~1json")
        .is_some();
    let responses = op["responses"].as_object_mut().expect("responses");
    let mut add = |status: &str, description: &str| {
        responses.entry(status).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
            })
        });
    };
    add(
        "400",
        "Malformed request (a bad Host header, a query value that is not UTF-8)",
    );
    add("431", "Request headers too large");
    add(
        "500",
        "Internal error; the details are in the log under the request id",
    );
    if authenticated {
        add("401", "Missing, unknown, revoked or repeated X-API-KEY");
        add(
            "408",
            "The request took longer than the server's request timeout",
        );
        add(
            "429",
            "Rate limit exceeded (per key; failed authentication per client address)",
        );
    }
    if json_body {
        add("400", "Invalid body; the message names the field");
        add("413", "Body larger than the configured limit");
        add("415", "Body is not JSON");
    }
    for (status, response) in responses.iter_mut() {
        let success = status.starts_with('2');
        let storage = response["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("STORAGE_UNAVAILABLE"));
        let headers = response
            .as_object_mut()
            .expect("response")
            .entry("headers")
            .or_insert_with(|| json!({}));
        headers["X-Request-Id"] = header(
            "The caller's own id when it is 1–128 characters of [A-Za-z0-9._-], else a new UUIDv7",
            json!({"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[A-Za-z0-9._-]+$"}),
            true,
        );
        if authenticated && status != "401" {
            // Not on a 401, a 429 of failed authentication, or an error
            // from before authentication (408, 431, 500).
            let required = success;
            let count = json!({"type": "integer", "minimum": 0});
            headers["X-RateLimit-Limit"] =
                header("Requests allowed per minute", count.clone(), required);
            headers["X-RateLimit-Remaining"] =
                header("Requests that can be made now", count.clone(), required);
            headers["X-RateLimit-Reset"] = header(
                "Whole seconds until Remaining is back to Limit",
                count,
                required,
            );
        }
        if status == "429" {
            headers["Retry-After"] = header(
                "Whole seconds until one more request is allowed",
                json!({"type": "integer", "minimum": 0}),
                true,
            );
        }
        if storage {
            headers["Retry-After"] = header(
                "Whole seconds to wait before trying again (STORAGE_UNAVAILABLE)",
                json!({"type": "integer", "minimum": 0}),
                true,
            );
        }
    }
}

/// OpenAPI links from what creates a resource to what reads, changes and
/// deletes it, for clients and for stateful testing.
fn add_links(doc: &mut Value) {
    let connector = json!({"connector_id": "$response.body#/connector_id"});
    let sync_job = json!({"sync_job_id": "$response.body#/sync_job_id"});
    let document = json!({"id": "$response.body#/id"});
    let links: &[(&str, &str, &str, &[&str], &Value)] = &[
        (
            "/contents/v1/connectors",
            "post",
            "201",
            &[
                "get_connector",
                "update_connector",
                "delete_connector",
                "trigger_sync",
                "list_sync_jobs",
            ],
            &connector,
        ),
        (
            "/contents/v1/connectors/{connector_id}/sync",
            "post",
            "202",
            &["get_sync_job", "cancel_sync_job"],
            &sync_job,
        ),
        (
            "/contents/v1/documents",
            "post",
            "200",
            &[
                "get_document",
                "patch_document",
                "delete_document",
                "original_url",
            ],
            &document,
        ),
    ];
    for (path, method, status, targets, parameters) in links {
        let response = &mut doc["paths"][*path][*method]["responses"][*status];
        assert!(
            response.is_object(),
            "{method} {path} {status} is not documented"
        );
        for target in *targets {
            response["links"][*target] = json!({"operationId": target, "parameters": parameters});
        }
    }
}
