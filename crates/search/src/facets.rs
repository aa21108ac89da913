//! Facet counts in one pass over the matching documents.
//!
//! Per segment, values are counted by term ordinal in plain vectors (no strings, no
//! hashing per document); each ordinal with a count is turned into its text once, when
//! the segment is done, and the segments' counts are merged by text.

use crate::schema;
use emporium_domain::model::{
    cents_to_decimal, price_bucket_bounds, FacetCounts, FacetField, Facets, PriceBucket,
    ValueCount, MAX_FACET_VALUES,
};
use std::collections::HashMap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// What one requested facet counts, per segment.
enum Counter {
    /// Every value of a single-valued text column (category, supplier).
    Values {
        column: Option<StrColumn>,
        counts: Vec<u64>,
    },
    /// Values of one attribute path: the ordinals `first..first + values.len()` of the
    /// attribute column (terms are sorted, so one path's terms are contiguous).
    Attribute {
        first: u64,
        values: Vec<String>,
        counts: Vec<u64>,
    },
    Price {
        column: Column<u64>,
        bounds: Vec<u64>,
        counts: Vec<u64>,
    },
}

pub struct FacetCollector {
    wanted: Vec<FacetField>,
}

impl FacetCollector {
    pub fn new(wanted: &[FacetField]) -> FacetCollector {
        FacetCollector {
            wanted: wanted.to_vec(),
        }
    }
}

pub struct SegmentFacets {
    total: u64,
    counters: Vec<Counter>,
    attributes: Option<StrColumn>,
}

/// The counts of one segment (or, merged, of all), by facet, by value text.
pub struct Counted {
    total: u64,
    values: Vec<HashMap<String, u64>>,
}

impl Collector for FacetCollector {
    type Fruit = Counted;
    type Child = SegmentFacets;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentFacets> {
        let fast = reader.fast_fields();
        let attributes = fast.str(schema::ATTR_VALUES)?;
        let counters = self
            .wanted
            .iter()
            .map(|facet| {
                Ok(match facet {
                    FacetField::Category | FacetField::Supplier => {
                        let name = if *facet == FacetField::Category {
                            schema::CATEGORY
                        } else {
                            schema::SUPPLIER
                        };
                        let column = fast.str(name)?;
                        let terms = column.as_ref().map_or(0, |c| c.num_terms());
                        Counter::Values {
                            column,
                            counts: vec![0; terms],
                        }
                    }
                    FacetField::Price => {
                        let bounds = price_bucket_bounds();
                        Counter::Price {
                            column: fast.u64(schema::PRICE)?,
                            counts: vec![0; bounds.len()],
                            bounds,
                        }
                    }
                    FacetField::Attribute(path) => {
                        let prefix = schema::attr_term(&path.join("."), "");
                        let mut first = None;
                        let mut values = Vec::new();
                        if let Some(column) = &attributes {
                            let mut terms =
                                column.dictionary().prefix_range(&prefix).into_stream()?;
                            while terms.advance() {
                                first.get_or_insert(terms.term_ord());
                                let value = String::from_utf8_lossy(&terms.key()[prefix.len()..]);
                                values.push(value.into_owned());
                            }
                        }
                        Counter::Attribute {
                            first: first.unwrap_or(0),
                            counts: vec![0; values.len()],
                            values,
                        }
                    }
                })
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(SegmentFacets {
            total: 0,
            counters,
            attributes,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Counted>) -> tantivy::Result<Counted> {
        let mut merged = Counted {
            total: 0,
            values: vec![HashMap::new(); self.wanted.len()],
        };
        for segment in segments {
            merged.total += segment.total;
            for (into, from) in merged.values.iter_mut().zip(segment.values) {
                for (value, count) in from {
                    *into.entry(value).or_default() += count;
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentFacets {
    type Fruit = Counted;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.total += 1;
        for counter in &mut self.counters {
            match counter {
                Counter::Values {
                    column: Some(column),
                    counts,
                } => {
                    for ord in column.term_ords(doc) {
                        counts[ord as usize] += 1;
                    }
                }
                Counter::Values { column: None, .. } => {}
                Counter::Attribute { first, counts, .. } => {
                    if counts.is_empty() {
                        continue;
                    }
                    if let Some(column) = &self.attributes {
                        for ord in column.term_ords(doc) {
                            if let Some(slot) = ord.checked_sub(*first) {
                                if let Some(count) = counts.get_mut(slot as usize) {
                                    *count += 1;
                                }
                            }
                        }
                    }
                }
                Counter::Price {
                    column,
                    bounds,
                    counts,
                } => {
                    if let Some(cents) = column.first(doc) {
                        // The bucket whose lower bound is the last one at or below the price.
                        let bucket = bounds.partition_point(|b| *b <= cents).saturating_sub(1);
                        counts[bucket] += 1;
                    }
                }
            }
        }
    }

    fn harvest(self) -> Counted {
        let mut text = String::new();
        let values = self
            .counters
            .into_iter()
            .map(|counter| match counter {
                Counter::Values {
                    column: Some(column),
                    counts,
                } => counts
                    .into_iter()
                    .enumerate()
                    .filter(|(_, count)| *count > 0)
                    .filter_map(
                        |(ord, count)| match column.ord_to_str(ord as u64, &mut text) {
                            Ok(true) => Some((text.clone(), count)),
                            _ => None,
                        },
                    )
                    .collect(),
                Counter::Values { column: None, .. } => HashMap::new(),
                Counter::Attribute { values, counts, .. } => values
                    .into_iter()
                    .zip(counts)
                    .filter(|(_, count)| *count > 0)
                    .collect(),
                Counter::Price { bounds, counts, .. } => counts
                    .into_iter()
                    .enumerate()
                    .filter(|(_, count)| *count > 0)
                    .map(|(bucket, count)| (bounds[bucket].to_string(), count))
                    .collect(),
            })
            .collect();
        Counted {
            total: self.total,
            values,
        }
    }
}

impl Counted {
    /// The counts as the domain names them: values largest count first (ties by value),
    /// at most [`MAX_FACET_VALUES`]; price buckets ascending.
    pub fn into_facets(self, wanted: &[FacetField]) -> Facets {
        let bounds = price_bucket_bounds();
        let counts = wanted
            .iter()
            .cloned()
            .zip(self.values)
            .map(|(facet, values)| {
                let counts = if facet == FacetField::Price {
                    let mut buckets: Vec<PriceBucket> = values
                        .into_iter()
                        .filter_map(|(low, count)| {
                            let low: u64 = low.parse().ok()?;
                            let next = bounds.partition_point(|b| *b <= low);
                            let high = *bounds.get(next)?;
                            Some(PriceBucket {
                                min: cents_to_decimal(low),
                                max: cents_to_decimal(high),
                                count,
                            })
                        })
                        .collect();
                    buckets.sort_by_key(|b| b.min);
                    FacetCounts::Prices(buckets)
                } else {
                    let mut values: Vec<ValueCount> = values
                        .into_iter()
                        .map(|(value, count)| ValueCount { value, count })
                        .collect();
                    values
                        .sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
                    values.truncate(MAX_FACET_VALUES);
                    FacetCounts::Values(values)
                };
                (facet, counts)
            })
            .collect();
        Facets {
            total: self.total,
            counts,
        }
    }
}
