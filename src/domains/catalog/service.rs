//! Catalog rules: who may change what, the category tree, product listings and their cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use prometheus::Registry;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::cache::{ReadCache, Representation};
use super::contract::{StockLow, STOCK_LOW};
use super::model::{
    Category, CategoryInput, Product, ProductInput, ProductPatch, Store, StoreInput,
};
use super::repo::{self, ProductFilter};
use super::settings::CatalogSettings;
use crate::domains::auth::contract::{Permission, Principal};
use crate::domains::files::contract::{FilesApi, FilesError};
use crate::platform::clock::Clock;
use crate::platform::db::{Db, DbError, Tx};
use crate::platform::http::{FieldError, JsonBytes, Page};
use crate::platform::queue::{publish, Outgoing};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Db(DbError),
    #[error("files are unavailable: {0}")]
    Files(String),
    #[error("{0}")]
    ImageTooLarge(String),
    #[error("{0}")]
    ImageRefused(String),
}

/// An image sent with a multipart product.
pub struct Upload {
    pub filename: Option<String>,
    pub declared: Option<String>,
    pub bytes: Vec<u8>,
}

impl From<DbError> for CatalogError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::UniqueViolation { .. } => {
                CatalogError::Conflict("a product with this sku already exists in the store".into())
            }
            other => CatalogError::Db(other),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> CatalogError {
    CatalogError::Validation(vec![FieldError {
        field: field.into(),
        message: message.into(),
    }])
}

pub struct CatalogService {
    pub(super) db: Db,
    files: Option<Arc<dyn FilesApi>>,
    /// Public reads as served.
    pub(super) reads: Arc<ReadCache>,
    seen_version: AtomicI64,
    /// Stock moved in a committed transaction; other replicas have not been told yet.
    pub(super) stock_moved: Arc<Notify>,
    pub(super) reservation_ttl: chrono::Duration,
    pub(super) clock: Clock,
}

fn holder(product: Uuid) -> String {
    format!("product:{product}")
}

impl CatalogService {
    pub fn new(
        db: Db,
        files: Option<Arc<dyn FilesApi>>,
        settings: &CatalogSettings,
        registry: &Registry,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            files,
            reads: Arc::new(ReadCache::new(settings, registry)?),
            seen_version: AtomicI64::new(i64::MIN),
            stock_moved: Arc::new(Notify::new()),
            reservation_ttl: chrono::Duration::seconds(settings.reservation_ttl_secs as i64),
            clock,
        })
    }

    /// Drops the read cache whenever another replica wrote to the catalog: looks at the
    /// version when a replica's commit is signalled (PostgreSQL), and every `every` in any case.
    pub async fn watch_version(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        let moved = self
            .db
            .signals()
            .listen(&[repo::VERSION_SIGNAL.to_string()]);
        loop {
            // Listening before the read, so a move meanwhile is not missed.
            let signalled = moved.notified();
            tokio::pin!(signalled);
            signalled.as_mut().enable();
            match repo::version(&self.db).await {
                // Versions only grow; an older reading (raced by a write here) changes nothing.
                Ok(v) if v > self.seen_version.fetch_max(v, Ordering::SeqCst) => self.drop_cache(),
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "could not read the catalog version"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
                _ = &mut signalled => {}
            }
        }
    }

    /// Tells other replicas that stock moved, once per batch of checkouts: the version moves
    /// after their commits in a statement of its own, so checkouts do not queue on the
    /// version's row while their transactions run. A move that commits while a bump runs
    /// gets another bump. If the process dies between a commit and its bump, other replicas
    /// show that stock figure late, until their cache's TTL.
    pub async fn announce_stock_moves(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                _ = self.stock_moved.notified() => false,
                // A move committed just before the stop is still announced.
                _ = stop.cancelled() => match self.stock_moved.notified().now_or_never() {
                    Some(()) => true,
                    None => return,
                },
            };
            // Not recorded as seen, so the watcher's next look drops this replica's reads
            // once more: that covers a write from elsewhere that this version passes over.
            if let Err(e) = self.bump_version_now().await {
                tracing::warn!(error = %e, "could not move the catalog version after a stock change");
            }
            if stopping {
                return;
            }
        }
    }

    async fn bump_version_now(&self) -> Result<(), DbError> {
        let mut tx = self.db.begin().await?;
        repo::bump_version(&mut tx).await?;
        tx.commit().await
    }

    fn drop_cache(&self) {
        self.reads.drop_all();
    }

    /// Until a version has been read, a cached read could not be told stale.
    fn cache_usable(&self) -> bool {
        self.seen_version.load(Ordering::SeqCst) != i64::MIN
    }

    /// Commits a catalog write and forgets cached reads here at once (elsewhere: the version).
    async fn commit_write(&self, mut tx: Tx) -> Result<(), CatalogError> {
        let version = repo::bump_version(&mut tx).await?;
        tx.commit().await?;
        // Writes up to this version committed before this one, so the drop covers them all;
        // the watcher need not drop again for them.
        self.drop_cache();
        self.seen_version.fetch_max(version, Ordering::SeqCst);
        Ok(())
    }

    // ---- stores

    pub async fn store_by_id(&self, id: Uuid) -> Result<Option<Store>, DbError> {
        repo::store(&self.db, id).await
    }

    async fn owned_store(&self, principal: &Principal, id: Uuid) -> Result<Store, CatalogError> {
        let store = repo::store(&self.db, id)
            .await?
            .ok_or(CatalogError::NotFound("no such store"))?;
        if !principal.owns_or_can(store.owner_id, Permission::ManageAnyResource) {
            return Err(CatalogError::NotFound("no such store"));
        }
        Ok(store)
    }

    pub async fn create_store(
        &self,
        principal: &Principal,
        input: StoreInput,
    ) -> Result<Store, CatalogError> {
        let input = input.validate().map_err(CatalogError::Validation)?;
        let now = self.clock.now();
        let store = Store {
            id: Uuid::now_v7(),
            owner_id: principal.user_id,
            name: input.name,
            description: input.description,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        repo::insert_store(&mut tx, &store, false).await?;
        tx.commit().await?;
        Ok(store)
    }

    pub async fn stores(
        &self,
        principal: &Principal,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Store>, u64), CatalogError> {
        let owner = (!principal.can(Permission::ManageAnyResource)).then_some(principal.user_id);
        Ok(repo::stores(&self.db, owner, limit, (page - 1) * limit).await?)
    }

    pub async fn store(&self, principal: &Principal, id: Uuid) -> Result<Store, CatalogError> {
        self.owned_store(principal, id).await
    }

    pub async fn update_store(
        &self,
        principal: &Principal,
        id: Uuid,
        input: StoreInput,
    ) -> Result<Store, CatalogError> {
        self.owned_store(principal, id).await?;
        let input = input.validate().map_err(CatalogError::Validation)?;
        let mut tx = self.db.begin().await?;
        repo::update_store(
            &mut tx,
            id,
            &input.name,
            input.description.as_deref(),
            self.clock.now(),
        )
        .await?;
        tx.commit().await?;
        repo::store(&self.db, id)
            .await?
            .ok_or(CatalogError::NotFound("no such store"))
    }

    /// Deletes the store and its products, releasing their images.
    pub async fn delete_store(&self, principal: &Principal, id: Uuid) -> Result<(), CatalogError> {
        self.owned_store(principal, id).await?;
        let mut tx = self.db.begin().await?;
        let products = repo::product_ids_of_store(&mut tx, id).await?;
        repo::delete_store(&mut tx, id).await?;
        self.commit_write(tx).await?;
        for product in products {
            self.release_images(product).await?;
        }
        Ok(())
    }

    // ---- categories

    pub async fn create_category(&self, input: CategoryInput) -> Result<Category, CatalogError> {
        let name = self.category_name(&input)?;
        if let Some(parent) = input.parent_id {
            repo::category(&self.db, parent)
                .await?
                .ok_or_else(|| invalid("parent_id", "no such category"))?;
        }
        let now = self.clock.now();
        let category = Category {
            id: Uuid::now_v7(),
            name,
            parent_id: input.parent_id,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        repo::insert_category(&mut tx, &category).await?;
        self.commit_write(tx).await?;
        Ok(category)
    }

    fn category_name(&self, input: &CategoryInput) -> Result<String, CatalogError> {
        let mut errors = Vec::new();
        let name = crate::platform::text::single_line(&mut errors, "name", &input.name, 100);
        match errors.is_empty() {
            true => Ok(name),
            false => Err(CatalogError::Validation(errors)),
        }
    }

    pub async fn update_category(
        &self,
        id: Uuid,
        input: CategoryInput,
    ) -> Result<Category, CatalogError> {
        let name = self.category_name(&input)?;
        let tree: HashMap<Uuid, Option<Uuid>> =
            repo::category_tree(&self.db).await?.into_iter().collect();
        if !tree.contains_key(&id) {
            return Err(CatalogError::NotFound("no such category"));
        }
        // The new parent must exist and must not be the category or one of its descendants.
        let mut ancestor = input.parent_id;
        while let Some(a) = ancestor {
            if a == id {
                return Err(invalid("parent_id", "would make a cycle"));
            }
            ancestor = *tree
                .get(&a)
                .ok_or_else(|| invalid("parent_id", "no such category"))?;
        }
        let mut tx = self.db.begin().await?;
        repo::update_category(&mut tx, id, &name, input.parent_id, self.clock.now()).await?;
        self.commit_write(tx).await?;
        repo::category(&self.db, id)
            .await?
            .ok_or(CatalogError::NotFound("no such category"))
    }

    pub async fn delete_category(&self, id: Uuid) -> Result<(), CatalogError> {
        let mut tx = self.db.begin().await?;
        match repo::delete_category(&mut tx, id).await {
            Ok(true) => self.commit_write(tx).await,
            Ok(false) => Err(CatalogError::NotFound("no such category")),
            Err(DbError::ForeignKeyViolation { .. }) => Err(CatalogError::Conflict(
                "the category has sub-categories".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn category(&self, id: Uuid) -> Result<Category, CatalogError> {
        repo::category(&self.db, id)
            .await?
            .ok_or(CatalogError::NotFound("no such category"))
    }

    pub async fn categories(
        &self,
        search: Option<&str>,
        parent: Option<Uuid>,
        page: u64,
        limit: u64,
    ) -> Result<(Vec<Category>, u64), CatalogError> {
        Ok(repo::categories(&self.db, search, parent, limit, (page - 1) * limit).await?)
    }

    /// `root` and every category below it.
    pub async fn subtree(&self, root: Uuid) -> Result<Vec<Uuid>, CatalogError> {
        let tree = repo::category_tree(&self.db).await?;
        let mut found = vec![root];
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            found.extend(
                tree.iter()
                    .filter(|(_, p)| *p == Some(parent))
                    .map(|(id, _)| *id),
            );
            i += 1;
        }
        Ok(found)
    }

    // ---- products

    async fn check_references(&self, input: &ProductInput) -> Result<(), CatalogError> {
        if let Some(category) = input.category_id {
            repo::category(&self.db, category)
                .await?
                .ok_or_else(|| invalid("category_id", "no such category"))?;
        }
        if !input.images.is_empty() {
            let files = self
                .files
                .as_ref()
                .ok_or_else(|| invalid("images", "images need the files domain"))?;
            for image in &input.images {
                let found = files
                    .get(*image)
                    .await
                    .map_err(|e| CatalogError::Files(e.to_string()))?;
                match found {
                    Some(file) if file.content_type.starts_with("image/") => {}
                    Some(_) => {
                        return Err(invalid("images", format!("file {image} is not an image")))
                    }
                    None => return Err(invalid("images", format!("no such file {image}"))),
                }
            }
        }
        Ok(())
    }

    async fn use_images(&self, product: Uuid, images: &[Uuid]) -> Result<(), CatalogError> {
        if let Some(files) = &self.files {
            files
                .set_usage(&holder(product), images)
                .await
                .map_err(|e| CatalogError::Files(e.to_string()))?;
        }
        Ok(())
    }

    async fn release_images(&self, product: Uuid) -> Result<(), CatalogError> {
        self.use_images(product, &[]).await
    }

    pub async fn create_product(
        &self,
        principal: &Principal,
        input: ProductInput,
    ) -> Result<Product, CatalogError> {
        let input = input.validate().map_err(CatalogError::Validation)?;
        self.owned_store(principal, input.store_id)
            .await
            .map_err(|_| invalid("store_id", "no such store of yours"))?;
        self.check_references(&input).await?;
        let id = Uuid::now_v7();
        let mut tx = self.db.begin().await?;
        repo::insert_product(&mut tx, id, &input, self.clock.now()).await?;
        self.commit_write(tx).await?;
        self.use_images(id, &input.images).await?;
        self.product_for(Some(principal), id).await
    }

    /// Creates a product with an image sent alongside: the product is checked first, so a
    /// refused product stores no image.
    pub async fn create_product_with_image(
        &self,
        principal: &Principal,
        input: ProductInput,
        image: Option<Upload>,
    ) -> Result<Product, CatalogError> {
        let Some(image) = image else {
            return self.create_product(principal, input).await;
        };
        let mut input = input.validate().map_err(CatalogError::Validation)?;
        self.owned_store(principal, input.store_id)
            .await
            .map_err(|_| invalid("store_id", "no such store of yours"))?;
        let files = self
            .files
            .as_ref()
            .ok_or_else(|| invalid("image", "images need the files domain"))?;
        let stored = files
            .upload(
                principal.user_id,
                image.filename.as_deref(),
                image.declared.as_deref(),
                image.bytes,
            )
            .await
            .map_err(|e| match e {
                FilesError::TooLarge(why) => CatalogError::ImageTooLarge(why),
                FilesError::Unsupported(why) => CatalogError::ImageRefused(why),
                FilesError::Invalid(why) => invalid("image", why),
                other => CatalogError::Files(other.to_string()),
            })?;
        if !stored.content_type.starts_with("image/") {
            return Err(CatalogError::ImageRefused(format!(
                "{} is not an image",
                stored.content_type
            )));
        }
        input.images.insert(0, stored.id);
        self.create_product(principal, input).await
    }

    /// A product: active ones for anyone, hidden ones for their store's owner and admins.
    pub async fn product_for(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
    ) -> Result<Product, CatalogError> {
        let product = repo::product(&self.db, id)
            .await?
            .ok_or(CatalogError::NotFound("no such product"))?;
        if product.is_active {
            return Ok(product);
        }
        match principal {
            Some(p) if self.owned_store(p, product.store_id).await.is_ok() => Ok(product),
            _ => Err(CatalogError::NotFound("no such product")),
        }
    }

    async fn editable(&self, principal: &Principal, id: Uuid) -> Result<Product, CatalogError> {
        let product = repo::product(&self.db, id)
            .await?
            .ok_or(CatalogError::NotFound("no such product"))?;
        match self.owned_store(principal, product.store_id).await {
            Ok(_) => Ok(product),
            // Someone else's active product is visible, just not theirs to change.
            Err(_) if product.is_active => Err(CatalogError::Forbidden(
                "only the store's owner may change this product",
            )),
            Err(_) => Err(CatalogError::NotFound("no such product")),
        }
    }

    pub async fn replace_product(
        &self,
        principal: &Principal,
        id: Uuid,
        input: ProductInput,
    ) -> Result<Product, CatalogError> {
        let current = self.editable(principal, id).await?;
        if input.store_id != current.store_id {
            return Err(invalid(
                "store_id",
                "a product cannot move to another store",
            ));
        }
        self.save_product(principal, current, input).await
    }

    pub async fn patch_product(
        &self,
        principal: &Principal,
        id: Uuid,
        patch: ProductPatch,
    ) -> Result<Product, CatalogError> {
        let current = self.editable(principal, id).await?;
        let input = ProductInput::from_product(&current).apply(patch);
        self.save_product(principal, current, input).await
    }

    async fn save_product(
        &self,
        principal: &Principal,
        current: Product,
        input: ProductInput,
    ) -> Result<Product, CatalogError> {
        let input = input.validate().map_err(CatalogError::Validation)?;
        self.check_references(&input).await?;
        let mut tx = self.db.begin().await?;
        repo::update_product(&mut tx, current.id, &input, self.clock.now()).await?;
        let threshold = input.low_stock_threshold;
        if input.stock <= threshold && current.stock > threshold {
            let event = StockLow {
                product_id: current.id,
                store_id: current.store_id,
                sku: input.sku.clone(),
                stock: input.stock,
                threshold,
            };
            publish(
                &mut tx,
                Outgoing::new(STOCK_LOW, current.id.to_string(), &event),
            )
            .await?;
        }
        self.commit_write(tx).await?;
        if input.images != current.images {
            self.use_images(current.id, &input.images).await?;
        }
        self.product_for(Some(principal), current.id).await
    }

    pub async fn delete_product(
        &self,
        principal: &Principal,
        id: Uuid,
    ) -> Result<(), CatalogError> {
        self.editable(principal, id).await?;
        let mut tx = self.db.begin().await?;
        repo::delete_product(&mut tx, id).await?;
        self.commit_write(tx).await?;
        self.release_images(id).await
    }

    /// A product as served: active ones from the cache (the same for everyone), hidden ones
    /// for their store's owner and admins, never cached.
    pub async fn product_read(
        &self,
        principal: Option<&Principal>,
        id: Uuid,
    ) -> Result<Representation, CatalogError> {
        let usable = self.cache_usable();
        if usable {
            if let Some(json) = self.reads.product(id).await {
                return Ok(Representation { json, shared: true });
            }
        }
        let generation = self.reads.generation();
        let product = self.product_for(principal, id).await?;
        let json = JsonBytes::new(&product);
        if usable && product.is_active {
            self.reads.keep_product(id, json.clone(), generation).await;
        }
        Ok(Representation {
            json,
            shared: product.is_active,
        })
    }

    /// A page of products as served. Public listings (active products only) come from the
    /// cache; a store owner's listing of their store (hidden products too) never does.
    pub async fn products(
        &self,
        principal: Option<&Principal>,
        mut filter: ProductFilter,
        page: u64,
        limit: u64,
    ) -> Result<Representation, CatalogError> {
        // A store's owner (or an admin) listing that store sees its hidden products too.
        if let (Some(p), Some(store)) = (principal, filter.store_id) {
            filter.include_hidden = self.owned_store(p, store).await.is_ok();
        }
        let shared = !filter.include_hidden;
        let usable = shared && self.cache_usable();
        let offset = (page - 1) * limit;
        let key = (filter, limit, offset);
        if usable {
            if let Some(json) = self.reads.listing(&key).await {
                return Ok(Representation { json, shared });
            }
        }
        let generation = self.reads.generation();
        let (products, total) = repo::products(&self.db, &key.0, limit, offset).await?;
        let json = JsonBytes::new(&Page::new(products, page, limit, total));
        if usable {
            self.reads.keep_listing(key, json.clone(), generation).await;
        }
        Ok(Representation { json, shared })
    }
}
