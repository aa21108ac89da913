//! Domain values ⇄ BSON, written out by hand rather than derived with serde, so every
//! storage decision is visible in one place:
//!
//! * `_id` (and `supplier_id`) is the UUID as BSON binary subtype 4 ("standard" UUID). It
//!   is 16 bytes instead of a 36-byte string, and BSON orders binaries of equal length and
//!   subtype by their bytes, which is the order of [`uuid::Uuid`], so "ties break by id"
//!   sorts the same here as in memory.
//! * `price` is `Decimal128` and `currency` its sibling string. The decimal goes through its
//!   text form, so `1299.99` is stored as exactly `1299.99`; nothing passes through `f64`.
//! * `attributes` are nested documents (not a JSON string), so `attributes.display.size` is
//!   an indexable, queryable path. JSON integers that fit `i64` are `Int64`, other numbers
//!   `Double`; an integer above `i64::MAX` is stored as an integral `Decimal128`, the only
//!   BSON number that holds it exactly, and read back as the same integer.
//! * Timestamps are BSON `DateTime` (milliseconds), the precision the domain already keeps.
//!
//! Reading is strict: a document that does not decode into valid domain values is an
//! `Internal` error naming the field, never a silently defaulted value.

use crate::error::malformed;
use emporium_domain::model::{
    Attributes, Cart, CartId, CartLine, Category, CategoryId, CategoryNode, Contact, Currency,
    CustomerId, Description, Money, Name, OrderId, Product, ProductId, Quantity, Region, Review,
    ReviewId, ReviewSubject, Sku, Slug, Stars, Supplier, SupplierId, Tag, Timestamp, Units,
    Variant,
};
use emporium_domain::{Error, Result};
use mongodb::bson::{
    doc, spec::BinarySubtype, Array, Binary, Bson, DateTime, Decimal128, Document,
};
use rust_decimal::Decimal;
use serde_json::{Number, Value};
use std::str::FromStr;
use uuid::Uuid;

/// A UUID as BSON binary subtype 4.
pub fn uuid_to_bson(id: Uuid) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Uuid,
        bytes: id.as_bytes().to_vec(),
    })
}

/// The UUID in a BSON binary subtype 4, if that is what `value` is.
pub fn uuid_from_bson(value: &Bson) -> Option<Uuid> {
    match value {
        Bson::Binary(Binary {
            subtype: BinarySubtype::Uuid,
            bytes,
        }) => Uuid::from_slice(bytes).ok(),
        _ => None,
    }
}

/// A decimal as `Decimal128`, through its text form (exact: `Decimal128` holds 34 digits,
/// `rust_decimal` at most 29).
pub fn decimal_to_bson(value: Decimal) -> Result<Bson> {
    Decimal128::from_str(&value.to_string())
        .map(Bson::Decimal128)
        .map_err(|e| Error::Internal(format!("decimal {value} does not fit Decimal128: {e}")))
}

/// A `Decimal128` as a decimal. Its text is plain (`1299.99`) or, for some exponents,
/// scientific (`1.2E+3`); both forms are accepted.
pub fn decimal_from_bson(value: &Decimal128) -> Result<Decimal, String> {
    let text = value.to_string();
    Decimal::from_str_exact(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| format!("`{text}` is not a decimal amount"))
}

/// A timestamp as BSON `DateTime` (millisecond precision, like the domain's [`Timestamp`]).
pub fn time_to_bson(at: Timestamp) -> Bson {
    Bson::DateTime(DateTime::from_millis(at.timestamp_millis()))
}

fn time_from_bson(value: DateTime) -> Result<Timestamp, String> {
    Timestamp::from_timestamp_millis(value.timestamp_millis())
        .ok_or_else(|| format!("{value} is out of range"))
}

/// A JSON value as BSON; see the module documentation for numbers.
pub fn json_to_bson(value: &Value) -> Bson {
    match value {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => number_to_bson(n),
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(items) => Bson::Array(items.iter().map(json_to_bson).collect()),
        Value::Object(map) => Bson::Document(object_to_document(map)),
    }
}

fn number_to_bson(n: &Number) -> Bson {
    if let Some(i) = n.as_i64() {
        return Bson::Int64(i);
    }
    if let Some(u) = n.as_u64() {
        if let Ok(d) = Decimal128::from_str(&u.to_string()) {
            return Bson::Decimal128(d);
        }
    }
    // serde_json numbers are finite, so this is never NaN.
    Bson::Double(n.as_f64().unwrap_or_default())
}

/// A JSON object as a BSON document, keys in the same order.
pub fn object_to_document(map: &serde_json::Map<String, Value>) -> Document {
    map.iter()
        .map(|(k, v)| (k.clone(), json_to_bson(v)))
        .collect()
}

/// BSON written by [`json_to_bson`] back as JSON. Other BSON types (an `ObjectId`, a
/// date, ...) cannot have come from a client's JSON and are refused.
pub fn bson_to_json(value: &Bson) -> Result<Value, String> {
    Ok(match value {
        Bson::Null => Value::Null,
        Bson::Boolean(b) => Value::Bool(*b),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(f) => Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} is not a JSON number"))?,
        Bson::Decimal128(d) => {
            let text = d.to_string();
            text.parse::<u64>()
                .map(Value::from)
                .map_err(|_| format!("decimal {text} is not one this adapter writes"))?
        }
        Bson::String(s) => Value::String(s.clone()),
        Bson::Array(items) => Value::Array(
            items
                .iter()
                .map(bson_to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Bson::Document(d) => Value::Object(document_to_object(d)?),
        other => return Err(format!("unexpected BSON {:?}", other.element_type())),
    })
}

/// A BSON document back as a JSON object.
pub fn document_to_object(d: &Document) -> Result<Attributes, String> {
    d.iter()
        .map(|(k, v)| Ok((k.clone(), bson_to_json(v)?)))
        .collect()
}

/// The stored form of a product.
pub fn product_to_document(p: &Product) -> Result<Document> {
    Ok(doc! {
        "_id": uuid_to_bson(p.id.as_uuid()),
        "sku": p.sku.as_str(),
        "name": p.name.as_str(),
        "description": p.description.as_str(),
        "category": p.category.as_str(),
        "price": decimal_to_bson(p.price.amount())?,
        "currency": p.price.currency().as_str(),
        "low_stock_threshold": i64::from(p.low_stock_threshold.get()),
        "supplier_id": p.supplier_id.map_or(Bson::Null, |s| uuid_to_bson(s.as_uuid())),
        "categories": p.categories.iter().map(|c| uuid_to_bson(c.as_uuid())).collect::<Array>(),
        "tags": p.tags.iter().map(|t| Bson::String(t.as_str().to_owned())).collect::<Array>(),
        "attributes": object_to_document(&p.attributes),
        "variants": p.variants.iter().map(variant_to_bson).collect::<Array>(),
        "created_at": time_to_bson(p.created_at),
        "updated_at": time_to_bson(p.updated_at),
    })
}

fn variant_to_bson(v: &Variant) -> Bson {
    Bson::Document(doc! {
        "sku": v.sku.as_str(),
        "attributes": object_to_document(&v.attributes),
    })
}

/// A stored product back as a domain value.
pub fn product_from_document(d: &Document) -> Result<Product> {
    let f = Fields::new(d, "product");
    let currency = f.parsed("currency", |s| Currency::parse(&s))?;
    let amount = f.decimal("price")?;
    Ok(Product {
        id: ProductId::from_uuid(f.uuid("_id")?),
        sku: f.parsed("sku", Sku::parse)?,
        name: f.parsed("name", Name::parse)?,
        description: f.parsed("description", Description::parse)?,
        category: f.parsed("category", Category::parse)?,
        price: Money::new(amount, currency).map_err(|e| f.error("price", e))?,
        low_stock_threshold: Units::try_from(f.int("low_stock_threshold")?)
            .map_err(|e| f.error("low_stock_threshold", e))?,
        supplier_id: f.optional_uuid("supplier_id")?.map(SupplierId::from_uuid),
        categories: f
            .optional_uuids("categories")?
            .into_iter()
            .map(CategoryId::from_uuid)
            .collect(),
        tags: f
            .strings("tags")?
            .into_iter()
            .map(|t| Tag::parse(t).map_err(|e| f.error("tags", e)))
            .collect::<Result<_>>()?,
        attributes: f.attributes("attributes")?,
        variants: f
            .documents("variants")?
            .into_iter()
            .map(variant_from_document)
            .collect::<Result<_>>()?,
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
    })
}

fn variant_from_document(d: &Document) -> Result<Variant> {
    let f = Fields::new(d, "product variant");
    Ok(Variant {
        sku: f.parsed("sku", Sku::parse)?,
        attributes: f.attributes("attributes")?,
    })
}

/// The stored form of a supplier. Absent contact fields are stored as `null`, so every
/// supplier document has the same shape.
pub fn supplier_to_document(s: &Supplier) -> Document {
    let text = |v: &Option<String>| v.clone().map_or(Bson::Null, Bson::String);
    doc! {
        "_id": uuid_to_bson(s.id.as_uuid()),
        "name": s.name.as_str(),
        "region": s.region.as_str(),
        "contact": { "email": text(&s.contact.email), "phone": text(&s.contact.phone) },
        "created_at": time_to_bson(s.created_at),
        "updated_at": time_to_bson(s.updated_at),
    }
}

/// A stored supplier back as a domain value.
pub fn supplier_from_document(d: &Document) -> Result<Supplier> {
    let f = Fields::new(d, "supplier");
    let contact = match d.get("contact") {
        None | Some(Bson::Null) => Contact::default(),
        Some(Bson::Document(c)) => {
            let c = Fields::new(c, "supplier contact");
            Contact {
                email: c.optional_str("email")?,
                phone: c.optional_str("phone")?,
            }
        }
        Some(_) => return Err(f.error("contact", "is not a document")),
    };
    Ok(Supplier {
        id: SupplierId::from_uuid(f.uuid("_id")?),
        name: f.parsed("name", Name::parse)?,
        region: f.parsed("region", Region::parse)?,
        contact,
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
    })
}

/// The stored form of one category of the tree.
pub fn category_to_document(c: &CategoryNode) -> Document {
    doc! {
        "_id": uuid_to_bson(c.id.as_uuid()),
        "name": c.name.as_str(),
        "slug": c.slug.as_str(),
        "parent_id": c.parent_id.map_or(Bson::Null, |p| uuid_to_bson(p.as_uuid())),
        "created_at": time_to_bson(c.created_at),
        "updated_at": time_to_bson(c.updated_at),
    }
}

/// A stored category back as a domain value.
pub fn category_from_document(d: &Document) -> Result<CategoryNode> {
    let f = Fields::new(d, "category");
    Ok(CategoryNode {
        id: CategoryId::from_uuid(f.uuid("_id")?),
        name: f.parsed("name", Name::parse)?,
        slug: f.parsed("slug", Slug::parse)?,
        parent_id: f.optional_uuid("parent_id")?.map(CategoryId::from_uuid),
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
    })
}

/// The stored form of a cart; `expires_at` carries the TTL index.
pub fn cart_to_document(c: &Cart) -> Result<Document> {
    let lines = c
        .lines
        .iter()
        .map(|l| {
            Ok(Bson::Document(doc! {
                "product_id": uuid_to_bson(l.product_id.as_uuid()),
                "sku": l.sku.as_str(),
                "name": l.name.as_str(),
                "quantity": i64::from(l.quantity.get()),
                "unit_price": decimal_to_bson(l.unit_price.amount())?,
                "currency": l.unit_price.currency().as_str(),
            }))
        })
        .collect::<Result<Array>>()?;
    let version =
        i64::try_from(c.version).map_err(|_| Error::Internal("cart version overflow".into()))?;
    Ok(doc! {
        "_id": uuid_to_bson(c.id.as_uuid()),
        "customer_id": c.customer_id.as_str(),
        "lines": lines,
        "version": version,
        "pending_order": c.pending_order.map_or(Bson::Null, |o| uuid_to_bson(o.as_uuid())),
        "order_id": c.order_id.map_or(Bson::Null, |o| uuid_to_bson(o.as_uuid())),
        "created_at": time_to_bson(c.created_at),
        "updated_at": time_to_bson(c.updated_at),
        "expires_at": time_to_bson(c.expires_at),
    })
}

/// A stored cart back as a domain value.
pub fn cart_from_document(d: &Document) -> Result<Cart> {
    let f = Fields::new(d, "cart");
    let lines = f
        .documents("lines")?
        .into_iter()
        .map(|l| {
            let g = Fields::new(l, "cart line");
            let currency = g.parsed("currency", |s| Currency::parse(&s))?;
            Ok(CartLine {
                product_id: ProductId::from_uuid(g.uuid("product_id")?),
                sku: g.parsed("sku", Sku::parse)?,
                name: g.parsed("name", Name::parse)?,
                quantity: Quantity::new(g.int("quantity")?).map_err(|e| g.error("quantity", e))?,
                unit_price: Money::new(g.decimal("unit_price")?, currency)
                    .map_err(|e| g.error("unit_price", e))?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Cart {
        id: CartId::from_uuid(f.uuid("_id")?),
        customer_id: f.parsed("customer_id", CustomerId::parse)?,
        lines,
        version: u64::try_from(f.int("version")?).map_err(|e| f.error("version", e))?,
        pending_order: f.optional_uuid("pending_order")?.map(OrderId::from_uuid),
        order_id: f.optional_uuid("order_id")?.map(OrderId::from_uuid),
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
        expires_at: f.time("expires_at")?,
    })
}

/// The stored form of a review: the subject as `subject_kind` and `subject_id`.
pub fn review_to_document(r: &Review) -> Document {
    doc! {
        "_id": uuid_to_bson(r.id.as_uuid()),
        "subject_kind": r.subject.kind(),
        "subject_id": uuid_to_bson(r.subject.uuid()),
        "customer_id": r.customer_id.as_str(),
        "rating": i32::from(r.rating.get()),
        "title": r.title.as_ref().map_or(Bson::Null, |t| Bson::String(t.as_str().to_owned())),
        "body": r.body.as_str(),
        "verified_purchase": r.verified_purchase,
        "created_at": time_to_bson(r.created_at),
    }
}

/// A stored review back as a domain value.
pub fn review_from_document(d: &Document) -> Result<Review> {
    let f = Fields::new(d, "review");
    let kind = f.str("subject_kind")?;
    let subject = ReviewSubject::from_parts(kind, f.uuid("subject_id")?).ok_or_else(|| {
        f.error(
            "subject_kind",
            format!("`{kind}` is not product or supplier"),
        )
    })?;
    Ok(Review {
        id: ReviewId::from_uuid(f.uuid("_id")?),
        subject,
        customer_id: f.parsed("customer_id", CustomerId::parse)?,
        rating: Stars::new(f.int("rating")?).map_err(|e| f.error("rating", e))?,
        title: f
            .optional_str("title")?
            .map(|t| Name::parse(t).map_err(|e| f.error("title", e)))
            .transpose()?,
        body: f.parsed("body", Description::parse)?,
        verified_purchase: matches!(d.get("verified_purchase"), Some(Bson::Boolean(true))),
        created_at: f.time("created_at")?,
    })
}

/// Typed, strict access to the fields of a stored document, with errors that name the
/// document kind and the field.
struct Fields<'a> {
    doc: &'a Document,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(doc: &'a Document, what: &'static str) -> Self {
        Fields { doc, what }
    }

    fn error(&self, field: &str, detail: impl std::fmt::Display) -> Error {
        malformed(self.what, format!("`{field}` {detail}"))
    }

    fn get(&self, field: &str) -> Result<&'a Bson> {
        self.doc
            .get(field)
            .ok_or_else(|| self.error(field, "is missing"))
    }

    fn str(&self, field: &str) -> Result<&'a str> {
        match self.get(field)? {
            Bson::String(s) => Ok(s),
            _ => Err(self.error(field, "is not a string")),
        }
    }

    fn optional_str(&self, field: &str) -> Result<Option<String>> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(field, "is not a string")),
        }
    }

    /// A string field run through a domain parser, so stored values obey the same rules
    /// as new ones.
    fn parsed<T>(&self, field: &str, parse: impl FnOnce(String) -> Result<T, String>) -> Result<T> {
        parse(self.str(field)?.to_owned()).map_err(|e| self.error(field, e))
    }

    fn uuid(&self, field: &str) -> Result<Uuid> {
        uuid_from_bson(self.get(field)?).ok_or_else(|| self.error(field, "is not a UUID"))
    }

    fn optional_uuid(&self, field: &str) -> Result<Option<Uuid>> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(None),
            Some(v) => uuid_from_bson(v)
                .map(Some)
                .ok_or_else(|| self.error(field, "is not a UUID")),
        }
    }

    /// An array of UUIDs; a missing field (a document older than the field) is empty.
    fn optional_uuids(&self, field: &str) -> Result<Vec<Uuid>> {
        match self.doc.get(field) {
            None | Some(Bson::Null) => Ok(Vec::new()),
            Some(Bson::Array(items)) => items
                .iter()
                .map(|v| uuid_from_bson(v).ok_or_else(|| self.error(field, "holds a non-UUID")))
                .collect(),
            Some(_) => Err(self.error(field, "is not an array")),
        }
    }

    fn decimal(&self, field: &str) -> Result<Decimal> {
        match self.get(field)? {
            Bson::Decimal128(d) => decimal_from_bson(d).map_err(|e| self.error(field, e)),
            _ => Err(self.error(field, "is not a Decimal128")),
        }
    }

    fn int(&self, field: &str) -> Result<i64> {
        match self.get(field)? {
            Bson::Int32(i) => Ok(i64::from(*i)),
            Bson::Int64(i) => Ok(*i),
            _ => Err(self.error(field, "is not an integer")),
        }
    }

    fn time(&self, field: &str) -> Result<Timestamp> {
        match self.get(field)? {
            Bson::DateTime(t) => time_from_bson(*t).map_err(|e| self.error(field, e)),
            _ => Err(self.error(field, "is not a date")),
        }
    }

    fn array(&self, field: &str) -> Result<&'a Array> {
        match self.get(field)? {
            Bson::Array(items) => Ok(items),
            _ => Err(self.error(field, "is not an array")),
        }
    }

    fn strings(&self, field: &str) -> Result<Vec<String>> {
        self.array(field)?
            .iter()
            .map(|item| match item {
                Bson::String(s) => Ok(s.clone()),
                _ => Err(self.error(field, "holds a value that is not a string")),
            })
            .collect()
    }

    fn documents(&self, field: &str) -> Result<Vec<&'a Document>> {
        self.array(field)?
            .iter()
            .map(|item| match item {
                Bson::Document(d) => Ok(d),
                _ => Err(self.error(field, "holds a value that is not a document")),
            })
            .collect()
    }

    fn attributes(&self, field: &str) -> Result<Attributes> {
        match self.get(field)? {
            Bson::Document(d) => document_to_object(d).map_err(|e| self.error(field, e)),
            _ => Err(self.error(field, "is not a document")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_domain::model::{NewProduct, ProductInput, VariantInput};
    use serde_json::json;

    fn sample_product() -> Product {
        NewProduct::parse(ProductInput {
            sku: Some("LAP-001".into()),
            name: Some("Gaming Laptop".into()),
            description: Some("Fast".into()),
            category: Some("electronics".into()),
            price: Some("1299.9".into()),
            currency: Some("EUR".into()),
            low_stock_threshold: Some(5),
            supplier_id: Some(Some(SupplierId::new())),
            tags: Some(vec!["gaming".into(), "laptop".into()]),
            attributes: Some(json!({
                "cpu": "i7", "ram_gb": 16, "weight_kg": 2.5, "touch": false,
                "huge": u64::MAX, "ports": ["usb", 3], "display": {"size": "15.6in", "hz": 144},
                "none": null
            })),
            variants: Some(vec![VariantInput {
                sku: Some("LAP-001-B".into()),
                attributes: Some(json!({"color": "black"})),
            }]),
            ..ProductInput::default()
        })
        .expect("valid product")
        .product
    }

    #[test]
    fn product_round_trips_exactly() {
        let p = sample_product();
        let stored = product_to_document(&p).expect("encodes");
        assert_eq!(product_from_document(&stored).expect("decodes"), p);
    }

    #[test]
    fn price_is_decimal128_text_never_a_float() {
        let stored = product_to_document(&sample_product()).expect("encodes");
        match stored.get("price") {
            Some(Bson::Decimal128(d)) => assert_eq!(d.to_string(), "1299.90"),
            other => panic!("price stored as {other:?}"),
        }
        assert_eq!(stored.get_str("currency"), Ok("EUR"));
    }

    #[test]
    fn ids_are_standard_uuid_binaries() {
        let id = Uuid::now_v7();
        let bson = uuid_to_bson(id);
        assert!(matches!(
            &bson,
            Bson::Binary(Binary { subtype: BinarySubtype::Uuid, bytes }) if bytes.len() == 16
        ));
        assert_eq!(uuid_from_bson(&bson), Some(id));
        assert_eq!(uuid_from_bson(&Bson::String(id.to_string())), None);
    }

    #[test]
    fn json_numbers_keep_their_kind() {
        assert_eq!(json_to_bson(&json!(16)), Bson::Int64(16));
        assert_eq!(json_to_bson(&json!(-3)), Bson::Int64(-3));
        assert_eq!(json_to_bson(&json!(2.5)), Bson::Double(2.5));
        assert_eq!(json_to_bson(&json!(16.0)), Bson::Double(16.0));
        assert!(matches!(
            json_to_bson(&json!(u64::MAX)),
            Bson::Decimal128(_)
        ));
        for v in [json!(16), json!(16.0), json!(u64::MAX), json!(-0.5)] {
            assert_eq!(bson_to_json(&json_to_bson(&v)), Ok(v));
        }
    }

    #[test]
    fn decimals_read_in_plain_and_scientific_form() {
        let d = |s: &str| decimal_from_bson(&Decimal128::from_str(s).expect("parses"));
        assert_eq!(d("1299.99"), Ok(Decimal::new(129_999, 2)));
        assert_eq!(d("0.00"), Ok(Decimal::new(0, 2)));
        assert_eq!(d("1.2E+3"), Ok(Decimal::new(1200, 0)));
        assert!(d("NaN").is_err());
    }

    #[test]
    fn malformed_documents_name_the_field() {
        let mut stored = product_to_document(&sample_product()).expect("encodes");
        stored.insert("price", 12.5);
        let err = product_from_document(&stored).expect_err("a double price is refused");
        assert!(err.to_string().contains("`price`"), "{err}");
        stored.remove("price");
        let err = product_from_document(&stored).expect_err("a missing price is refused");
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn supplier_round_trips_with_and_without_contact() {
        let mut s =
            emporium_domain::model::NewSupplier::parse(emporium_domain::model::SupplierInput {
                name: Some("Acme".into()),
                region: Some("EU".into()),
                email: Some("sales@acme.test".into()),
                phone: None,
                has_contact: true,
            })
            .expect("valid supplier")
            .0;
        assert_eq!(
            supplier_from_document(&supplier_to_document(&s)).expect("decodes"),
            s
        );
        s.contact = Contact::default();
        assert_eq!(
            supplier_from_document(&supplier_to_document(&s)).expect("decodes"),
            s
        );
    }
}
