//! Cart bodies (`/api/carts`, ADR 0019).

use super::PaymentBody;
use chrono::{DateTime, Utc};
use emporium_domain::model::Cart;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/carts`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCartBody {
    #[schema(
        required = true,
        nullable = false,
        example = "cust-42",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub customer_id: Option<String>,
}

/// `PUT /api/carts/{id}/items/{product_id}`: how many (0 removes the line).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CartItemBody {
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(required = true, nullable = false, minimum = 0, maximum = 1_000_000)]
    pub quantity: Option<i64>,
}

/// `POST /api/carts/{id}/checkout`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckoutBody {
    #[schema(required = true, nullable = false)]
    pub payment: Option<PaymentBody>,
}

/// One line of a cart, at the price it had when it was last put.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartLineResponse {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    #[schema(example = "19.99")]
    pub unit_price: String,
    #[schema(example = "39.98")]
    pub line_total: String,
    pub currency: String,
}

/// A cart.
#[derive(Debug, Serialize, ToSchema)]
pub struct CartResponse {
    pub id: Uuid,
    pub customer_id: String,
    pub items: Vec<CartLineResponse>,
    #[schema(example = "39.98")]
    pub total: String,
    pub currency: String,
    /// The cart is gone after this (it moves on with every change).
    pub expires_at: DateTime<Utc>,
    /// Set once the cart was checked out.
    pub order_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Cart> for CartResponse {
    fn from(c: Cart) -> Self {
        let total = c.total().ok().flatten();
        let currency = total
            .map(|t| t.currency().to_string())
            .unwrap_or_else(|| "USD".to_owned());
        CartResponse {
            id: c.id.as_uuid(),
            customer_id: c.customer_id.as_str().to_owned(),
            items: c
                .lines
                .iter()
                .map(|l| CartLineResponse {
                    product_id: l.product_id.as_uuid(),
                    sku: l.sku.to_string(),
                    name: l.name.as_str().to_owned(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price.to_string(),
                    line_total: l.line_total().map(|t| t.to_string()).unwrap_or_default(),
                    currency: l.unit_price.currency().to_string(),
                })
                .collect(),
            total: total.map_or_else(|| "0.00".to_owned(), |t| t.to_string()),
            currency,
            expires_at: c.expires_at,
            order_id: c.order_id.map(|o| o.as_uuid()),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}
