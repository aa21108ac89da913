//! Catalog entries: a product with free-form nested attributes and variants.

use super::{
    now, Category, CategoryId, CategoryScope, Currency, Description, Money, Name, PageRequest,
    ProductId, Sku, SupplierId, Tag, Timestamp, Units,
};
use crate::error::{Result, Violations};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Free-form nested attributes (`{"cpu": "i7", "display": {"size": "15.6in"}}`).
/// Keys are `[A-Za-z0-9_]+`, so every attribute path can be queried and indexed safely.
pub type Attributes = Map<String, Value>;

/// The deepest nesting of attributes accepted.
pub const MAX_ATTRIBUTE_DEPTH: usize = 8;
/// The most tags a product may carry.
pub const MAX_TAGS: usize = 50;
/// The most variants a product may carry.
pub const MAX_VARIANTS: usize = 200;

/// A sellable variant of a product (size S in red, ...).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Variant {
    pub sku: Sku,
    pub attributes: Attributes,
}

/// A catalog entry. Its stock lives in the inventory, keyed by `sku`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: Name,
    pub description: Description,
    pub category: Category,
    pub price: Money,
    pub low_stock_threshold: Units,
    pub supplier_id: Option<SupplierId>,
    /// The categories of the tree it belongs to, besides its primary `category`.
    #[serde(default)]
    pub categories: Vec<CategoryId>,
    pub tags: Vec<Tag>,
    pub attributes: Attributes,
    pub variants: Vec<Variant>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Raw product fields as a client sent them; [`NewProduct::parse`] and
/// [`ProductPatch::parse`] turn them into valid values or a list of field errors.
#[derive(Debug, Clone, Default)]
pub struct ProductInput {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    /// Decimal text, e.g. `"1299.99"` (a JSON number's text is accepted too).
    pub price: Option<String>,
    pub currency: Option<String>,
    pub stock: Option<i64>,
    pub low_stock_threshold: Option<i64>,
    /// Outer `None`: absent; `Some(None)`: explicitly null.
    pub supplier_id: Option<Option<SupplierId>>,
    pub tags: Option<Vec<String>>,
    /// Category ids or slugs; the catalog service resolves them against the tree.
    pub categories: Option<Vec<String>>,
    pub attributes: Option<Value>,
    pub variants: Option<Vec<VariantInput>>,
}

/// Raw variant fields.
#[derive(Debug, Clone, Default)]
pub struct VariantInput {
    pub sku: Option<String>,
    pub attributes: Option<Value>,
}

/// A valid product to create, with its initial stock.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub product: Product,
    pub initial_stock: Units,
}

/// A valid partial update. `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<Name>,
    pub description: Option<Description>,
    pub category: Option<Category>,
    pub price: Option<Money>,
    pub low_stock_threshold: Option<Units>,
    pub supplier_id: Option<Option<SupplierId>>,
    pub tags: Option<Vec<Tag>>,
    /// Set by the catalog service once it has resolved the input's references.
    pub categories: Option<Vec<CategoryId>>,
    pub attributes: Option<Attributes>,
    pub variants: Option<Vec<Variant>>,
    /// Sets the units available to sell now (on hand minus reserved).
    pub stock: Option<Units>,
}

fn required<T>(v: &mut Violations, field: &str, value: Option<T>) -> Option<T> {
    if value.is_none() {
        v.push(field, "is required");
    }
    value
}

fn parse_units(value: i64) -> Result<Units, String> {
    Units::try_from(value)
}

fn parse_tags(tags: Vec<String>) -> Result<Vec<Tag>, String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("at most {MAX_TAGS} tags"));
    }
    tags.into_iter()
        .map(|t| Tag::parse(t).map_err(|e| format!("each tag {e}")))
        .collect()
}

/// Attribute keys must be `[A-Za-z0-9_]+` and nesting at most [`MAX_ATTRIBUTE_DEPTH`].
pub fn parse_attributes(value: Value) -> Result<Attributes, String> {
    fn check(value: &Value, depth: usize) -> Result<(), String> {
        if depth > MAX_ATTRIBUTE_DEPTH {
            return Err(format!("must nest at most {MAX_ATTRIBUTE_DEPTH} levels"));
        }
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    if !is_attribute_key(key) {
                        return Err(format!(
                            "key `{key}` must be 1-64 characters of letters, digits and '_'"
                        ));
                    }
                    check(inner, depth + 1)?;
                }
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(|i| check(i, depth + 1)),
            _ => Ok(()),
        }
    }
    match value {
        Value::Object(map) => {
            let value = Value::Object(map);
            check(&value, 1)?;
            match value {
                Value::Object(map) => Ok(map),
                _ => unreachable!("checked above"),
            }
        }
        Value::Null => Ok(Map::new()),
        _ => Err("must be a JSON object".into()),
    }
}

/// True for `[A-Za-z0-9_]{1,64}`: an attribute key or a segment of an attribute path.
pub fn is_attribute_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 64 && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_variants(variants: Vec<VariantInput>, v: &mut Violations) -> Option<Vec<Variant>> {
    if variants.len() > MAX_VARIANTS {
        v.push("variants", format!("at most {MAX_VARIANTS} variants"));
        return None;
    }
    let mut out = Vec::with_capacity(variants.len());
    for (i, variant) in variants.into_iter().enumerate() {
        let sku = match variant.sku {
            Some(s) => v.check(&format!("variants[{i}].sku"), Sku::parse(s)),
            None => {
                v.push(format!("variants[{i}].sku"), "is required");
                None
            }
        };
        let attributes = v.check(
            &format!("variants[{i}].attributes"),
            parse_attributes(variant.attributes.unwrap_or(Value::Null)),
        );
        if let (Some(sku), Some(attributes)) = (sku, attributes) {
            out.push(Variant { sku, attributes });
        }
    }
    Some(out)
}

fn parse_price(v: &mut Violations, price: String, currency: Option<String>) -> Option<Money> {
    let currency = match currency {
        Some(c) => v.check("currency", Currency::parse(&c))?,
        None => Currency::default(),
    };
    v.check("price", Money::parse(&price, currency))
}

impl NewProduct {
    /// Validates every field and reports all problems at once.
    pub fn parse(input: ProductInput) -> Result<NewProduct> {
        let mut v = Violations::new();
        let sku = required(&mut v, "sku", input.sku).and_then(|s| v.check("sku", Sku::parse(s)));
        let name =
            required(&mut v, "name", input.name).and_then(|s| v.check("name", Name::parse(s)));
        let category = required(&mut v, "category", input.category)
            .and_then(|s| v.check("category", Category::parse(s)));
        let price = required(&mut v, "price", input.price)
            .and_then(|p| parse_price(&mut v, p, input.currency));
        let description = v.check(
            "description",
            Description::parse(input.description.unwrap_or_default()),
        );
        let initial_stock = v.check("stock", parse_units(input.stock.unwrap_or(0)));
        let low_stock_threshold = v.check(
            "low_stock_threshold",
            parse_units(input.low_stock_threshold.unwrap_or(0)),
        );
        let tags = v.check("tags", parse_tags(input.tags.unwrap_or_default()));
        let attributes = v.check(
            "attributes",
            parse_attributes(input.attributes.unwrap_or(Value::Null)),
        );
        let variants = parse_variants(input.variants.unwrap_or_default(), &mut v);
        let (
            sku,
            name,
            description,
            category,
            price,
            low_stock_threshold,
            tags,
            attributes,
            variants,
            initial_stock,
        ) = v.finish_with((
            sku,
            name,
            description,
            category,
            price,
            low_stock_threshold,
            tags,
            attributes,
            variants,
            initial_stock,
        ))?;
        let at = now();
        let product = Product {
            id: ProductId::new(),
            sku,
            name,
            description,
            category,
            price,
            low_stock_threshold,
            supplier_id: input.supplier_id.flatten(),
            categories: Vec::new(),
            tags,
            attributes,
            variants,
            created_at: at,
            updated_at: at,
        };
        Ok(NewProduct {
            product,
            initial_stock,
        })
    }
}

impl ProductPatch {
    /// Validates the fields present. `current_sku` is the product's SKU, which cannot change:
    /// a different `sku` in the patch is a validation error.
    pub fn parse(input: ProductInput, current: &Product) -> Result<ProductPatch> {
        let mut v = Violations::new();
        if let Some(sku) = input.sku {
            if sku != current.sku.as_str() {
                v.push("sku", "cannot be changed; create a new product instead");
            }
        }
        let name = input.name.and_then(|s| v.check("name", Name::parse(s)));
        let category = input
            .category
            .and_then(|s| v.check("category", Category::parse(s)));
        let description = input
            .description
            .and_then(|s| v.check("description", Description::parse(s)));
        let price = match (input.price, input.currency) {
            (Some(p), c) => parse_price(
                &mut v,
                p,
                c.or_else(|| Some(current.price.currency().to_string())),
            ),
            (None, Some(c)) => v
                .check("currency", Currency::parse(&c))
                .and_then(|c| v.check("currency", Money::new(current.price.amount(), c))),
            (None, None) => None,
        };
        let stock = input.stock.and_then(|s| v.check("stock", parse_units(s)));
        let low_stock_threshold = input
            .low_stock_threshold
            .and_then(|s| v.check("low_stock_threshold", parse_units(s)));
        let tags = input.tags.and_then(|t| v.check("tags", parse_tags(t)));
        let attributes = input
            .attributes
            .and_then(|a| v.check("attributes", parse_attributes(a)));
        let variants = input.variants.and_then(|vs| parse_variants(vs, &mut v));
        v.finish()?;
        Ok(ProductPatch {
            name,
            description,
            category,
            price,
            low_stock_threshold,
            supplier_id: input.supplier_id,
            tags,
            categories: None,
            attributes,
            variants,
            stock,
        })
    }

    /// True when the patch changes the catalog entry (not only the stock).
    pub fn touches_catalog(&self) -> bool {
        self.name.is_some()
            || self.description.is_some()
            || self.category.is_some()
            || self.price.is_some()
            || self.low_stock_threshold.is_some()
            || self.supplier_id.is_some()
            || self.tags.is_some()
            || self.categories.is_some()
            || self.attributes.is_some()
            || self.variants.is_some()
    }

    /// The product with this patch applied and `updated_at` moved on.
    pub fn apply_to(&self, product: &Product) -> Product {
        let mut p = product.clone();
        if let Some(x) = &self.name {
            p.name = x.clone();
        }
        if let Some(x) = &self.description {
            p.description = x.clone();
        }
        if let Some(x) = &self.category {
            p.category = x.clone();
        }
        if let Some(x) = &self.price {
            p.price = *x;
        }
        if let Some(x) = self.low_stock_threshold {
            p.low_stock_threshold = x;
        }
        if let Some(x) = self.supplier_id {
            p.supplier_id = x;
        }
        if let Some(x) = &self.tags {
            p.tags = x.clone();
        }
        if let Some(x) = &self.categories {
            p.categories = x.clone();
        }
        if let Some(x) = &self.attributes {
            p.attributes = x.clone();
        }
        if let Some(x) = &self.variants {
            p.variants = x.clone();
        }
        p.updated_at = now();
        p
    }
}

/// Match on a nested attribute: `attr.display.size=15.6in`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttrFilter {
    /// Path segments, each `[A-Za-z0-9_]+`.
    pub path: Vec<String>,
    /// The value as the client wrote it.
    pub value: String,
}

impl AttrFilter {
    /// Parses `display.size` and a value; every segment must be `[A-Za-z0-9_]+`.
    pub fn parse(path: &str, value: &str) -> Result<AttrFilter, String> {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.len() > MAX_ATTRIBUTE_DEPTH || !segments.iter().all(|s| is_attribute_key(s)) {
            return Err(format!(
                "attribute path `{path}` must be dot-separated segments of [A-Za-z0-9_]"
            ));
        }
        Ok(AttrFilter {
            path: segments,
            value: value.to_owned(),
        })
    }

    /// The JSON values that count as a match: the text itself, and the number or boolean
    /// it spells (so `attr.ram_gb=16` matches a stored `16`).
    pub fn candidates(&self) -> Vec<Value> {
        let mut out = vec![Value::String(self.value.clone())];
        if let Ok(i) = self.value.parse::<i64>() {
            out.push(Value::from(i));
        } else if let Ok(f) = self.value.parse::<f64>() {
            if f.is_finite() {
                out.push(Value::from(f));
            }
        }
        match self.value.as_str() {
            "true" => out.push(Value::Bool(true)),
            "false" => out.push(Value::Bool(false)),
            _ => {}
        }
        out
    }

    /// True when `attributes` holds a matching value at this path (an array matches when
    /// one of its elements does).
    pub fn matches(&self, attributes: &Attributes) -> bool {
        let mut current: Option<&Value> = attributes.get(&self.path[0]);
        for segment in &self.path[1..] {
            current = current.and_then(|v| v.get(segment));
        }
        let candidates = self.candidates();
        match current {
            Some(Value::Array(items)) => items.iter().any(|i| candidates.contains(i)),
            Some(v) => candidates.contains(v),
            None => false,
        }
    }
}

/// Sort orders offered by `GET /api/products`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductSort {
    /// Oldest first (the default, stable with paging).
    #[default]
    CreatedAt,
    NewestFirst,
    PriceAsc,
    PriceDesc,
    NameAsc,
}

impl ProductSort {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "price" => Ok(ProductSort::PriceAsc),
            "-price" => Ok(ProductSort::PriceDesc),
            "name" => Ok(ProductSort::NameAsc),
            "-created_at" => Ok(ProductSort::NewestFirst),
            "created_at" => Ok(ProductSort::CreatedAt),
            other => Err(format!(
                "`{other}` is not one of price, -price, name, created_at, -created_at"
            )),
        }
    }
}

/// A typed catalog query: adapters build store queries from these values only.
#[derive(Debug, Clone, Default)]
pub struct ProductQuery {
    /// `?category=` as the client wrote it: the primary category to match, unless
    /// `category_scope` is set.
    pub category: Option<String>,
    /// What `category` selects when it names categories of the tree (the catalog
    /// service fills it in): the categories and their descendants.
    pub category_scope: Option<CategoryScope>,
    pub min_price: Option<Decimal>,
    pub max_price: Option<Decimal>,
    pub supplier_id: Option<SupplierId>,
    /// Free text over name, description and tags.
    pub text: Option<String>,
    pub attributes: Vec<AttrFilter>,
    pub sort: ProductSort,
    pub page: PageRequest,
}

impl ProductQuery {
    /// The reference semantics of every filter except paging and sorting; the memory
    /// adapter uses it directly and the contract suite holds other adapters to it.
    pub fn matches(&self, p: &Product) -> bool {
        if let Some(scope) = &self.category_scope {
            let hit = scope.names.iter().any(|n| n == p.category.as_str())
                || p.categories.iter().any(|c| scope.ids.contains(c));
            if !hit {
                return false;
            }
        } else if let Some(c) = &self.category {
            if p.category.as_str() != c {
                return false;
            }
        }
        if let Some(min) = self.min_price {
            if p.price.amount() < min {
                return false;
            }
        }
        if let Some(max) = self.max_price {
            if p.price.amount() > max {
                return false;
            }
        }
        if let Some(s) = self.supplier_id {
            if p.supplier_id != Some(s) {
                return false;
            }
        }
        if let Some(q) = &self.text {
            let q = q.to_lowercase();
            let hit = p.name.as_str().to_lowercase().contains(&q)
                || p.description.as_str().to_lowercase().contains(&q)
                || p.tags
                    .iter()
                    .any(|t| t.as_str().to_lowercase().contains(&q));
            if !hit {
                return false;
            }
        }
        self.attributes.iter().all(|a| a.matches(&p.attributes))
    }
}
