//! Ranked search and facets over the catalog: the queries the search index answers
//! ([`crate::ports::ProductIndex`]) and what it answers with.

use super::{AttrFilter, Money, Product, ProductId, ProductQuery, ProductSort};
use rust_decimal::Decimal;
use serde_json::Value;

/// The order of search results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchSort {
    /// Best match first (BM25); the default when there is text to match. Without text,
    /// every product matches equally and this is the catalog's default order.
    #[default]
    Relevance,
    /// One of the catalog's own orders.
    By(ProductSort),
}

impl SearchSort {
    /// `relevance` or one of [`ProductSort::parse`]'s keys.
    pub fn parse(s: &str) -> Result<SearchSort, String> {
        match s {
            "relevance" => Ok(SearchSort::Relevance),
            other => ProductSort::parse(other).map(SearchSort::By).map_err(|_| {
                format!(
                    "`{other}` is not one of relevance, price, -price, name, created_at, -created_at"
                )
            }),
        }
    }
}

/// A product listing: the catalog's filters, plus what only the search index knows
/// (ranking by text, stock as a filter).
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    /// Filters and page. Its `text` is the words to rank by; its `sort` is unused
    /// (see `sort`).
    pub filter: ProductQuery,
    /// `Some(true)`: only products with units available; `Some(false)`: only those without.
    pub in_stock: Option<bool>,
    pub sort: SearchSort,
}

impl SearchQuery {
    /// True when the catalog alone can answer (no text to rank, no stock filter): the
    /// catalog is always current, the index trails it by the feed's lag.
    pub fn is_plain_listing(&self) -> bool {
        self.filter.text.is_none() && self.in_stock.is_none()
    }

    /// The catalog's query for a plain listing.
    pub fn catalog_query(&self) -> ProductQuery {
        let mut query = self.filter.clone();
        query.sort = match self.sort {
            SearchSort::Relevance => ProductSort::default(),
            SearchSort::By(sort) => sort,
        };
        query
    }
}

/// One search result: a product, and how well it matched the text (`None` without text).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    pub id: ProductId,
    pub score: Option<f32>,
}

/// What the index holds of one product: its catalog entry and whether it can be sold now.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    pub product: Product,
    pub in_stock: bool,
}

/// A facet that `GET /api/products/facets` can count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FacetField {
    Category,
    Supplier,
    Price,
    /// Values at an attribute path (`attr.color`).
    Attribute(Vec<String>),
}

impl FacetField {
    /// The facets counted when a request names none.
    pub const DEFAULT: [FacetField; 3] = [
        FacetField::Category,
        FacetField::Supplier,
        FacetField::Price,
    ];

    /// `category`, `supplier_id`, `price` or `attr.<path>`.
    pub fn parse(name: &str) -> Result<FacetField, String> {
        match name {
            "category" => Ok(FacetField::Category),
            "supplier_id" => Ok(FacetField::Supplier),
            "price" => Ok(FacetField::Price),
            other => match other.strip_prefix("attr.") {
                Some(path) => AttrFilter::parse(path, "").map(|f| FacetField::Attribute(f.path)),
                None => Err(format!(
                    "`{other}` is not one of category, supplier_id, price, attr.<path>"
                )),
            },
        }
    }

    /// The name it has on the wire.
    pub fn name(&self) -> String {
        match self {
            FacetField::Category => "category".into(),
            FacetField::Supplier => "supplier_id".into(),
            FacetField::Price => "price".into(),
            FacetField::Attribute(path) => format!("attr.{}", path.join(".")),
        }
    }
}

/// How many matching products have one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

/// How many matching products cost at least `min` and less than `max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBucket {
    pub min: Decimal,
    pub max: Decimal,
    pub count: u64,
}

/// The counts of one facet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FacetCounts {
    /// Largest count first, ties by value; at most [`MAX_FACET_VALUES`].
    Values(Vec<ValueCount>),
    /// Ascending by price; buckets without products are left out.
    Prices(Vec<PriceBucket>),
}

/// The most values one facet lists.
pub const MAX_FACET_VALUES: usize = 100;

/// The facets of a filter: how many products match, and the counts asked for, in the
/// order they were asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Facets {
    pub total: u64,
    pub counts: Vec<(FacetField, FacetCounts)>,
}

/// Bounds of the price buckets, in cents: 0, 10, 25, 50, 100, 250, ... up to past the
/// largest price money can hold. Fixed rather than fitted to each result, so a bucket
/// means the same range on every request and a client can filter on it.
pub fn price_bucket_bounds() -> Vec<u64> {
    let largest = price_cents_of(super::MAX_AMOUNT);
    let mut bounds = vec![0u64];
    let mut decade = 1_000u64; // 10.00
    loop {
        for bound in [decade, decade * 5 / 2, decade * 5] {
            bounds.push(bound);
            if bound > largest {
                return bounds;
            }
        }
        decade *= 10;
    }
}

/// The amount of `money` in cents (money has two fraction digits and is never negative).
pub fn price_cents(money: &Money) -> u64 {
    price_cents_of(money.amount())
}

fn price_cents_of(amount: Decimal) -> u64 {
    use rust_decimal::prelude::ToPrimitive;
    (amount * Decimal::ONE_HUNDRED)
        .trunc()
        .to_u64()
        .unwrap_or(0)
}

/// Cents to a decimal amount with two fraction digits.
pub fn cents_to_decimal(cents: u64) -> Decimal {
    Decimal::new(cents as i64, 2)
}

/// The scalar values at every attribute path of `attributes`, as `(path, text)`: what the
/// index stores so that [`AttrFilter`] and attribute facets can be answered. A value's
/// text is the string itself, or the JSON text of a number or boolean; an array leaf
/// gives one pair per scalar element, as [`AttrFilter::matches`] reads it.
pub fn attribute_values(attributes: &super::Attributes) -> Vec<(String, String)> {
    fn scalar(value: &Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    walk(&format!("{prefix}.{key}"), inner, out);
                }
            }
            Value::Array(items) => out.extend(
                items
                    .iter()
                    .filter_map(scalar)
                    .map(|s| (prefix.to_owned(), s)),
            ),
            other => out.extend(scalar(other).map(|s| (prefix.to_owned(), s))),
        }
    }
    let mut out = Vec::new();
    for (key, value) in attributes {
        walk(key, value, &mut out);
    }
    out
}

impl AttrFilter {
    /// The texts an index entry may hold at this path for the filter to match (see
    /// [`attribute_values`] and [`AttrFilter::candidates`]).
    pub fn candidate_texts(&self) -> Vec<String> {
        let mut texts: Vec<String> = self
            .candidates()
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        texts.dedup();
        texts
    }
}
