//! The body of `GET /api/products/facets`.

use emporium_domain::model::{FacetCounts, Facets};
use serde::Serialize;
use utoipa::ToSchema;

/// Facet counts for a filter (`GET /api/products/facets`).
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetsResponse {
    /// Products matching the filter.
    pub total: u64,
    /// Per facet asked for (`category`, `supplier_id`, `price`, `attr.<path>`): value counts
    /// (`value`, `count`) largest first, or for `price` buckets (`min`, `max`, `count`) in
    /// ascending price.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<FacetEntrySchema>>)]
    pub facets: std::collections::BTreeMap<String, FacetBody>,
}

/// One entry of a facet, as the OpenAPI document describes it: a value count has `value`,
/// a price bucket `min` and `max` (one schema for both, so an empty facet is not ambiguous
/// between two).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct FacetEntrySchema {
    /// A value's text (value facets).
    value: Option<String>,
    /// The bucket's lowest price, included (price facet).
    #[schema(example = "10.00")]
    min: Option<String>,
    /// The bucket's highest price, excluded (price facet).
    #[schema(example = "25.00")]
    max: Option<String>,
    count: u64,
}

/// The counts of one facet.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FacetBody {
    Values(Vec<FacetValueBody>),
    Prices(Vec<PriceBucketBody>),
}

/// How many matching products have this value.
#[derive(Debug, Serialize)]
pub struct FacetValueBody {
    pub value: String,
    pub count: u64,
}

/// How many matching products cost at least `min` and less than `max`.
#[derive(Debug, Serialize)]
pub struct PriceBucketBody {
    pub min: String,
    pub max: String,
    pub count: u64,
}

impl From<Facets> for FacetsResponse {
    fn from(facets: Facets) -> Self {
        let money = |d: rust_decimal::Decimal| format!("{:.2}", d);
        FacetsResponse {
            total: facets.total,
            facets: facets
                .counts
                .into_iter()
                .map(|(field, counts)| {
                    let body = match counts {
                        FacetCounts::Values(values) => FacetBody::Values(
                            values
                                .into_iter()
                                .map(|v| FacetValueBody {
                                    value: v.value,
                                    count: v.count,
                                })
                                .collect(),
                        ),
                        FacetCounts::Prices(buckets) => FacetBody::Prices(
                            buckets
                                .into_iter()
                                .map(|b| PriceBucketBody {
                                    min: money(b.min),
                                    max: money(b.max),
                                    count: b.count,
                                })
                                .collect(),
                        ),
                    };
                    (field.name(), body)
                })
                .collect(),
        }
    }
}
