//! Stores, categories and products as the API shows them, and their validated inputs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::platform::http::FieldError;
use crate::platform::money;

fn field(name: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: name.into(),
        message: message.into(),
    }
}

use crate::platform::text::single_line as text;

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Store {
    pub id: Uuid,
    pub owner_id: Uuid,
    #[schema(example = "Ada's Store")]
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct StoreInput {
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 200,
        example = "Ada's Store"
    )]
    pub name: String,
    pub description: Option<String>,
}

impl StoreInput {
    pub fn validate(self) -> Result<StoreInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = text(&mut errors, "name", &self.name, 200);
        let description = self
            .description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        errors
            .is_empty()
            .then_some(StoreInput { name, description })
            .ok_or(errors)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Category {
    pub id: Uuid,
    #[schema(example = "Shoes")]
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CategoryInput {
    #[serde(default)]
    #[schema(
        required = true,
        min_length = 1,
        max_length = 100,
        example = "Running shoes"
    )]
    pub name: String,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub store_id: Uuid,
    #[schema(example = "Trail runner")]
    pub name: String,
    pub description: String,
    #[schema(example = "TR-42-BLUE")]
    pub sku: String,
    pub brand: Option<String>,
    /// Integer minor units of `currency` (cents): 12999 is 129.99.
    #[schema(example = 12999)]
    pub price: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    #[schema(example = 25)]
    pub stock: i64,
    /// `catalog.stock_low` is published when stock falls to or below this.
    #[schema(example = 3)]
    pub low_stock_threshold: i64,
    pub category_id: Option<Uuid>,
    /// File ids (see `POST /files`).
    pub images: Vec<Uuid>,
    /// Hidden products are seen only by their store's owner and administrators.
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A whole product (create, replace).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ProductInput {
    pub store_id: Uuid,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 200)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub description: String,
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 64)]
    pub sku: String,
    pub brand: Option<String>,
    #[schema(minimum = 0, maximum = 1000000000000_i64, example = 12999)]
    pub price: i64,
    #[serde(default)]
    #[schema(required = true, schema_with = money::currency_schema)]
    pub currency: String,
    #[schema(minimum = 0, example = 25)]
    pub stock: i64,
    #[serde(default)]
    #[schema(minimum = 0)]
    pub low_stock_threshold: i64,
    pub category_id: Option<Uuid>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub images: Vec<Uuid>,
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn yes() -> bool {
    true
}

/// Some fields of a product (PATCH); absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub sku: Option<String>,
    pub brand: Option<String>,
    pub price: Option<i64>,
    pub currency: Option<String>,
    pub stock: Option<i64>,
    pub low_stock_threshold: Option<i64>,
    pub category_id: Option<Uuid>,
    pub images: Option<Vec<Uuid>>,
    pub is_active: Option<bool>,
}

impl ProductInput {
    pub fn from_product(p: &Product) -> Self {
        ProductInput {
            store_id: p.store_id,
            name: p.name.clone(),
            description: p.description.clone(),
            sku: p.sku.clone(),
            brand: p.brand.clone(),
            price: p.price,
            currency: p.currency.clone(),
            stock: p.stock,
            low_stock_threshold: p.low_stock_threshold,
            category_id: p.category_id,
            images: p.images.clone(),
            is_active: p.is_active,
        }
    }

    pub fn apply(mut self, patch: ProductPatch) -> Self {
        macro_rules! take {
            ($($f:ident),*) => {$( if let Some(v) = patch.$f { self.$f = v; } )*};
        }
        take!(
            name,
            description,
            sku,
            price,
            currency,
            stock,
            low_stock_threshold,
            images,
            is_active
        );
        if patch.brand.is_some() {
            self.brand = patch.brand;
        }
        if patch.category_id.is_some() {
            self.category_id = patch.category_id;
        }
        self
    }

    pub fn validate(mut self) -> Result<ProductInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        self.name = text(&mut errors, "name", &self.name, 200);
        self.sku = text(&mut errors, "sku", &self.sku, 64);
        self.description = self.description.trim().to_string();
        if self.description.chars().count() > 10_000 {
            errors.push(field("description", "must be at most 10000 characters"));
        }
        self.brand = self
            .brand
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty());
        if !(0..=money::MAX_MINOR_UNITS).contains(&self.price) {
            errors.push(field(
                "price",
                format!(
                    "must be between 0 and {} (integer minor units)",
                    money::MAX_MINOR_UNITS
                ),
            ));
        }
        self.currency = self.currency.trim().to_ascii_uppercase();
        if !money::is_currency(&self.currency) {
            errors.push(field(
                "currency",
                "must be an ISO 4217 currency code, such as EUR",
            ));
        }
        if self.stock < 0 {
            errors.push(field("stock", "must not be negative"));
        }
        if self.low_stock_threshold < 0 {
            errors.push(field("low_stock_threshold", "must not be negative"));
        }
        if self.images.len() > 20 {
            errors.push(field("images", "at most 20 images"));
        }
        self.images.dedup();
        errors.is_empty().then_some(self).ok_or(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ProductInput {
        ProductInput {
            store_id: Uuid::nil(),
            name: " Shoe ".into(),
            description: String::new(),
            sku: "S-1".into(),
            brand: Some(" ".into()),
            price: 1000,
            currency: "eur".into(),
            stock: 5,
            low_stock_threshold: 1,
            category_id: None,
            images: vec![],
            is_active: true,
        }
    }

    #[test]
    fn products_are_normalised_and_checked() {
        let ok = input().validate().unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.currency.as_str(), ok.brand),
            ("Shoe", "EUR", None)
        );
        let bad = ProductInput {
            price: -1,
            stock: -2,
            currency: "euro".into(),
            sku: "".into(),
            ..input()
        };
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, vec!["sku", "price", "currency", "stock"]);
    }

    #[test]
    fn patches_change_only_what_they_name() {
        let p = input().apply(ProductPatch {
            price: Some(5),
            ..Default::default()
        });
        assert_eq!((p.price, p.stock, p.name.as_str()), (5, 5, " Shoe "));
    }
}
