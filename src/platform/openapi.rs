//! The base OpenAPI document: info, the bearer security scheme, shared schemas, and one tag
//! per enabled domain. Paths come from the routers themselves (utoipa-axum).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::{Modify, OpenApi};

use crate::platform::http::error::PROBLEM_JSON;
use crate::platform::http::UNLIMITED_PATHS;
use crate::platform::http::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Agora",
        description = "A self-hosted backend for a small business: accounts, shop, mail, \
                       notifications and locations. Errors are `application/problem+json` (RFC 9457).",
    ),
    components(schemas(Problem, FieldError)),
    tags((name = "platform", description = "Health, readiness, metrics and build information")),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// One tag per domain of this build, after the platform's.
pub fn add_domain_tags(
    doc: &mut utoipa::openapi::OpenApi,
    domains: &[crate::platform::DomainInfo],
) {
    let tags = doc.tags.get_or_insert_with(Vec::new);
    for domain in domains {
        tags.push(
            TagBuilder::new()
                .name(domain.name)
                .description(Some(domain.description))
                .build(),
        );
    }
}

/// The schema of a string that takes one of `values`: for fields and parameters kept as
/// strings in Rust (validated by hand, with a message naming the field) whose values the
/// document should still list.
pub fn string_enum<'a>(
    values: impl IntoIterator<Item = &'a str>,
    description: &str,
) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .build()
}

/// Completes the document the routes describe with what the platform adds to every route,
/// so SDK generators and fuzzers see every answer the server can give:
/// - errors as `application/problem+json` with the `Problem` schema;
/// - 400 (malformed JSON, unparsable parameter) and 422 (out of range) where there is a body
///   or parameters, 413 and 415 where there is a body, 401 and 403 on secured routes, 429 (rate limit, with `Retry-After`) on all
///   but the probes, 500 and 503 (timeout) everywhere;
/// - list pages that refer to their item schema instead of an inline copy;
/// - free-form objects marked as maps (`additionalProperties`);
/// - links from each `201 Created` to the operations on the created resource (`/x/{id}...`
///   with the body's `id`), so stateful clients and fuzzers can follow them;
/// - a relative `servers` entry, so clients call whichever host served the document.
///
/// The result stays JSON: utoipa's typed `Link` would write `operation_id` where OpenAPI
/// says `operationId`.
pub fn complete(doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut value = serde_json::to_value(&doc).expect("the document serialises");
    if let Some(paths) = value["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for (method, op) in item.iter_mut() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    complete_operation(path, op);
                }
            }
        }
    }
    if let Some(paths) = value["paths"].as_object_mut() {
        link_created_resources(paths);
    }
    if let Some(schemas) = value["components"]["schemas"].as_object_mut() {
        refer_page_items(schemas);
        for schema in schemas.values_mut() {
            mark_maps(schema);
        }
    }
    value["servers"] =
        serde_json::json!([{ "url": "/", "description": "The server that serves this document" }]);
    value
}

fn problem(description: &str) -> serde_json::Value {
    let mut content = serde_json::Map::new();
    content.insert(
        PROBLEM_JSON.into(),
        serde_json::json!({ "schema": { "$ref": "#/components/schemas/Problem" } }),
    );
    serde_json::json!({ "description": description, "content": content })
}

/// Documents `status` unless the route already does.
fn add(responses: &mut serde_json::Map<String, serde_json::Value>, status: &str, why: &str) {
    responses.entry(status).or_insert_with(|| problem(why));
}

fn complete_operation(path: &str, op: &mut serde_json::Value) {
    let secured = op.get("security").is_some_and(|s| {
        s.as_array().is_some_and(|list| {
            list.iter()
                .any(|r| r.as_object().is_some_and(|o| !o.is_empty()))
        })
    });
    let has_body = op.get("requestBody").is_some();
    let has_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
    dedupe_parameters(op);
    let Some(responses) = op["responses"].as_object_mut() else {
        return;
    };

    // Every error the handler documents is a problem.
    for (status, response) in responses.iter_mut() {
        if status.starts_with('4') || status.starts_with('5') {
            let description = response["description"].as_str().unwrap_or("").to_string();
            *response = problem(&description);
        }
    }
    if has_body || has_params {
        add(
            responses,
            "400",
            "Malformed JSON, or a path or query parameter that does not parse",
        );
    }
    if secured {
        add(
            responses,
            "401",
            "No bearer token, or one that is invalid, expired or revoked",
        );
        add(responses, "403", "The account may not do this");
    }
    if has_body {
        add(
            responses,
            "413",
            "The body is larger than `server.body_limit_bytes`",
        );
        add(
            responses,
            "415",
            "The body is not of the documented content type",
        );
    }
    if has_body || has_params {
        add(responses, "422", "The body or a parameter is of the wrong shape or out of range; `errors` names the fields");
    }
    // The rate limit's exemptions are the only operations without a 429.
    if !UNLIMITED_PATHS.contains(&path) {
        add(
            responses,
            "429",
            "Too many requests from this client; see `Retry-After`",
        );
        if let Some(limited) = responses.get_mut("429") {
            limited["headers"] = serde_json::json!({
                "Retry-After": {
                    "description": "Seconds until a request will be accepted again",
                    "schema": { "type": "integer", "minimum": 1 }
                }
            });
        }
    }
    add(
        responses,
        "500",
        "An unexpected error; the log has it under the request id",
    );
    add(
        responses,
        "503",
        "The request took longer than `server.request_timeout_secs`, or a dependency is down",
    );
}

/// A parameter named both by a handler's `IntoParams` and by the route's path template comes
/// twice: keep the first (the documented one). A path parameter is always required.
fn dedupe_parameters(op: &mut serde_json::Value) {
    // `get_mut`, not `op["parameters"]`: indexing would add `"parameters": null`.
    let Some(parameters) = op.get_mut("parameters").and_then(|p| p.as_array_mut()) else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    parameters.retain(|p| seen.insert((p["in"].to_string(), p["name"].to_string())));
    for parameter in parameters.iter_mut().filter(|p| p["in"] == "path") {
        parameter["required"] = serde_json::Value::Bool(true);
    }
}

/// `POST /addresses` answers 201 with the address: link it to `GET /addresses/{id}`, `PUT`,
/// `DELETE` and any `/addresses/{id}/...` operation, the `id` taken from the body.
fn link_created_resources(paths: &mut serde_json::Map<String, serde_json::Value>) {
    let mut links: Vec<(String, String, serde_json::Value)> = Vec::new();
    for (path, item) in paths.iter() {
        if item["post"]["responses"].get("201").is_none() {
            continue;
        }
        let prefix = format!("{path}/{{id}}");
        for (other, other_item) in paths.iter() {
            let on_created = other == &prefix || other.starts_with(&format!("{prefix}/"));
            if !on_created || other.matches('{').count() != 1 {
                continue;
            }
            for op in other_item.as_object().into_iter().flat_map(|o| o.values()) {
                let Some(target) = op["operationId"].as_str() else {
                    continue;
                };
                let link = serde_json::json!({
                    "operationId": target,
                    "parameters": { "id": "$response.body#/id" }
                });
                links.push((path.clone(), target.to_string(), link));
            }
        }
    }
    for (path, name, link) in links {
        let created = &mut paths[&path]["post"]["responses"]["201"];
        if !created["links"].is_object() {
            created["links"] = serde_json::json!({});
        }
        created["links"][name] = link;
    }
}

/// `Page_Product.data.items` is an inline copy of `Product`: refer to it instead, so a
/// generated client has one `Product` type.
fn refer_page_items(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    let names: Vec<String> = schemas.keys().cloned().collect();
    for name in names {
        let Some(item) = name.strip_prefix("Page_") else {
            continue;
        };
        if !schemas.contains_key(item) {
            continue;
        }
        if let Some(data) = schemas[&name]["properties"]["data"].as_object().cloned() {
            if data.get("items").is_some_and(|i| i.get("$ref").is_none()) {
                schemas.get_mut(&name).expect("listed")["properties"]["data"]["items"] =
                    serde_json::json!({ "$ref": format!("#/components/schemas/{item}") });
            }
        }
    }
}

/// An object schema with no properties is a map of anything: say so.
fn mark_maps(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            let is_object = match map.get("type") {
                Some(serde_json::Value::String(t)) => t == "object",
                Some(serde_json::Value::Array(ts)) => ts.iter().any(|t| t == "object"),
                _ => false,
            };
            if is_object
                && !map.contains_key("properties")
                && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), serde_json::Value::Bool(true));
            }
            for value in map.values_mut() {
                mark_maps(value);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mark_maps),
        _ => {}
    }
}
