//! Collections, validators and indexes, created idempotently by [`init`].
//!
//! The validators are a second line of defence: the domain validates every value before
//! it reaches the adapter, so a document the store refuses means a bug (or a hand-written
//! insert), and the store keeps its data sound either way.

use crate::codec::decimal_to_bson;
use crate::error::{from_driver, server_code};
use crate::query::SearchMode;
use emporium_domain::Result;
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use rust_decimal::Decimal;

/// The catalog entries.
pub const PRODUCTS: &str = "products";
/// The suppliers.
pub const SUPPLIERS: &str = "suppliers";
/// The name of the text index on products (name, description, tags).
pub const TEXT_INDEX: &str = "products_text";

/// MongoDB's `NamespaceExists`: `create` on a collection that is already there.
const NAMESPACE_EXISTS: i32 = 48;
/// MongoDB's `CannotCreateIndex`, which servers without text search answer.
const CANNOT_CREATE_INDEX: i32 = 67;

/// Creates (or brings up to date) both collections and their indexes, and reports how
/// free-text search can run on this server.
pub async fn init(db: &Database) -> Result<SearchMode> {
    ensure_collection(db, PRODUCTS, products_validator()?).await?;
    ensure_collection(db, SUPPLIERS, suppliers_validator()).await?;
    create_indexes(db, PRODUCTS, product_indexes()).await?;
    create_indexes(db, SUPPLIERS, supplier_indexes()).await?;
    create_indexes(
        db,
        crate::order_queue::ORDER_QUEUE,
        vec![index(
            "state_received_at_id",
            doc! { "state": 1, "received_at": 1, "_id": 1 },
            false,
        )],
    )
    .await?;
    create_indexes(
        db,
        crate::customers::CUSTOMERS,
        vec![
            index("email_key", doc! { "email_key": 1 }, true),
            index("created_at_id", doc! { "created_at": 1, "_id": 1 }, false),
        ],
    )
    .await?;
    create_indexes(
        db,
        crate::reviews::REVIEWS,
        vec![
            index(
                "one_per_customer",
                doc! { "subject_kind": 1, "subject_id": 1, "customer_id": 1 },
                true,
            ),
            index(
                "subject_rating",
                doc! { "subject_kind": 1, "subject_id": 1, "rating": 1 },
                false,
            ),
            index(
                "subject_created_at",
                doc! { "subject_kind": 1, "subject_id": 1, "created_at": -1, "_id": -1 },
                false,
            ),
        ],
    )
    .await?;
    create_indexes(
        db,
        crate::carts::CARTS,
        vec![IndexModel::builder()
            .keys(doc! { "expires_at": 1 })
            .options(
                IndexOptions::builder()
                    .name("expires_at_ttl".to_owned())
                    .expire_after(std::time::Duration::ZERO)
                    .build(),
            )
            .build()],
    )
    .await?;
    ensure_text_index(db).await
}

/// The product validator: the required fields and a non-negative `Decimal128` price.
///
/// `minimum: 0` inside `$jsonSchema` is what MongoDB enforces. The extra top-level
/// `price: {$gte: 0}` says the same as a query expression, because some wire-compatible
/// servers (`secantusdb` 0.7) apply `minimum` to ints and doubles only and would let a
/// negative `Decimal128` through; MongoDB accepts the combination.
pub fn products_validator() -> Result<Document> {
    let zero = decimal_to_bson(Decimal::ZERO)?;
    Ok(doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["name", "sku", "category", "price"],
            "properties": {
                "sku": { "bsonType": "string" },
                "name": { "bsonType": "string" },
                "category": { "bsonType": "string" },
                "price": { "bsonType": "decimal", "minimum": 0 },
                "currency": { "bsonType": "string" },
            },
        },
        "price": { "$gte": zero },
    })
}

/// The supplier validator: the required fields.
pub fn suppliers_validator() -> Document {
    doc! {
        "$jsonSchema": {
            "bsonType": "object",
            "required": ["name", "region"],
            "properties": {
                "name": { "bsonType": "string" },
                "region": { "bsonType": "string" },
            },
        },
    }
}

/// Creates the collection with its validator, or, when it exists, sets the validator with
/// `collMod` so that a newer release's rules reach an older database.
async fn ensure_collection(db: &Database, name: &str, validator: Document) -> Result<()> {
    match db
        .create_collection(name)
        .validator(validator.clone())
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if server_code(&e) == Some(NAMESPACE_EXISTS) => db
            .run_command(doc! { "collMod": name, "validator": validator })
            .await
            .map(drop)
            .map_err(from_driver),
        Err(e) => Err(from_driver(e)),
    }
}

fn index(name: &str, keys: Document, unique: bool) -> IndexModel {
    let options = IndexOptions::builder()
        .name(name.to_owned())
        .unique(unique.then_some(true))
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// Product indexes, each serving one access path of the catalog:
/// `sku` (unique: the SKU is the stock key, two products must never share one);
/// `category` (the category filter); `(category, price)` (a category listing sorted or
/// ranged by price); `supplier_id` (the supplier filter and `count_by_supplier`, asked
/// before every supplier deletion); `(created_at, _id)` (the default order, so a page
/// needs no in-memory sort); `low_stock_threshold` (the highest threshold, for the
/// low-stock report, read from the end of the index).
pub fn product_indexes() -> Vec<IndexModel> {
    vec![
        index("sku_unique", doc! { "sku": 1 }, true),
        index("category", doc! { "category": 1 }, false),
        index("category_price", doc! { "category": 1, "price": 1 }, false),
        index("supplier_id", doc! { "supplier_id": 1 }, false),
        index("categories", doc! { "categories": 1 }, false),
        index("created_at_id", doc! { "created_at": 1, "_id": 1 }, false),
        index(
            "low_stock_threshold",
            doc! { "low_stock_threshold": 1 },
            false,
        ),
    ]
}

/// Supplier indexes: `(created_at, _id)` for the oldest-first listing.
pub fn supplier_indexes() -> Vec<IndexModel> {
    vec![index(
        "created_at_id",
        doc! { "created_at": 1, "_id": 1 },
        false,
    )]
}

/// Creating an index that exists with the same keys and options is a no-op, so this is
/// idempotent.
async fn create_indexes(db: &Database, collection: &str, indexes: Vec<IndexModel>) -> Result<()> {
    db.collection::<Document>(collection)
        .create_indexes(indexes)
        .await
        .map(drop)
        .map_err(from_driver)
}

/// The text index on name, description and tags (a name hit weighs most), or
/// [`SearchMode::Regex`] when the server refuses text indexes with `CannotCreateIndex`.
async fn ensure_text_index(db: &Database) -> Result<SearchMode> {
    let options = IndexOptions::builder()
        .name(TEXT_INDEX.to_owned())
        .weights(doc! { "name": 10, "tags": 5, "description": 1 })
        .build();
    let model = IndexModel::builder()
        .keys(doc! { "name": "text", "description": "text", "tags": "text" })
        .options(options)
        .build();
    match db
        .collection::<Document>(PRODUCTS)
        .create_index(model)
        .await
    {
        Ok(_) => Ok(SearchMode::Text),
        Err(e) if server_code(&e) == Some(CANNOT_CREATE_INDEX) => {
            tracing::info!(
                error = %e,
                "this server cannot build text indexes; free-text search falls back to $regex"
            );
            Ok(SearchMode::Regex)
        }
        Err(e) => Err(from_driver(e)),
    }
}
