//! Query-string parsing into the domain's typed queries. A known parameter whose value does
//! not parse is 400 `bad_request`; unknown parameters are ignored.

use super::error::ApiError;
use chrono::{DateTime, NaiveDate, Utc};
use emporium_domain::model::{
    AttrFilter, FacetField, OrderQuery, OrderStatus, PageRequest, ProductId, ProductQuery,
    ProductSort, SalesWindow, SearchQuery, SearchSort, Seq, SupplierId, Topic, Units,
};
use emporium_domain::service::LowStockRule;
use rust_decimal::Decimal;
use std::str::FromStr;

/// The raw pairs of a query string, in order.
pub type Pairs = Vec<(String, String)>;

fn bad(name: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("query parameter `{name}`: {message}"))
}

fn last<'a>(pairs: &'a Pairs, name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn parsed<T: FromStr>(pairs: &Pairs, name: &str) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    last(pairs, name)
        .map(|v| v.parse::<T>().map_err(|e| bad(name, format!("`{v}`: {e}"))))
        .transpose()
}

fn non_empty(pairs: &Pairs, name: &str) -> Result<Option<String>, ApiError> {
    match last(pairs, name) {
        Some("") => Err(bad(name, "must not be empty")),
        other => Ok(other.map(str::to_owned)),
    }
}

/// `limit` (1-20, default 5) and `refresh` (default false) of recommendations.
pub fn recommendations(pairs: &Pairs) -> Result<(usize, bool), ApiError> {
    let limit = match parsed::<i64>(pairs, "limit")? {
        None => 5,
        Some(n) if (1..=emporium_domain::service::STORED_RECOMMENDATIONS as i64).contains(&n) => {
            n as usize
        }
        Some(_) => {
            return Err(bad(
                "limit",
                format!(
                    "must be 1 to {}",
                    emporium_domain::service::STORED_RECOMMENDATIONS
                ),
            ))
        }
    };
    Ok((limit, parsed::<bool>(pairs, "refresh")?.unwrap_or(false)))
}

/// `reassign_to` of `DELETE /api/categories/{id}`: a category id or slug.
pub fn reassign_to(pairs: &Pairs) -> Result<Option<String>, ApiError> {
    non_empty(pairs, "reassign_to")
}

/// `rollup`: `tree` (true) or `none` (false, the default).
pub fn rollup_tree(pairs: &Pairs) -> Result<bool, ApiError> {
    match last(pairs, "rollup") {
        None | Some("none") => Ok(false),
        Some("tree") => Ok(true),
        Some(other) => Err(bad("rollup", format!("`{other}` is not one of none, tree"))),
    }
}

/// `limit` (1-500, default 50) and `offset` (>= 0).
pub fn page(pairs: &Pairs) -> Result<PageRequest, ApiError> {
    let limit = parsed::<i64>(pairs, "limit")?;
    let offset = parsed::<i64>(pairs, "offset")?;
    PageRequest::new(limit, offset).map_err(|(name, msg)| bad(name, msg))
}

/// A plain decimal amount (`10`, `9.99`): no sign, exponent or spaces; at most 15 digits
/// before the point and 10 after (far past any price, within what a decimal holds).
fn price(pairs: &Pairs, name: &str) -> Result<Option<Decimal>, ApiError> {
    if let Some(text) = last(pairs, name) {
        let digits = |part: &str, most: usize| {
            (1..=most).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
        };
        let well_formed = match text.split_once('.') {
            Some((whole, fraction)) => digits(whole, 15) && digits(fraction, 10),
            None => digits(text, 15),
        };
        if !well_formed {
            return Err(bad(
                name,
                format!("`{text}` is not a decimal amount like 10 or 9.99 (at most 15 digits before the point and 10 after)"),
            ));
        }
    }
    let value = parsed::<Decimal>(pairs, name)?;
    if value.is_some_and(|d| d.is_sign_negative() && !d.is_zero()) {
        return Err(bad(name, "must not be negative"));
    }
    Ok(value)
}

/// `GET /api/products` (and `/api/products/facets`) filters: the catalog's, plus `q`,
/// `in_stock` and `sort=relevance`. With `q` and no `sort`, results are ranked.
pub fn products(pairs: &Pairs) -> Result<SearchQuery, ApiError> {
    let attributes = pairs
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("attr.").map(|path| (k, path, v)))
        .map(|(k, path, v)| AttrFilter::parse(path, v).map_err(|e| bad(k, e)))
        .collect::<Result<Vec<_>, _>>()?;
    let min_price = price(pairs, "min_price")?;
    let max_price = price(pairs, "max_price")?;
    let supplier_id = parsed::<SupplierId>(pairs, "supplier_id")?;
    let text = last(pairs, "q")
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    if text.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(bad("q", "must be at most 200 characters"));
    }
    let sort = match last(pairs, "sort") {
        Some(s) => SearchSort::parse(s).map_err(|e| bad("sort", e))?,
        None if text.is_some() => SearchSort::Relevance,
        None => SearchSort::By(ProductSort::default()),
    };
    Ok(SearchQuery {
        filter: ProductQuery {
            category: non_empty(pairs, "category")?,
            category_scope: None,
            min_price,
            max_price,
            supplier_id,
            text,
            attributes,
            sort: ProductSort::default(),
            page: page(pairs)?,
        },
        in_stock: parsed::<bool>(pairs, "in_stock")?,
        sort,
    })
}

/// The most facets one request may ask for.
pub const MAX_FACETS: usize = 20;

/// `facets` of `GET /api/products/facets`: comma-separated `category`, `supplier_id`,
/// `price`, `attr.<path>` (default the first three).
pub fn facets(pairs: &Pairs) -> Result<Vec<FacetField>, ApiError> {
    let Some(list) = last(pairs, "facets") else {
        return Ok(FacetField::DEFAULT.to_vec());
    };
    let mut fields: Vec<FacetField> = Vec::new();
    for name in list.split(',').map(str::trim) {
        let field = FacetField::parse(name).map_err(|e| bad("facets", e))?;
        if !fields.contains(&field) {
            fields.push(field);
        }
    }
    if fields.len() > MAX_FACETS {
        return Err(bad("facets", format!("at most {MAX_FACETS} facets")));
    }
    Ok(fields)
}

/// An RFC 3339 timestamp, or a plain date meaning its midnight UTC.
fn timestamp(pairs: &Pairs, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    last(pairs, name)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDate::parse_from_str(v, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
                })
                .map_err(|_| {
                    bad(
                        name,
                        format!("`{v}` is not an RFC 3339 timestamp or a date"),
                    )
                })
        })
        .transpose()
}

/// `GET /api/orders` filters.
pub fn orders(pairs: &Pairs) -> Result<OrderQuery, ApiError> {
    Ok(OrderQuery {
        status: parsed::<OrderStatus>(pairs, "status")?,
        customer_id: non_empty(pairs, "customer_id")?,
        product_id: parsed::<ProductId>(pairs, "product_id")?,
        from: timestamp(pairs, "from")?,
        to: timestamp(pairs, "to")?,
        page: page(pairs)?,
    })
}

/// `from` / `to` of a sales report: `[from, to)`, `to` later than `from`.
pub fn sales_window(pairs: &Pairs) -> Result<SalesWindow, ApiError> {
    let from = timestamp(pairs, "from")?;
    let to = timestamp(pairs, "to")?;
    SalesWindow::new(from, to).map_err(|(name, msg)| bad(name, msg))
}

/// `threshold` of the low-stock report: units (0 to 1,000,000,000); each product's own
/// threshold when absent.
/// `warehouse` of the low-stock report: an id or code.
pub fn warehouse(pairs: &Pairs) -> Result<Option<String>, ApiError> {
    non_empty(pairs, "warehouse")
}

pub fn low_stock(pairs: &Pairs) -> Result<LowStockRule, ApiError> {
    match parsed::<i64>(pairs, "threshold")? {
        Some(n) => Units::try_from(n)
            .map(LowStockRule::AtMost)
            .map_err(|e| bad("threshold", e)),
        None => Ok(LowStockRule::OwnThreshold),
    }
}

/// `GET /api/ws`: `topics` (comma-separated, default all) and `since` (a `seq`).
pub fn feed(pairs: &Pairs) -> Result<(Vec<Topic>, Option<Seq>), ApiError> {
    let topics = match last(pairs, "topics") {
        None => Topic::DEFAULT.to_vec(),
        Some(list) => {
            let mut topics = list
                .split(',')
                .map(|t| t.trim().parse::<Topic>().map_err(|e| bad("topics", e)))
                .collect::<Result<Vec<_>, _>>()?;
            topics.sort();
            topics.dedup();
            topics
        }
    };
    Ok((topics, parsed::<Seq>(pairs, "since")?))
}
