//! What the index holds of a product, field by field.

use emporium_domain::model::{attribute_values, price_cents, IndexEntry};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STRING,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::TantivyDocument;

/// The analyzer of the text fields and of query text: words split on anything that is
/// not a letter or digit, lower-cased, accents folded (`Café` finds `cafe`), words longer
/// than 40 bytes dropped. No stemming: prefix and typo matching already widen recall,
/// and stemming would need a language per product.
pub const ANALYZER: &str = "product_text";

pub const ID_HIGH: &str = "id_high";
pub const ID_LOW: &str = "id_low";
pub const CREATED: &str = "created";
pub const PRICE: &str = "price";
pub const NAME_SORT: &str = "name_sort";
pub const CATEGORY: &str = "category";
pub const SUPPLIER: &str = "supplier";
pub const ATTR_VALUES: &str = "attr_values";

pub struct Fields {
    /// The product id as text: the term that replaces or deletes an entry.
    pub id: Field,
    /// The id's two halves (fast), to read ids of hits and to break ties.
    pub id_high: Field,
    pub id_low: Field,
    pub name: Field,
    pub description: Field,
    pub tags: Field,
    /// Every attribute value, as text to search.
    pub attrs: Field,
    /// The name as it is, for sorting by name.
    pub name_sort: Field,
    pub category: Field,
    /// The ids of the categories of the tree the product belongs to.
    pub category_ids: Field,
    pub supplier: Field,
    /// Cents, for price filters, buckets and sorting.
    pub price: Field,
    /// Creation time in milliseconds since the epoch.
    pub created: Field,
    /// 1 when units are available, else 0.
    pub in_stock: Field,
    /// `path=value` for every attribute value ([`attr_term`]), for attribute filters and
    /// facets.
    pub attr_values: Field,
}

pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

pub fn build() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        id: builder.add_text_field("id", STRING),
        id_high: builder.add_u64_field(ID_HIGH, FAST),
        id_low: builder.add_u64_field(ID_LOW, FAST),
        name: builder.add_text_field("name", text.clone()),
        description: builder.add_text_field("description", text.clone()),
        tags: builder.add_text_field("tags", text.clone()),
        attrs: builder.add_text_field("attrs", text),
        name_sort: builder.add_text_field(NAME_SORT, STRING | FAST),
        category: builder.add_text_field(CATEGORY, STRING | FAST),
        category_ids: builder.add_text_field("category_ids", STRING),
        supplier: builder.add_text_field(SUPPLIER, STRING | FAST),
        price: builder.add_u64_field(PRICE, INDEXED | FAST),
        created: builder.add_u64_field(CREATED, FAST),
        in_stock: builder.add_u64_field("in_stock", INDEXED),
        attr_values: builder.add_text_field(ATTR_VALUES, STRING | FAST),
    };
    (builder.build(), fields)
}

/// The term of one attribute value: `display.size=15.6in`. Paths are `[A-Za-z0-9_.]`, so
/// the first `=` always ends the path.
pub fn attr_term(path: &str, value: &str) -> String {
    format!("{path}={value}")
}

pub fn document(f: &Fields, entry: &IndexEntry) -> TantivyDocument {
    let p = &entry.product;
    let mut doc = TantivyDocument::default();
    let (high, low) = p.id.as_uuid().as_u64_pair();
    doc.add_text(f.id, p.id.to_string());
    doc.add_u64(f.id_high, high);
    doc.add_u64(f.id_low, low);
    doc.add_text(f.name, p.name.as_str());
    doc.add_text(f.description, p.description.as_str());
    for tag in &p.tags {
        doc.add_text(f.tags, tag.as_str());
    }
    for (path, value) in attribute_values(&p.attributes) {
        doc.add_text(f.attrs, &value);
        doc.add_text(f.attr_values, attr_term(&path, &value));
    }
    doc.add_text(f.name_sort, p.name.as_str());
    doc.add_text(f.category, p.category.as_str());
    for c in &p.categories {
        doc.add_text(f.category_ids, c.to_string());
    }
    if let Some(supplier) = p.supplier_id {
        doc.add_text(f.supplier, supplier.to_string());
    }
    doc.add_u64(f.price, price_cents(&p.price));
    doc.add_u64(f.created, p.created_at.timestamp_millis().max(0) as u64);
    doc.add_u64(f.in_stock, u64::from(entry.in_stock));
    doc
}

/// `min_price` / `max_price` (both inclusive) as an inclusive range of cents: the least
/// cent at or above `min`, the greatest at or below `max`. `None` when no price fits.
pub fn price_range(min: Option<Decimal>, max: Option<Decimal>) -> Option<(u64, u64)> {
    // Beyond u64 cents is beyond any price; below zero is below every price.
    let cents = |d: Decimal, round: fn(&Decimal) -> Decimal| {
        if d.is_sign_negative() {
            return 0;
        }
        d.checked_mul(Decimal::ONE_HUNDRED)
            .and_then(|c| round(&c).to_u64())
            .unwrap_or(u64::MAX)
    };
    let low = min.map_or(0, |min| cents(min, Decimal::ceil));
    let high = max.map_or(u64::MAX, |max| cents(max, Decimal::floor));
    (low <= high && !max.is_some_and(|m| m.is_sign_negative() && !m.is_zero()))
        .then_some((low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_bounds_round_inwards_to_whole_cents() {
        let d = |s: &str| s.parse::<Decimal>().ok();
        assert_eq!(price_range(d("9.991"), d("10.009")), Some((1000, 1000)));
        assert_eq!(price_range(d("10"), None), Some((1000, u64::MAX)));
        assert_eq!(price_range(None, d("0")), Some((0, 0)));
        assert_eq!(price_range(d("10.001"), d("10.009")), None);
        assert_eq!(price_range(d("5"), d("4")), None);
        // Beyond any price: everything / nothing, never an overflow.
        assert_eq!(
            price_range(None, d("70000000000000000000000000000")),
            Some((0, u64::MAX))
        );
        assert_eq!(
            price_range(d("70000000000000000000000000000"), None),
            Some((u64::MAX, u64::MAX))
        );
    }
}
