//! Builders and readers the cases share: products, suppliers, orders and requests with
//! unique SKUs, and the stock level of a product.

use emporium_domain::model::{
    now, Category, Contact, Currency, Description, Money, Name, NewOrder, OrderId, OrderItem,
    OrderRequest, PageRequest, PaymentToken, Product, ProductId, Quantity, Region, Sku, Supplier,
    SupplierId, Tag, Units, Variant,
};
use emporium_domain::ports::Stores;
use serde_json::json;

pub(super) fn usd(amount: &str) -> Money {
    Money::parse(amount, Currency::USD).expect("valid money")
}

/// A unique SKU per call, so cases never collide even on a shared store.
pub fn unique_sku(prefix: &str) -> Sku {
    Sku::parse(format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
    .expect("valid sku")
}

/// A product with every field set.
pub fn product(name: &str, category: &str, price: &str) -> Product {
    let at = now();
    Product {
        id: ProductId::new(),
        sku: unique_sku("SKU"),
        name: Name::parse(name).unwrap(),
        description: Description::parse(format!("The {name}, described")).unwrap(),
        category: Category::parse(category).unwrap(),
        price: usd(price),
        low_stock_threshold: Units::new(3).unwrap(),
        supplier_id: None,
        categories: Vec::new(),
        tags: vec![Tag::parse("featured").unwrap()],
        attributes:
            json!({"color": "red", "ram_gb": 16, "display": {"size": "15.6in", "hdr": true}})
                .as_object()
                .unwrap()
                .clone(),
        variants: vec![Variant {
            sku: unique_sku("VAR"),
            attributes: json!({"size": "S"}).as_object().unwrap().clone(),
        }],
        created_at: at,
        updated_at: at,
    }
}

pub(super) fn supplier(name: &str) -> Supplier {
    let at = now();
    Supplier {
        id: SupplierId::new(),
        name: Name::parse(name).unwrap(),
        contact: Contact {
            email: Some("sales@example.com".into()),
            phone: None,
        },
        region: Region::parse("EU").unwrap(),
        created_at: at,
        updated_at: at,
    }
}

/// Stores a product in the catalog with `stock` units on hand.
pub async fn stocked(stores: &Stores, name: &str, price: &str, stock: u32) -> Product {
    let p = product(name, "electronics", price);
    stores.catalog.insert(&p).await.expect("insert product");
    stores
        .inventory
        .create_stock(&p.sku, p.id, Units::new(stock).unwrap())
        .await
        .expect("create stock");
    p
}

/// A priced order for `lines` of `(product, quantity)`.
pub fn new_order(customer: &str, lines: &[(&Product, u32)]) -> NewOrder {
    let items: Vec<OrderItem> = lines
        .iter()
        .map(|(p, q)| OrderItem {
            product_id: p.id,
            sku: p.sku.clone(),
            name: p.name.clone(),
            category: p.category.clone(),
            supplier_id: p.supplier_id,
            quantity: Quantity::new(*q as i64).unwrap(),
            unit_price: p.price,
            line_total: p.price.times(*q).unwrap(),
        })
        .collect();
    let total = items.iter().skip(1).fold(items[0].line_total, |acc, i| {
        acc.plus(&i.line_total).unwrap()
    });
    NewOrder {
        id: OrderId::new(),
        customer_id: emporium_domain::model::CustomerId::parse(customer).unwrap(),
        customer_name: None,
        items,
        total,
        created_at: now(),
    }
}

pub(super) async fn available(stores: &Stores, p: &Product) -> u32 {
    stores
        .inventory
        .stock(&p.sku)
        .await
        .unwrap()
        .expect("stock record")
        .available()
}

pub(crate) async fn level(stores: &Stores, p: &Product) -> (u32, u32) {
    let s = stores.inventory.stock(&p.sku).await.unwrap().unwrap();
    (s.on_hand, s.reserved)
}

pub(super) fn page(limit: u32, offset: u64) -> PageRequest {
    PageRequest { limit, offset }
}

pub(crate) fn order_request(lines: &[(&Product, u32)], token: &str) -> OrderRequest {
    OrderRequest {
        customer_id: emporium_domain::model::CustomerId::parse("saga-cust").unwrap(),
        customer_name: None,
        lines: lines
            .iter()
            .map(|(p, q)| (p.id, Quantity::new(*q as i64).unwrap()))
            .collect(),
        payment: PaymentToken {
            method: "card".into(),
            token: token.into(),
        },
    }
}
