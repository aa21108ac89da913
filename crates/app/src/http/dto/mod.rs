//! Request and response bodies, exactly as the contract names their fields.
//!
//! Requests deserialize into loose shapes (every field optional) and are handed to the
//! domain's parsers, which report every invalid field at once. Responses are built from
//! domain types only.

mod backups;
mod carts;
mod categories;
mod customers;
mod facets;
mod reviews;
mod topology;
mod warehouses;

pub use backups::*;
pub use carts::*;
pub use categories::*;
pub use customers::*;
pub use facets::*;
pub use reviews::*;
pub use topology::*;
pub use warehouses::*;

use chrono::{DateTime, Utc};
use emporium_domain::model::{
    CategorySales, LowStock, Name, Order, OrderInput, OrderItem, Payment, Product, ProductInput,
    Supplier, SupplierInput, Units, VariantInput,
};
use emporium_domain::service::{
    ProductSalesLine, ProductView, RankedProduct, SupplierPerformance, SupplierView,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Accepts a money amount as a JSON string (`"1299.99"`) or number (`1299.99`) and keeps
/// its decimal text: the amount is never held as a binary float.
/// A JSON integer, written as one (`3`) or as a number with no fraction (`3.0`, which
/// JSON Schema counts as an integer too).
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i64>, D::Error> {
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "`{n}` is not a whole number in range"
        ))),
    }
}

fn money_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(serde::de::Error::custom(
            "a money amount must be a decimal string or a number",
        )),
    }
}

/// Tells "absent" (`None`) from "null" (`Some(None)`) for fields a patch may clear.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A product variant.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct VariantBody {
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]+$"
    )]
    pub sku: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
}

/// `POST /api/products` and `PUT /api/products/{id}` (every field optional on PUT).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProductBody {
    #[schema(
        example = "LAP-001",
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9._-]+$"
    )]
    pub sku: Option<String>,
    #[schema(
        example = "Gaming Laptop",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[schema(max_length = 10000, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub description: Option<String>,
    #[schema(
        example = "electronics",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub category: Option<String>,
    /// Decimal string, at most two fraction digits.
    #[serde(default, deserialize_with = "money_text")]
    #[schema(value_type = Option<String>, example = "1299.99", pattern = r"^[0-9]{1,10}(\.[0-9]{1,2})?$")]
    pub price: Option<String>,
    #[schema(example = "USD", pattern = r"^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Units available to sell (on create: initial stock, default 0).
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub stock: Option<i64>,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub low_stock_threshold: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub supplier_id: Option<Option<Uuid>>,
    #[schema(max_items = 50)]
    pub tags: Option<Vec<TagText>>,
    /// Categories of the tree the product belongs to, besides its primary `category`:
    /// each a category id or a slug that names one category.
    #[schema(max_items = 50)]
    pub categories: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Value>,
    #[schema(max_items = 200)]
    pub variants: Option<Vec<VariantBody>>,
}

/// `POST /api/products`: a [`ProductBody`] whose `sku`, `name`, `category` and `price` are
/// required (the same fields are optional on `PUT`, which keeps what is left out).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct NewProductBody(pub ProductBody);

impl utoipa::PartialSchema for NewProductBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        required(
            <ProductBody as utoipa::PartialSchema>::schema(),
            &["sku", "name", "category", "price"],
        )
    }
}

impl ToSchema for NewProductBody {}

/// A search tag: 1-50 characters, no control characters.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct TagText(pub String);

impl utoipa::PartialSchema for TagText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(50))
            .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
            .into()
    }
}

impl ToSchema for TagText {}

impl From<ProductBody> for ProductInput {
    fn from(b: ProductBody) -> Self {
        ProductInput {
            sku: b.sku,
            name: b.name,
            description: b.description,
            category: b.category,
            price: b.price,
            currency: b.currency,
            stock: b.stock,
            low_stock_threshold: b.low_stock_threshold,
            supplier_id: b.supplier_id.map(|s| s.map(Into::into)),
            tags: b.tags.map(|tags| tags.into_iter().map(|t| t.0).collect()),
            categories: b.categories,
            attributes: b.attributes,
            variants: b.variants.map(|vs| {
                vs.into_iter()
                    .map(|v| VariantInput {
                        sku: v.sku,
                        attributes: v.attributes,
                    })
                    .collect()
            }),
        }
    }
}

/// A product with its stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductResponse {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    #[schema(example = "1299.99")]
    pub price: String,
    pub currency: String,
    /// Units available to sell now; `null` when the inventory store is unavailable (the
    /// product is then served from the catalog alone, so browsing survives a ledger outage).
    pub stock: Option<u32>,
    /// Units held by orders in flight; `null` exactly when `stock` is.
    pub reserved: Option<u32>,
    pub low_stock_threshold: u32,
    pub supplier_id: Option<Uuid>,
    /// Ids of the categories of the tree the product belongs to.
    pub categories: Vec<Uuid>,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub attributes: Value,
    pub variants: Vec<VariantBody>,
    /// The mean of its reviews' ratings, rounded half up to two digits; null without
    /// reviews (or while the reviews cannot be read).
    #[schema(example = "4.33")]
    pub rating_average: Option<String>,
    /// How many reviews it has; null only while the reviews cannot be read.
    pub rating_count: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How well the product matched `q` (BM25; higher is better). Present exactly when the
    /// listing had `q`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

impl From<RankedProduct> for ProductResponse {
    fn from(ranked: RankedProduct) -> Self {
        ProductResponse {
            score: ranked.score,
            ..ProductResponse::from(ranked.view)
        }
    }
}

impl From<ProductView> for ProductResponse {
    fn from(view: ProductView) -> Self {
        let (stock, reserved) = view.live_stock().unzip();
        let rating = view.rating;
        let p: Product = view.product;
        ProductResponse {
            id: p.id.as_uuid(),
            sku: p.sku.to_string(),
            name: p.name.into_inner(),
            description: p.description.into_inner(),
            category: p.category.into_inner(),
            price: p.price.to_string(),
            currency: p.price.currency().to_string(),
            stock,
            reserved,
            low_stock_threshold: p.low_stock_threshold.get(),
            supplier_id: p.supplier_id.map(|s| s.as_uuid()),
            categories: p.categories.iter().map(|c| c.as_uuid()).collect(),
            tags: p.tags.into_iter().map(|t| t.into_inner()).collect(),
            attributes: Value::Object(p.attributes),
            variants: p
                .variants
                .into_iter()
                .map(|v| VariantBody {
                    sku: Some(v.sku.to_string()),
                    attributes: Some(Value::Object(v.attributes)),
                })
                .collect(),
            rating_average: rating.and_then(|r| r.average()).map(|a| a.to_string()),
            rating_count: rating.map(|r| r.count),
            created_at: p.created_at,
            updated_at: p.updated_at,
            score: None,
        }
    }
}

/// Supplier contact details.
#[derive(Debug, Deserialize, Serialize, ToSchema, Default)]
pub struct ContactBody {
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*@[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub email: Option<String>,
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub phone: Option<String>,
}

/// `POST /api/suppliers` and `PUT /api/suppliers/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SupplierBody {
    #[schema(
        example = "Acme Components",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "object_or_null")]
    pub contact: Option<ContactBody>,
    #[schema(
        example = "EU",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub region: Option<String>,
}

/// `POST /api/suppliers`: a [`SupplierBody`] whose `name` and `region` are required (`PUT`
/// keeps what is left out).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct NewSupplierBody(pub SupplierBody);

impl utoipa::PartialSchema for NewSupplierBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        required(
            <SupplierBody as utoipa::PartialSchema>::schema(),
            &["name", "region"],
        )
    }
}

impl ToSchema for NewSupplierBody {}

/// `schema` with `fields` required and not nullable (the server refuses them missing or
/// `null` on create, while an update keeps what is missing or `null`).
fn required(
    mut schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
    fields: &[&str],
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.required = fields.iter().map(|f| f.to_string()).collect();
        for field in fields {
            if let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(*field) {
                if let SchemaType::Array(types) = &property.schema_type {
                    let types: Vec<Type> = types
                        .iter()
                        .filter(|t| **t != Type::Null)
                        .cloned()
                        .collect();
                    if let [only] = types.as_slice() {
                        property.schema_type = SchemaType::Type(only.clone());
                    }
                }
            }
        }
    }
    schema
}

/// An optional JSON object: absent or `null` is `None`; anything but an object is refused
/// (serde would otherwise also read a struct from an array).
fn object_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(object @ Value::Object(_)) => serde_json::from_value(object)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(_) => Err(serde::de::Error::custom("expected a JSON object")),
    }
}

impl From<SupplierBody> for SupplierInput {
    fn from(b: SupplierBody) -> Self {
        let has_contact = b.contact.is_some();
        let contact = b.contact.unwrap_or_default();
        SupplierInput {
            name: b.name,
            region: b.region,
            email: contact.email,
            phone: contact.phone,
            has_contact,
        }
    }
}

/// A supplier; `products` only on `GET /api/suppliers/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierResponse {
    pub id: Uuid,
    pub name: String,
    pub contact: ContactBody,
    pub region: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<ProductSummary>>,
    /// On `GET /api/suppliers/{id}`: the mean rating of its reviews (null without any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating_average: Option<Option<String>>,
    /// On `GET /api/suppliers/{id}`: how many reviews it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating_count: Option<u64>,
}

/// A catalog entry as listed under its supplier.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductSummary {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price: String,
    pub currency: String,
}

impl From<&Product> for ProductSummary {
    fn from(p: &Product) -> Self {
        ProductSummary {
            id: p.id.as_uuid(),
            sku: p.sku.to_string(),
            name: p.name.to_string(),
            category: p.category.to_string(),
            price: p.price.to_string(),
            currency: p.price.currency().to_string(),
        }
    }
}

impl From<Supplier> for SupplierResponse {
    fn from(s: Supplier) -> Self {
        SupplierResponse {
            id: s.id.as_uuid(),
            name: s.name.into_inner(),
            contact: ContactBody {
                email: s.contact.email,
                phone: s.contact.phone,
            },
            region: s.region.into_inner(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            products: None,
            rating_average: None,
            rating_count: None,
        }
    }
}

impl From<SupplierView> for SupplierResponse {
    fn from(v: SupplierView) -> Self {
        let products = v.products.iter().map(ProductSummary::from).collect();
        SupplierResponse {
            products: Some(products),
            rating_average: v.rating.map(|r| r.average().map(|a| a.to_string())),
            rating_count: v.rating.map(|r| r.count),
            ..SupplierResponse::from(v.supplier)
        }
    }
}

/// One line of an order request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderLineBody {
    #[schema(required = true, nullable = false)]
    pub product_id: Option<Uuid>,
    #[schema(
        required = true,
        nullable = false,
        example = 2,
        minimum = 1,
        maximum = 1_000_000
    )]
    pub quantity: Option<i64>,
}

/// How the customer pays.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PaymentBody {
    #[schema(example = "card", pattern = "^card$")]
    pub method: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        example = "tok_visa",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub token: Option<String>,
}

/// `POST /api/orders`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderBody {
    #[schema(
        required = true,
        nullable = false,
        example = "cust-42",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub customer_id: Option<String>,
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub customer_name: Option<String>,
    #[schema(required = true, nullable = false, min_items = 1, max_items = 100)]
    pub items: Option<Vec<OrderLineBody>>,
    #[schema(required = true, nullable = false)]
    #[serde(default, deserialize_with = "object_or_null")]
    pub payment: Option<PaymentBody>,
}

impl From<OrderBody> for OrderInput {
    fn from(b: OrderBody) -> Self {
        let has_payment = b.payment.is_some();
        let (payment_method, payment_token) = b
            .payment
            .map(|p| (p.method, p.token))
            .unwrap_or((None, None));
        OrderInput {
            customer_id: b.customer_id,
            customer_name: b.customer_name,
            items: b.items.map(|items| {
                items
                    .into_iter()
                    .map(|l| (l.product_id.map(Into::into), l.quantity))
                    .collect()
            }),
            payment_method,
            payment_token,
            has_payment,
        }
    }
}

/// `PUT /api/orders/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OrderStatusBody {
    #[schema(
        required = true,
        nullable = false,
        example = "shipped",
        pattern = "^(shipped|delivered|cancelled)$"
    )]
    pub status: Option<String>,
}

/// An order line with its snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderItemResponse {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub category: String,
    /// The product's supplier when the order was placed.
    pub supplier_id: Option<Uuid>,
    pub quantity: u32,
    pub unit_price: String,
    pub line_total: String,
}

impl From<OrderItem> for OrderItemResponse {
    fn from(i: OrderItem) -> Self {
        OrderItemResponse {
            product_id: i.product_id.as_uuid(),
            sku: i.sku.to_string(),
            name: i.name.into_inner(),
            category: i.category.into_inner(),
            supplier_id: i.supplier_id.map(|s| s.as_uuid()),
            quantity: i.quantity.get(),
            unit_price: i.unit_price.to_string(),
            line_total: i.line_total.to_string(),
        }
    }
}

/// The payment of an order.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentResponse {
    pub id: Uuid,
    /// `authorized`, `declined`, `voided` or `refunded`.
    pub status: String,
    pub amount: String,
    pub currency: String,
    pub method: String,
}

impl From<Payment> for PaymentResponse {
    fn from(p: Payment) -> Self {
        PaymentResponse {
            id: p.id.as_uuid(),
            status: p.status.to_string(),
            amount: p.amount.to_string(),
            currency: p.amount.currency().to_string(),
            method: p.method,
        }
    }
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderResponse {
    pub id: Uuid,
    pub customer_id: String,
    pub customer_name: Option<String>,
    /// `queued`, `pending`, `confirmed`, `shipped`, `delivered`, `cancelled` or `failed`.
    pub status: String,
    pub items: Vec<OrderItemResponse>,
    pub total: String,
    pub currency: String,
    pub payment: Option<PaymentResponse>,
    /// Why a `failed` order failed, when that was recorded (a queued order refused when
    /// it was placed: stock ran out, the payment was declined).
    pub failure_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Order> for OrderResponse {
    fn from(o: Order) -> Self {
        OrderResponse {
            id: o.id.as_uuid(),
            customer_id: o.customer_id.into_inner(),
            customer_name: o.customer_name.map(|n| n.into_inner()),
            status: o.status.to_string(),
            items: o.items.into_iter().map(Into::into).collect(),
            total: o.total.to_string(),
            currency: o.total.currency().to_string(),
            payment: o.payment.map(Into::into),
            failure_reason: o.failure_reason,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// One line of `GET /api/reports/sales-by-product`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductSalesResponse {
    pub product_id: Uuid,
    pub sku: String,
    /// The product's name now; null once it has left the catalog.
    pub name: Option<String>,
    pub units: u64,
    #[schema(example = "1299.99")]
    pub revenue: String,
    #[schema(example = "USD")]
    pub currency: String,
}

impl From<ProductSalesLine> for ProductSalesResponse {
    fn from(line: ProductSalesLine) -> Self {
        ProductSalesResponse {
            product_id: line.sales.product_id.as_uuid(),
            sku: line.sales.sku.to_string(),
            name: line.name.map(Name::into_inner),
            units: line.sales.units,
            revenue: line.sales.revenue.amount().to_string(),
            currency: line.sales.revenue.currency().to_string(),
        }
    }
}

/// One line of `GET /api/reports/sales-by-category`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategorySalesResponse {
    /// The category the lines had when their orders were placed; with `rollup=tree`,
    /// the slug of the tree's category.
    pub category: String,
    /// With `rollup=tree`: the category's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_id: Option<Uuid>,
    /// With `rollup=tree`: the slugs from the root down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub units: u64,
    #[schema(example = "1299.99")]
    pub revenue: String,
    #[schema(example = "USD")]
    pub currency: String,
}

impl From<CategorySales> for CategorySalesResponse {
    fn from(sales: CategorySales) -> Self {
        CategorySalesResponse {
            category: sales.category.into_inner(),
            category_id: None,
            path: None,
            units: sales.units,
            revenue: sales.revenue.amount().to_string(),
            currency: sales.revenue.currency().to_string(),
        }
    }
}

impl From<emporium_domain::service::CategoryRollup> for CategorySalesResponse {
    fn from(r: emporium_domain::service::CategoryRollup) -> Self {
        CategorySalesResponse {
            category: r.category.slug.to_string(),
            category_id: Some(r.category.id.as_uuid()),
            path: Some(r.path),
            units: r.units,
            revenue: r.revenue.amount().to_string(),
            currency: r.revenue.currency().to_string(),
        }
    }
}

/// One line of `GET /api/reports/low-stock`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LowStockResponse {
    pub product_id: Uuid,
    pub sku: String,
    /// Null once the product has left the catalog.
    pub name: Option<String>,
    /// Units available to sell now (on hand minus reserved).
    pub stock: u32,
    /// The product's own threshold; null once it has left the catalog.
    pub low_stock_threshold: Option<u32>,
    /// With `warehouse`: the warehouse these units are in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<Uuid>,
    /// With `warehouse`: its code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse_code: Option<String>,
}

impl From<LowStock> for LowStockResponse {
    fn from(low: LowStock) -> Self {
        LowStockResponse {
            product_id: low.level.product_id.as_uuid(),
            stock: low.level.available(),
            sku: low.level.sku.to_string(),
            name: low.name.map(Name::into_inner),
            low_stock_threshold: low.low_stock_threshold.map(Units::get),
            warehouse_id: None,
            warehouse_code: None,
        }
    }
}

impl From<(emporium_domain::model::WarehouseLevel, Option<Product>)> for LowStockResponse {
    fn from((level, product): (emporium_domain::model::WarehouseLevel, Option<Product>)) -> Self {
        LowStockResponse {
            product_id: level.product_id.as_uuid(),
            stock: level.available(),
            sku: level.sku.to_string(),
            name: product.as_ref().map(|p| p.name.as_str().to_owned()),
            low_stock_threshold: product.as_ref().map(|p| p.low_stock_threshold.get()),
            warehouse_id: Some(level.warehouse_id.as_uuid()),
            warehouse_code: Some(level.code.to_string()),
        }
    }
}

/// One line of `GET /api/reports/supplier-performance`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SupplierPerformanceResponse {
    pub supplier_id: Uuid,
    /// Null once the supplier has been deleted.
    pub name: Option<String>,
    /// Catalog products that name the supplier now.
    pub products: u64,
    /// Units sold of the supplier's products.
    pub units: u64,
    #[schema(example = "1299.99")]
    pub revenue: String,
    #[schema(example = "USD")]
    pub currency: String,
    /// Sales with at least one line of the supplier's.
    pub orders: u64,
    pub delivered_orders: u64,
    /// `delivered_orders / orders`, from 0 to 1.
    pub delivered_share: f64,
    /// Mean hours from confirmation to delivery; null until an order is delivered.
    pub mean_hours_to_delivery: Option<f64>,
}

impl From<SupplierPerformance> for SupplierPerformanceResponse {
    fn from(p: SupplierPerformance) -> Self {
        SupplierPerformanceResponse {
            supplier_id: p.sales.supplier_id.as_uuid(),
            name: p.name.map(Name::into_inner),
            products: p.products,
            units: p.sales.units,
            revenue: p.sales.revenue.amount().to_string(),
            currency: p.sales.revenue.currency().to_string(),
            orders: p.sales.orders,
            delivered_orders: p.sales.delivered_orders,
            delivered_share: p.sales.delivered_share(),
            mean_hours_to_delivery: p.sales.mean_hours_to_delivery(),
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageBody<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

impl<T> PageBody<T> {
    pub fn from_page<U>(page: emporium_domain::model::Page<U>, f: impl FnMut(U) -> T) -> Self {
        let page = page.map(f);
        PageBody {
            items: page.items,
            total: page.total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// The `error` object of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// Code, message, and per-code details.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "validation_failed")]
    pub code: String,
    pub message: String,
    /// `[{field, message}]` for 422; `[{product_id, requested, available}]` for
    /// `insufficient_stock`; `[{product_id, old, new, currency}]` for `price_changed`;
    /// `[{from, to}]` for `invalid_transition`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub details: Option<Value>,
    /// The failed order, for `payment_declined`.
    pub order_id: Option<Uuid>,
    /// The job already running, for a `conflict` on a backup, restore, snapshot or PITR.
    pub job_id: Option<Uuid>,
}
