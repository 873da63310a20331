//! The base OpenAPI document: info, the bearer security scheme, shared schemas, and one tag
//! per enabled domain. Paths come from the routers themselves (utoipa-axum).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::{Modify, OpenApi};

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
    modifiers(&Security, &DomainTags),
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

struct DomainTags;

impl Modify for DomainTags {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let tags = doc.tags.get_or_insert_with(Vec::new);
        for domain in crate::domains::enabled() {
            tags.push(
                TagBuilder::new()
                    .name(domain.name)
                    .description(Some(domain.description))
                    .build(),
            );
        }
    }
}
