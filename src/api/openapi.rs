//! The OpenAPI 3.1 document, assembled from the handlers' annotations.

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
