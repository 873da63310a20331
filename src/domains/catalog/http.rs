//! The catalog's routes under `/api/v1`: stores, categories, products.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::cache::Representation;
use super::model::{
    Category, CategoryInput, Product, ProductInput, ProductPatch, Store, StoreInput,
};
use super::repo::{ProductFilter, SortBy};
use super::service::{CatalogError, CatalogService, Upload};
use crate::domains::auth::contract::Authenticator;
use crate::domains::authn::{
    permissions::ManageAnyResource, Authenticated, MaybeAuthenticated, RequirePermission,
};
use crate::platform::http::extract::json_object;
use crate::platform::http::{ApiError, FieldError, Json, Page, PageParams, Path, Problem, Query};
use crate::platform::openapi::string_enum;

const TAG: &str = "catalog";

#[derive(Clone)]
pub struct CatalogState {
    pub svc: Arc<CatalogService>,
    pub authenticator: Arc<dyn Authenticator>,
}

impl FromRef<CatalogState> for Arc<dyn Authenticator> {
    fn from_ref(state: &CatalogState) -> Self {
        state.authenticator.clone()
    }
}

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Validation(errors) => ApiError::validation(errors),
            CatalogError::NotFound(what) => ApiError::not_found(what),
            CatalogError::Forbidden(why) => ApiError::forbidden(why),
            CatalogError::Conflict(why) => ApiError::conflict(why),
            CatalogError::Db(e) => e.into(),
            CatalogError::Files(e) => ApiError::internal(e),
            CatalogError::ImageTooLarge(why) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
                why,
            ),
            CatalogError::ImageRefused(why) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported file type",
                why,
            ),
        }
    }
}

/// `upload_limit` bounds product creation (it may carry an image); the rest keeps the global limit.
pub fn routes(upload_limit: usize) -> OpenApiRouter<CatalogState> {
    let create = OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(create_product_with_image))
        .layer(DefaultBodyLimit::max(upload_limit));
    OpenApiRouter::new()
        .routes(routes!(create_store, list_stores))
        .routes(routes!(get_store, update_store, delete_store))
        .routes(routes!(create_category, list_categories))
        .routes(routes!(get_category, update_category, delete_category))
        .merge(create)
        .routes(routes!(
            get_product,
            replace_product,
            patch_product,
            delete_product
        ))
}

/// Create a store owned by the caller.
#[utoipa::path(post, path = "/stores", operation_id = "createStore", tag = TAG, security(("bearer" = [])), request_body = StoreInput,
    responses((status = 201, body = Store), (status = 401, body = Problem), (status = 422, body = Problem)))]
async fn create_store(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Json(input): Json<StoreInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.svc.create_store(&principal, input).await?),
    ))
}

/// The caller's stores (administrators: all).
#[utoipa::path(get, path = "/stores", operation_id = "listStores", tag = TAG, security(("bearer" = [])), params(PageParams),
    responses((status = 200, body = Page<Store>), (status = 401, body = Problem)))]
async fn list_stores(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Query(paging): Query<PageParams>,
) -> Result<Json<Page<Store>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (stores, total) = state.svc.stores(&principal, page, limit).await?;
    Ok(Json(Page::new(stores, page, limit, total)))
}

/// A store (its owner or an administrator).
#[utoipa::path(get, path = "/stores/{id}", operation_id = "getStore", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Store), (status = 404, body = Problem)))]
async fn get_store(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<Json<Store>, ApiError> {
    Ok(Json(state.svc.store(&principal, id).await?))
}

/// Rename or describe a store (its owner or an administrator).
#[utoipa::path(put, path = "/stores/{id}", operation_id = "updateStore", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = StoreInput, responses((status = 200, body = Store), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_store(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(input): Json<StoreInput>,
) -> Result<Json<Store>, ApiError> {
    Ok(Json(state.svc.update_store(&principal, id, input).await?))
}

/// Delete a store and its products (its owner or an administrator).
#[utoipa::path(delete, path = "/stores/{id}", operation_id = "deleteStore", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
async fn delete_store(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_store(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a category, optionally under a parent (administrators).
#[utoipa::path(post, path = "/categories", operation_id = "createCategory", tag = TAG, security(("bearer" = [])), request_body = CategoryInput,
    responses((status = 201, body = Category), (status = 403, body = Problem), (status = 422, body = Problem)))]
async fn create_category(
    State(state): State<CatalogState>,
    _: RequirePermission<ManageAnyResource>,
    Json(input): Json<CategoryInput>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.svc.create_category(input).await?),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryFilter {
    /// Part of the name, any case.
    pub search: Option<String>,
    /// Only the direct children of this category.
    pub parent_id: Option<Uuid>,
}

/// Categories, by name (public).
#[utoipa::path(get, path = "/categories", operation_id = "listCategories", tag = TAG, params(PageParams, CategoryFilter),
    responses((status = 200, body = Page<Category>), (status = 422, body = Problem)))]
async fn list_categories(
    State(state): State<CatalogState>,
    Query(paging): Query<PageParams>,
    Query(filter): Query<CategoryFilter>,
) -> Result<Json<Page<Category>>, ApiError> {
    let (page, limit) = paging.resolve()?;
    let (items, total) = state
        .svc
        .categories(filter.search.as_deref(), filter.parent_id, page, limit)
        .await?;
    Ok(Json(Page::new(items, page, limit, total)))
}

/// A category (public).
#[utoipa::path(get, path = "/categories/{id}", operation_id = "getCategory", tag = TAG, params(("id" = Uuid, Path)),
    responses((status = 200, body = Category), (status = 404, body = Problem)))]
async fn get_category(
    State(state): State<CatalogState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(state.svc.category(id).await?))
}

/// Rename or move a category (administrators); a move that would make a cycle is refused.
#[utoipa::path(put, path = "/categories/{id}", operation_id = "updateCategory", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = CategoryInput,
    responses((status = 200, body = Category), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_category(
    State(state): State<CatalogState>,
    _: RequirePermission<ManageAnyResource>,
    Path(id): Path<Uuid>,
    Json(input): Json<CategoryInput>,
) -> Result<Json<Category>, ApiError> {
    Ok(Json(state.svc.update_category(id, input).await?))
}

/// Delete a category without sub-categories (administrators); its products become uncategorised.
#[utoipa::path(delete, path = "/categories/{id}", operation_id = "deleteCategory", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn delete_category(
    State(state): State<CatalogState>,
    _: RequirePermission<ManageAnyResource>,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_category(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `multipart/form-data` form of `POST /products`: the product and its first image at once.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProductForm {
    /// The product, as the JSON body would give it.
    product: ProductInput,
    /// An image file, checked as `POST /files` checks uploads; added to `images`.
    #[schema(value_type = Option<String>, format = Binary)]
    image: Option<Vec<u8>>,
}

/// Create a product in one of the caller's stores; images are file ids from `POST /files`.
/// (A multipart body as `POST /products/with-image` takes is accepted here too.)
#[utoipa::path(post, path = "/products", operation_id = "createProduct", tag = TAG, security(("bearer" = [])),
    request_body = ProductInput,
    responses(
        (status = 201, body = Product),
        (status = 409, description = "SKU taken in this store", body = Problem),
        (status = 422, body = Problem),
    ))]
async fn create_product(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    request: Request,
) -> Result<impl IntoResponse, ApiError> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    if multipart {
        return create_product_with_image(State(state), Authenticated(principal), request).await;
    }
    let Json(input) = Json::<ProductInput>::from_request(request, &()).await?;
    let product = state.svc.create_product(&principal, input).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// Create a product and its first image at once: a multipart form with a `product` part (the
/// JSON `POST /products` takes) and an optional `image` file. Its own operation, so each
/// operation of the document has one body type, as SDK generators expect.
#[utoipa::path(post, path = "/products/with-image", operation_id = "createProductWithImage", tag = TAG, security(("bearer" = [])),
    request_body(content = ProductForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, body = Product),
        (status = 409, description = "SKU taken in this store", body = Problem),
        (status = 413, description = "Image too large", body = Problem),
        (status = 415, description = "Image type not accepted", body = Problem),
        (status = 422, body = Problem),
    ))]
async fn create_product_with_image(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    request: Request,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let form = Multipart::from_request(request, &())
        .await
        .map_err(|e| ApiError::new(e.status(), "bad-request", "Bad request", e.body_text()))?;
    let (input, image) = read_product_form(form).await?;
    let product = state
        .svc
        .create_product_with_image(&principal, input, image)
        .await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// The `product` JSON part and the optional `image` part of a multipart product.
async fn read_product_form(
    mut form: Multipart,
) -> Result<(ProductInput, Option<Upload>), ApiError> {
    let malformed = |e: axum::extract::multipart::MultipartError| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE),
        status => ApiError::new(
            status,
            "bad-request",
            "Malformed multipart body",
            e.body_text(),
        ),
    };
    let refuse = |part: &str, message: String| {
        ApiError::validation(vec![FieldError {
            field: part.into(),
            message,
        }])
    };
    let twice = |part: &str| refuse(part, format!("send one `{part}` part; this body has more"));
    let (mut input, mut image) = (None, None);
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        match field.name() {
            Some("product") if input.is_some() => return Err(twice("product")),
            Some("image") if image.is_some() => return Err(twice("image")),
            Some("product") => {
                let bytes = field.bytes().await.map_err(malformed)?;
                let parsed: ProductInput =
                    json_object(&bytes).map_err(|e| refuse("product", e.detail))?;
                input = Some(parsed);
            }
            Some("image") => {
                let filename = field.file_name().map(str::to_string);
                let declared = field.content_type().map(str::to_string);
                let bytes = Vec::from(field.bytes().await.map_err(malformed)?);
                image = Some(Upload {
                    filename,
                    declared,
                    bytes,
                });
            }
            _ => {}
        }
    }
    let input = input.ok_or_else(|| {
        ApiError::validation(vec![FieldError {
            field: "product".into(),
            message: "the form needs a `product` part".into(),
        }])
    })?;
    Ok((input, image))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Part of the name, description or SKU, any case.
    pub search: Option<String>,
    /// This category and all below it.
    pub category_id: Option<Uuid>,
    /// One store; its owner also sees its hidden products.
    pub store_id: Option<Uuid>,
    /// Minor units.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Only products with stock.
    pub in_stock: Option<bool>,
    /// `price`, `created_at` (default) or `name`.
    #[param(schema_with = sort_schema)]
    pub sort: Option<String>,
    /// `asc` or `desc` (default `desc` for created_at, `asc` otherwise).
    #[param(schema_with = order_schema)]
    pub order: Option<String>,
}

fn sort_schema() -> utoipa::openapi::Object {
    string_enum(["price", "created_at", "name"], "What to sort by")
}

fn order_schema() -> utoipa::openapi::Object {
    string_enum(["asc", "desc"], "Ascending or descending")
}

impl ProductQuery {
    fn sort(&self) -> Result<Option<(SortBy, bool)>, FieldError> {
        let bad = |field: &str, allowed: &str| FieldError {
            field: field.into(),
            message: format!("must be one of {allowed}"),
        };
        let by = match self.sort.as_deref() {
            None => return self.order_only(),
            Some("price") => SortBy::Price,
            Some("created_at") => SortBy::CreatedAt,
            Some("name") => SortBy::Name,
            Some(_) => return Err(bad("sort", "price, created_at, name")),
        };
        let descending = match self.order.as_deref() {
            None => by == SortBy::CreatedAt,
            Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(bad("order", "asc, desc")),
        };
        Ok(Some((by, descending)))
    }

    fn order_only(&self) -> Result<Option<(SortBy, bool)>, FieldError> {
        match self.order.as_deref() {
            None => Ok(None),
            Some("asc") => Ok(Some((SortBy::CreatedAt, false))),
            Some("desc") => Ok(Some((SortBy::CreatedAt, true))),
            Some(_) => Err(FieldError {
                field: "order".into(),
                message: "must be one of asc, desc".into(),
            }),
        }
    }
}

/// Browse products (public): search, filters, sort and pages. Cached for
/// `catalog.cache_ttl_secs`; writes invalidate at once. Carries an `ETag`: send it back in
/// `If-None-Match` and an unchanged page answers `304` with no body.
#[utoipa::path(get, path = "/products", operation_id = "listProducts", tag = TAG, params(PageParams, ProductQuery, IfNoneMatch),
    responses((status = 200, body = Page<Product>, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`"),
        (status = 422, body = Problem)))]
async fn list_products(
    State(state): State<CatalogState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    headers: HeaderMap,
    Query(paging): Query<PageParams>,
    Query(q): Query<ProductQuery>,
) -> Result<Response, ApiError> {
    let (page, limit) = paging.resolve()?;
    let mut errors = Vec::new();
    let sort = q.sort().map_err(|e| errors.push(e)).ok().flatten();
    if let (Some(min), Some(max)) = (q.min_price, q.max_price) {
        if min > max {
            errors.push(FieldError {
                field: "min_price".into(),
                message: "must not exceed max_price".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let categories = match q.category_id {
        Some(root) => Some(state.svc.subtree(root).await?),
        None => None,
    };
    let filter = ProductFilter {
        search: q
            .search
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        categories,
        store_id: q.store_id,
        min_price: q.min_price,
        max_price: q.max_price,
        in_stock: q.in_stock.unwrap_or(false),
        include_hidden: false,
        sort,
    };
    let read = state
        .svc
        .products(principal.as_ref(), filter, page, limit)
        .await?;
    Ok(serve(&state, &read, &headers))
}

/// A product (public when active; hidden ones for their store's owner and administrators).
/// Active products are cached and carry an `ETag`, as listings do.
#[utoipa::path(get, path = "/products/{id}", operation_id = "getProduct", tag = TAG, params(("id" = Uuid, Path), IfNoneMatch),
    responses((status = 200, body = Product, headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Unchanged since the `ETag` sent in `If-None-Match`"),
        (status = 404, body = Problem)))]
async fn get_product(
    State(state): State<CatalogState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let read = state.svc.product_read(principal.as_ref(), id).await?;
    Ok(serve(&state, &read, &headers))
}

/// The `If-None-Match` request header of cached reads.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // Documents the header; `JsonBytes::respond` reads it.
struct IfNoneMatch {
    /// An `ETag` from an earlier answer: `304` if the read is unchanged.
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
}

fn serve(state: &CatalogState, read: &Representation, headers: &HeaderMap) -> Response {
    read.json
        .respond(headers, state.svc.reads.cache_control(read.shared))
}

/// Replace a product (its store's owner or an administrator).
#[utoipa::path(put, path = "/products/{id}", operation_id = "replaceProduct", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = ProductInput,
    responses((status = 200, body = Product), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "SKU taken in this store", body = Problem), (status = 422, body = Problem)))]
async fn replace_product(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(input): Json<ProductInput>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(
        state.svc.replace_product(&principal, id, input).await?,
    ))
}

/// Change some fields of a product (its store's owner or an administrator).
#[utoipa::path(patch, path = "/products/{id}", operation_id = "patchProduct", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "SKU taken in this store", body = Problem), (status = 422, body = Problem)))]
async fn patch_product(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
    Json(patch): Json<ProductPatch>,
) -> Result<Json<Product>, ApiError> {
    Ok(Json(state.svc.patch_product(&principal, id, patch).await?))
}

/// Delete a product (its store's owner or an administrator); its images are released.
#[utoipa::path(delete, path = "/products/{id}", operation_id = "deleteProduct", tag = TAG, security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn delete_product(
    State(state): State<CatalogState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.svc.delete_product(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
