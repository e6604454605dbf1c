//! The API's OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]` attributes and the types
//! they take and answer, served at [`DOCUMENT_PATH`] with an interactive page at [`DOCS_PATH`] whose assets
//! are in the binary.

use recur_common::model::FIELD_ALIASES;
use utoipa::openapi::{
    Components, ContentBuilder, Deprecated, Object, OpenApi, OpenApiBuilder, Ref, RefOr, ResponseBuilder, Schema,
    info::{InfoBuilder, LicenseBuilder},
    path::Operation,
    security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    tag::TagBuilder,
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::{
    error::{ErrorBody, ErrorDetail, ItemError},
    routes::AppState,
};

/// Where the API's routes live.
pub const API_BASE: &str = "/api/v1";
/// The OpenAPI document.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
/// The interactive docs page (Swagger UI).
pub const DOCS_PATH: &str = "/api/v1/docs";

/// Whether `path` is the docs page or one of its assets, served without a key and left as sent (Swagger UI
/// redirects `/docs` to `/docs/`, so the trailing slash must survive).
pub fn is_docs_page(path: &str) -> bool {
    path.strip_prefix(DOCS_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The document before the routes are added: what recur is, its tags and its bearer scheme.
pub fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("recur")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Scheduled jobs on Redis: workflows, schedules (interval, cron with time zones, one-shot), ad-hoc \
             runs and their executions. Every error answer is `{\"error\": {\"code\", \"message\", \"field\"}}`. \
             When the deployment sets RECUR_API_KEYS, every path but the probes and this description needs \
             `Authorization: Bearer <key>`.",
        ))
        .license(Some(LicenseBuilder::new().name("Apache-2.0").identifier(Some("Apache-2.0")).build()))
        .build();
    let tag = |name: &str, description: &str| TagBuilder::new().name(name).description(Some(description)).build();
    let mut components = Components::new();
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("One of RECUR_API_KEYS; not needed when the deployment sets none."))
                .build(),
        ),
    );
    OpenApiBuilder::new()
        .info(info)
        .tags(Some([
            tag("workflows", "What runs: ordered steps (HTTP, sleep, log, handler)."),
            tag("schedules", "When it runs: interval, cron or once, with retries, catch-up and overlap rules."),
            tag("executions", "What ran: one record per attempt, with its step log."),
            tag("operations", "Probes, metrics, status and a reconciler pass on demand."),
        ]))
        .components(Some(components))
        .security(Some([SecurityRequirement::new("bearer", Vec::<String>::new()), SecurityRequirement::default()]))
        .build()
}

/// The document with what every operation can answer besides its own statuses: the error envelope's schema,
/// 400/413/415 for those that take a body or parameters, 401 when keys are set, 403/408/414/500/503 for all.
pub fn finish(mut document: OpenApi) -> OpenApi {
    let components = document.components.get_or_insert_with(Components::new);
    for (name, schema) in [
        ("ErrorBody", <ErrorBody as utoipa::PartialSchema>::schema()),
        ("ErrorDetail", <ErrorDetail as utoipa::PartialSchema>::schema()),
        ("ItemError", <ItemError as utoipa::PartialSchema>::schema()),
    ] {
        components.schemas.entry(name.to_string()).or_insert(schema);
    }
    for name in ["NewSchedule", "SchedulePatch"] {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
            add_aliases(object);
        }
    }
    for (path, item) in &mut document.paths.paths {
        let probe = path.ends_with("/healthz") || path.ends_with("/readyz");
        for operation in
            [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            add_common_errors(operation, probe);
        }
    }
    document
}

/// The aliases a schedule body accepts, each described as its field is, so that a body using them matches
/// the description as it matches the server.
fn add_aliases(object: &mut Object) {
    for (alias, field) in FIELD_ALIASES {
        let Some(RefOr::T(Schema::Object(described))) = object.properties.get(*field) else { continue };
        let mut described = described.clone();
        described.description = Some(format!("Alias of `{field}` (Pipelit's name)."));
        described.deprecated = Some(Deprecated::True);
        object.properties.insert((*alias).to_string(), RefOr::T(Schema::Object(described)));
    }
}

fn add_common_errors(operation: &mut Operation, probe: bool) {
    let takes_body = operation.request_body.is_some();
    let takes_input = takes_body || operation.parameters.as_ref().is_some_and(|parameters| !parameters.is_empty());
    let errors: [(&str, &str, bool); 9] = [
        ("400", "The request is invalid; `field` names the culprit (`validation_error`, `invalid_items`)", takes_input),
        ("401", "Keys are set and the bearer token is missing or unknown", !probe),
        ("403", "Keyless: a cross-site request or a host name that is not loopback", true),
        ("408", "The request took longer than RECUR_API_REQUEST_TIMEOUT_SECONDS", true),
        ("413", "The body is larger than 1 MiB", takes_body),
        ("414", "The path and query are longer than 8 KiB", true),
        ("415", "The body is not sent as application/json", takes_body),
        ("500", "An internal error, or a stored record that does not decode (`corrupt_record`)", true),
        ("503", "Redis is unreachable or out of memory; nothing was written", true),
    ];
    for (status, description, applies) in errors {
        if applies && !operation.responses.responses.contains_key(status) {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            let response = ResponseBuilder::new().description(description).content("application/json", content);
            operation.responses.responses.insert(status.to_string(), response.build().into());
        }
    }
}

/// The docs page, serving the document it shows.
pub fn docs_page(document: OpenApi) -> axum::Router<AppState> {
    // No validator badge: Swagger UI would send the document to validator.swagger.io.
    let config = Config::from(DOCUMENT_PATH).validator_url("none").persist_authorization(false);
    SwaggerUi::new(DOCS_PATH).url(DOCUMENT_PATH, document).config(config).into()
}
