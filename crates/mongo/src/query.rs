//! Store queries built from a typed [`ProductQuery`].
//!
//! Every value a client sent ends up in a position where MongoDB reads it as a *value*,
//! never as an operator or a field name:
//!
//! * `category`, attribute values and ids are BSON strings, numbers, booleans or binaries
//!   under a field name this module chose. A client who sends `{"$gt": ""}` sends a
//!   string, and a string is compared, not evaluated.
//! * Attribute paths are `[A-Za-z0-9_]+` segments (checked by [`AttrFilter::parse`]) under
//!   the fixed `attributes.` prefix, so they cannot name an operator or another field.
//! * Free text is either the `$search` string of `$text` or a `$regex` whose pattern is
//!   the text with every regex metacharacter escaped ([`escape_regex`]).
//! * Prices are `Decimal128` built from `rust_decimal` values.

use crate::codec::{decimal_to_bson, json_to_bson, uuid_to_bson};
use emporium_domain::model::{AttrFilter, ProductQuery, ProductSort};
use emporium_domain::Result;
use mongodb::bson::{doc, Bson, Document, Regex};

/// How `q` (free text over name, description and tags) is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchMode {
    /// `$text` over the text index on name, description and tags: fast and ranked by
    /// words, but it matches whole (stemmed) words, not any substring.
    Text,
    /// A case-insensitive `$regex` over the three fields: what
    /// [`ProductQuery::matches`] describes (substring, any case), but it reads every
    /// candidate document. Used where the server cannot build a text index.
    Regex,
}

impl SearchMode {
    /// A short description for logs.
    pub fn describe(self) -> &'static str {
        match self {
            SearchMode::Text => "$text over the text index",
            SearchMode::Regex => "case-insensitive $regex (no text index on this server)",
        }
    }
}

/// The fields `q` searches, as [`ProductQuery::matches`] lists them.
pub const TEXT_FIELDS: [&str; 3] = ["name", "description", "tags"];

/// The filter for `query`, or `None` when nothing can match and the store need not be
/// asked.
///
/// Names, descriptions and tags never contain control characters (the domain refuses
/// them), so a `q` that holds one matches nothing. Answering that here also keeps a NUL,
/// which a BSON regex pattern cannot hold, away from the driver.
pub fn product_filter(query: &ProductQuery, mode: SearchMode) -> Result<Option<Document>> {
    let mut clauses: Vec<Document> = Vec::new();
    if let Some(scope) = &query.category_scope {
        let names: Vec<Bson> = scope.names.iter().cloned().map(Bson::String).collect();
        let ids: Vec<Bson> = scope
            .ids
            .iter()
            .map(|c| uuid_to_bson(c.as_uuid()))
            .collect();
        clauses.push(doc! { "$or": [
            { "category": { "$in": names } },
            { "categories": { "$in": ids } },
        ] });
    } else if let Some(category) = &query.category {
        clauses.push(doc! { "category": Bson::String(category.clone()) });
    }
    if let Some(range) = price_range(query)? {
        clauses.push(doc! { "price": range });
    }
    if let Some(supplier) = query.supplier_id {
        clauses.push(doc! { "supplier_id": uuid_to_bson(supplier.as_uuid()) });
    }
    if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
        if text.chars().any(char::is_control) {
            return Ok(None);
        }
        clauses.push(text_clause(text, mode));
    }
    clauses.extend(query.attributes.iter().map(attribute_clause));
    Ok(Some(combine(clauses)))
}

/// One document for all clauses. `$and` rather than merged keys, so two filters on the
/// same field (two `attr.` filters on one path) both apply instead of one replacing the
/// other.
fn combine(mut clauses: Vec<Document>) -> Document {
    match clauses.len() {
        0 => Document::new(),
        1 => clauses.remove(0),
        _ => doc! { "$and": clauses },
    }
}

fn price_range(query: &ProductQuery) -> Result<Option<Document>> {
    let mut range = Document::new();
    if let Some(min) = query.min_price {
        range.insert("$gte", decimal_to_bson(min)?);
    }
    if let Some(max) = query.max_price {
        range.insert("$lte", decimal_to_bson(max)?);
    }
    Ok((!range.is_empty()).then_some(range))
}

fn text_clause(text: &str, mode: SearchMode) -> Document {
    match mode {
        SearchMode::Text => doc! { "$text": { "$search": text } },
        SearchMode::Regex => {
            let pattern = Regex {
                pattern: escape_regex(text),
                options: "i".into(),
            };
            let any_field: Vec<Document> = TEXT_FIELDS
                .iter()
                .map(|field| doc! { *field: Bson::RegularExpression(pattern.clone()) })
                .collect();
            doc! { "$or": any_field }
        }
    }
}

/// `attr.display.size=15.6in` becomes `{"attributes.display.size": {"$in": [candidates]}}`:
/// the text and the number or boolean it spells, as [`AttrFilter::candidates`] defines.
/// MongoDB matches an array field when one element matches, as [`AttrFilter::matches`]
/// does.
pub fn attribute_clause(filter: &AttrFilter) -> Document {
    let candidates: Vec<Bson> = filter.candidates().iter().map(json_to_bson).collect();
    doc! { attribute_path(filter): { "$in": candidates } }
}

/// The stored field of an attribute filter. Segments are `[A-Za-z0-9_]+`, checked when the
/// filter was parsed, so the path can only ever point inside `attributes`.
pub fn attribute_path(filter: &AttrFilter) -> String {
    format!("attributes.{}", filter.path.join("."))
}

/// The sort for `sort`. Every order ends with `_id`, so pages are stable and ties break by
/// id: ascending, except newest-first, whose ties break newest-first too (ids are UUID v7,
/// ordered by creation time), as the memory reference adapter does.
pub fn product_sort(sort: ProductSort) -> Document {
    let (field, direction, tie) = match sort {
        ProductSort::CreatedAt => ("created_at", 1, 1),
        ProductSort::NewestFirst => ("created_at", -1, -1),
        ProductSort::PriceAsc => ("price", 1, 1),
        ProductSort::PriceDesc => ("price", -1, 1),
        ProductSort::NameAsc => ("name", 1, 1),
    };
    doc! { field: direction, "_id": tie }
}

/// `text` as a regex that matches exactly that text: every ASCII punctuation character is
/// escaped with a backslash. In PCRE (MongoDB) and Python's `re` alike, a backslash before
/// punctuation always means the character itself, while letters and digits are left alone
/// because `\d`, `\w`, ... would change meaning.
pub fn escape_regex(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use emporium_domain::model::SupplierId;
    use rust_decimal::Decimal;

    fn query() -> ProductQuery {
        ProductQuery::default()
    }

    /// Every key of `doc`, at any depth.
    fn keys(doc: &Document) -> Vec<String> {
        fn walk(value: &Bson, out: &mut Vec<String>) {
            match value {
                Bson::Document(d) => {
                    for (k, v) in d {
                        out.push(k.clone());
                        walk(v, out);
                    }
                }
                Bson::Array(items) => items.iter().for_each(|i| walk(i, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&Bson::Document(doc.clone()), &mut out);
        out
    }

    #[test]
    fn no_filter_is_the_empty_document() {
        let filter = product_filter(&query(), SearchMode::Regex).expect("builds");
        assert_eq!(filter, Some(Document::new()));
    }

    #[test]
    fn client_values_never_become_keys() {
        let hostile = r#"{"$gt": ""}"#;
        let q = ProductQuery {
            category: Some(hostile.into()),
            text: Some("$where: function() { return true }".into()),
            attributes: vec![AttrFilter::parse("display.size", hostile).expect("valid path")],
            ..query()
        };
        for mode in [SearchMode::Regex, SearchMode::Text] {
            let filter = product_filter(&q, mode)
                .expect("builds")
                .expect("can match");
            let keys = keys(&filter);
            let operators: Vec<_> = keys.iter().filter(|k| k.starts_with('$')).collect();
            let allowed = ["$and", "$or", "$in", "$text", "$search"];
            assert!(
                operators.iter().all(|k| allowed.contains(&k.as_str())),
                "{operators:?}"
            );
            assert!(keys
                .iter()
                .all(|k| !k.contains("$gt") && !k.contains("$where")));
            assert_eq!(
                filter.get_array("$and").expect("several clauses")[0],
                Bson::Document(doc! { "category": hostile })
            );
        }
    }

    #[test]
    fn regex_search_escapes_the_text() {
        let q = ProductQuery {
            text: Some("a.b*(c)$".into()),
            ..query()
        };
        let filter = product_filter(&q, SearchMode::Regex)
            .expect("builds")
            .expect("can match");
        let any = filter.get_array("$or").expect("one clause per field");
        assert_eq!(any.len(), 3);
        match &any[0] {
            Bson::Document(d) => match d.get("name") {
                Some(Bson::RegularExpression(r)) => {
                    assert_eq!(r.pattern, r"a\.b\*\(c\)\$");
                    assert_eq!(r.options, "i");
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn escape_regex_leaves_letters_and_non_ascii_alone() {
        assert_eq!(escape_regex(r"\d+ ünï"), r"\\d\+ ünï");
        assert_eq!(escape_regex("[a-z]{2}|^x"), r"\[a\-z\]\{2\}\|\^x");
    }

    #[test]
    fn control_characters_in_text_match_nothing() {
        let q = ProductQuery {
            text: Some("nul\0byte".into()),
            ..query()
        };
        assert_eq!(product_filter(&q, SearchMode::Regex).expect("builds"), None);
    }

    #[test]
    fn empty_text_is_no_filter() {
        let q = ProductQuery {
            text: Some(String::new()),
            ..query()
        };
        let filter = product_filter(&q, SearchMode::Text).expect("builds");
        assert_eq!(filter, Some(Document::new()));
    }

    #[test]
    fn price_range_is_decimal128() {
        let q = ProductQuery {
            min_price: Some(Decimal::new(1050, 2)),
            max_price: Some(Decimal::new(20, 0)),
            supplier_id: Some(SupplierId::new()),
            ..query()
        };
        let filter = product_filter(&q, SearchMode::Regex)
            .expect("builds")
            .expect("can match");
        let clauses = filter.get_array("$and").expect("two clauses");
        let Bson::Document(price) = &clauses[0] else {
            panic!("{clauses:?}")
        };
        let range = price.get_document("price").expect("a range");
        assert!(matches!(range.get("$gte"), Some(Bson::Decimal128(d)) if d.to_string() == "10.50"));
        assert!(matches!(range.get("$lte"), Some(Bson::Decimal128(d)) if d.to_string() == "20"));
    }

    #[test]
    fn attribute_filters_use_nested_paths_and_typed_candidates() {
        let f = AttrFilter::parse("display.hz", "144").expect("valid");
        assert_eq!(
            attribute_clause(&f),
            doc! { "attributes.display.hz": { "$in": ["144", 144_i64] } }
        );
        let f = AttrFilter::parse("touch", "true").expect("valid");
        assert_eq!(
            attribute_clause(&f),
            doc! { "attributes.touch": { "$in": ["true", true] } }
        );
        let f = AttrFilter::parse("weight", "2.5").expect("valid");
        assert_eq!(
            attribute_clause(&f),
            doc! { "attributes.weight": { "$in": ["2.5", 2.5] } }
        );
    }

    #[test]
    fn two_filters_on_one_path_both_apply() {
        let q = ProductQuery {
            attributes: vec![
                AttrFilter::parse("cpu", "i7").expect("valid"),
                AttrFilter::parse("cpu", "i9").expect("valid"),
            ],
            ..query()
        };
        let filter = product_filter(&q, SearchMode::Regex)
            .expect("builds")
            .expect("can match");
        assert_eq!(filter.get_array("$and").map(Vec::len), Ok(2));
    }

    #[test]
    fn every_sort_ends_with_id() {
        for sort in [
            ProductSort::CreatedAt,
            ProductSort::NewestFirst,
            ProductSort::PriceAsc,
            ProductSort::PriceDesc,
            ProductSort::NameAsc,
        ] {
            let s = product_sort(sort);
            assert_eq!(s.keys().last().map(String::as_str), Some("_id"));
        }
        assert_eq!(
            product_sort(ProductSort::PriceDesc),
            doc! { "price": -1, "_id": 1 }
        );
        assert_eq!(
            product_sort(ProductSort::NewestFirst),
            doc! { "created_at": -1, "_id": -1 }
        );
    }
}
