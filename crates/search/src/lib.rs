//! Emporium's search index: [`TantivyIndex`] implements the domain's [`ProductIndex`] port
//! with an embedded tantivy index held in memory (ADR 0014).
//!
//! - **Ranking**: BM25 over name, tags, attribute values and description (weighted in
//!   that order). Every word of the query must match one of them: exactly (scored by
//!   BM25), as a prefix, or, for words of 5 or more letters, with one typo (the last two
//!   add a small constant, so an exact match always ranks above a near one).
//! - **Filters** are exact terms and ranges on indexed fields; they never add to a score.
//! - **Facets** are counted in one pass over the matching documents' columnar (fast)
//!   fields, per segment by term ordinal, and resolved to text once per segment.
//!
//! The index is a copy: it is rebuilt from the stores when the server starts and kept
//! current from the event feed by [`emporium_domain::service::SearchService`].

mod facets;
mod schema;

use async_trait::async_trait;
use emporium_domain::model::{
    FacetField, Facets, IndexEntry, Page, ProductId, ProductSort, SearchHit, SearchQuery,
    SearchSort,
};
use emporium_domain::ports::ProductIndex;
use emporium_domain::{Error, Result};
use schema::{Fields, ANALYZER};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use tantivy::collector::sort_key::{SortBySimilarityScore, SortByStaticFastValue, SortByString};
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur, Query,
    RangeQuery, TermQuery,
};
use tantivy::schema::{IndexRecordOption, Term};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher};

/// The most query words that count; further words are ignored.
pub const MAX_QUERY_WORDS: usize = 16;
/// Memory the index writer may buffer before it flushes a segment.
const WRITER_MEMORY: usize = 50_000_000;
/// What a prefix or one-typo match adds to a score, relative to its field's weight: less
/// than an exact match scores, so exact matches rank first.
const NEAR_MATCH: f32 = 0.3;

/// An in-memory tantivy index of the catalog.
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

struct Inner {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
}

fn internal(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("search index: {e}"))
}

impl TantivyIndex {
    /// An empty index.
    pub fn new() -> Result<TantivyIndex> {
        let (schema, fields) = schema::build();
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(ANALYZER, schema::analyzer());
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .map_err(internal)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(internal)?;
        Ok(TantivyIndex {
            inner: Arc::new(Inner {
                reader,
                writer: Mutex::new(writer),
                fields,
            }),
        })
    }

    /// Runs `work` on the blocking pool: searching and indexing are CPU work.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> tantivy::Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(internal)?
            .map_err(internal)
    }
}

impl Inner {
    /// The words of `text` as the index holds them (lower case, accents folded).
    fn words(&self, text: &str) -> Vec<String> {
        let mut analyzer = schema::analyzer();
        let mut stream = analyzer.token_stream(text);
        let mut words: Vec<String> = Vec::new();
        while stream.advance() {
            let word = &stream.token().text;
            if !words.contains(word) {
                words.push(word.clone());
            }
        }
        words.truncate(MAX_QUERY_WORDS);
        words
    }

    /// Every word must match some text field: exactly (BM25), as a prefix, or with one
    /// typo when it has 5 or more letters.
    fn text_query(&self, words: &[String]) -> Box<dyn Query> {
        let f = &self.fields;
        let weighted = [
            (f.name, 3.0),
            (f.tags, 2.0),
            (f.attrs, 1.5),
            (f.description, 1.0),
        ];
        let per_word = words
            .iter()
            .map(|word| {
                let letters = word.chars().count();
                let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for (field, weight) in weighted {
                    let term = Term::from_field_text(field, word);
                    let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                    any.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(exact), weight)),
                    ));
                    if letters >= 2 {
                        let prefix = FuzzyTermQuery::new_prefix(term.clone(), 0, true);
                        any.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(prefix), weight * NEAR_MATCH)),
                        ));
                    }
                    if letters >= 5 {
                        let typo = FuzzyTermQuery::new(term, 1, true);
                        any.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(typo), weight * NEAR_MATCH)),
                        ));
                    }
                }
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(any)) as Box<dyn Query>,
                )
            })
            .collect();
        Box::new(BooleanQuery::new(per_word))
    }

    /// The query for every filter of `query`; filters add nothing to scores.
    fn query(&self, query: &SearchQuery) -> Box<dyn Query> {
        let f = &self.fields;
        let filter = &query.filter;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(text) = &filter.text {
            let words = self.words(text);
            if words.is_empty() {
                // Text with nothing searchable in it (only punctuation) matches nothing.
                return Box::new(EmptyQuery);
            }
            must.push((Occur::Must, self.text_query(&words)));
        }
        if let Some(scope) = &filter.category_scope {
            let any: Vec<(Occur, Box<dyn Query>)> = scope
                .names
                .iter()
                .map(|n| Term::from_field_text(f.category, n))
                .chain(
                    scope
                        .ids
                        .iter()
                        .map(|c| Term::from_field_text(f.category_ids, &c.to_string())),
                )
                .map(|term| {
                    let query: Box<dyn Query> =
                        Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                    (Occur::Should, query)
                })
                .collect();
            must.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(any)), 0.0)),
            ));
        }
        let mut exact = |term: Term| {
            let query = TermQuery::new(term, IndexRecordOption::Basic);
            must.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(query), 0.0)),
            ));
        };
        if filter.category_scope.is_none() {
            if let Some(category) = &filter.category {
                exact(Term::from_field_text(f.category, category));
            }
        }
        if let Some(supplier) = filter.supplier_id {
            exact(Term::from_field_text(f.supplier, &supplier.to_string()));
        }
        if let Some(in_stock) = query.in_stock {
            exact(Term::from_field_u64(f.in_stock, u64::from(in_stock)));
        }
        for attr in &filter.attributes {
            let path = attr.path.join(".");
            let any: Vec<(Occur, Box<dyn Query>)> = attr
                .candidate_texts()
                .into_iter()
                .map(|value| {
                    let term =
                        Term::from_field_text(f.attr_values, &schema::attr_term(&path, &value));
                    let query: Box<dyn Query> =
                        Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                    (Occur::Should, query)
                })
                .collect();
            must.push((
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(any)), 0.0)),
            ));
        }
        if filter.min_price.is_some() || filter.max_price.is_some() {
            match schema::price_range(filter.min_price, filter.max_price) {
                Some((low, high)) => {
                    let range = RangeQuery::new(
                        Bound::Included(Term::from_field_u64(f.price, low)),
                        Bound::Included(Term::from_field_u64(f.price, high)),
                    );
                    must.push((
                        Occur::Must,
                        Box::new(ConstScoreQuery::new(Box::new(range), 0.0)),
                    ));
                }
                None => return Box::new(EmptyQuery),
            }
        }
        if must.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(must))
        }
    }

    fn search(&self, query: &SearchQuery) -> tantivy::Result<Page<SearchHit>> {
        let searcher = self.reader.searcher();
        let q = self.query(query);
        let page = query.filter.page;
        let empty = |total: u64| Page {
            items: Vec::new(),
            total,
            limit: page.limit,
            offset: page.offset,
        };
        // Past every document: count only (a top-k of `offset + limit` would allocate it).
        if page.offset >= searcher.num_docs() {
            return Ok(empty(searcher.search(&q, &Count)? as u64));
        }
        let ranked = query.filter.text.is_some();
        let hi = || {
            (
                SortByStaticFastValue::<u64>::for_field(schema::ID_HIGH),
                Order::Asc,
            )
        };
        let lo = || {
            (
                SortByStaticFastValue::<u64>::for_field(schema::ID_LOW),
                Order::Asc,
            )
        };
        let by = |field: &str, order| (SortByStaticFastValue::<u64>::for_field(field), order);
        let top = TopDocs::with_limit(page.limit as usize).and_offset(page.offset as usize);
        // One pass counts and ranks.
        let (total, docs): (usize, Vec<(Option<f32>, DocAddress)>) = match query.sort {
            SearchSort::Relevance if ranked => {
                let (n, docs) = searcher.search(
                    &q,
                    &(Count, top.order_by((SortBySimilarityScore, hi(), lo()))),
                )?;
                let scored = docs
                    .into_iter()
                    .map(|((score, _, _), doc)| (Some(score), doc));
                (n, scored.collect())
            }
            SearchSort::Relevance | SearchSort::By(ProductSort::CreatedAt) => {
                unscored(searcher.search(
                    &q,
                    &(
                        Count,
                        top.order_by((by(schema::CREATED, Order::Asc), hi(), lo())),
                    ),
                )?)
            }
            SearchSort::By(ProductSort::NewestFirst) => {
                let newest = (
                    by(schema::CREATED, Order::Desc),
                    by(schema::ID_HIGH, Order::Desc),
                    by(schema::ID_LOW, Order::Desc),
                );
                unscored(searcher.search(&q, &(Count, top.order_by(newest)))?)
            }
            SearchSort::By(ProductSort::PriceAsc) => unscored(searcher.search(
                &q,
                &(
                    Count,
                    top.order_by((by(schema::PRICE, Order::Asc), hi(), lo())),
                ),
            )?),
            SearchSort::By(ProductSort::PriceDesc) => unscored(searcher.search(
                &q,
                &(
                    Count,
                    top.order_by((by(schema::PRICE, Order::Desc), hi(), lo())),
                ),
            )?),
            SearchSort::By(ProductSort::NameAsc) => {
                let name = (SortByString::for_field(schema::NAME_SORT), Order::Asc);
                unscored(searcher.search(&q, &(Count, top.order_by((name, hi(), lo()))))?)
            }
        };
        let ids = self.ids_of(&searcher, docs.iter().map(|(_, doc)| *doc))?;
        let mut out = empty(total as u64);
        out.items = docs
            .into_iter()
            .zip(ids)
            .map(|((score, _), id)| SearchHit {
                id,
                score: if ranked { score } else { None },
            })
            .collect();
        Ok(out)
    }

    /// The product ids of `docs`, in the same order.
    fn ids_of(
        &self,
        searcher: &Searcher,
        docs: impl Iterator<Item = DocAddress>,
    ) -> tantivy::Result<Vec<ProductId>> {
        let mut columns = std::collections::HashMap::new();
        docs.map(|doc| {
            let (high, low) = match columns.entry(doc.segment_ord) {
                std::collections::hash_map::Entry::Occupied(open) => open.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let fast = searcher.segment_reader(doc.segment_ord).fast_fields();
                    slot.insert((fast.u64(schema::ID_HIGH)?, fast.u64(schema::ID_LOW)?))
                }
            };
            let high = high.first(doc.doc_id).unwrap_or_default();
            let low = low.first(doc.doc_id).unwrap_or_default();
            Ok(ProductId::from_uuid(uuid::Uuid::from_u64_pair(high, low)))
        })
        .collect()
    }

    fn apply(&self, entries: Vec<IndexEntry>, removed: &[ProductId]) -> tantivy::Result<()> {
        let mut writer = self.writer.lock().expect("index writer lock");
        for id in removed {
            writer.delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
        }
        for entry in &entries {
            writer.delete_term(Term::from_field_text(
                self.fields.id,
                &entry.product.id.to_string(),
            ));
            writer.add_document(schema::document(&self.fields, entry))?;
        }
        writer.commit()?;
        // Searches see the change once this returns.
        self.reader.reload()
    }

    fn ids(&self) -> tantivy::Result<Vec<ProductId>> {
        let searcher = self.reader.searcher();
        let docs = searcher.search(&AllQuery, &DocSetCollector)?;
        self.ids_of(&searcher, docs.into_iter())
    }
}

fn unscored<K>(
    (total, docs): (usize, Vec<(K, DocAddress)>),
) -> (usize, Vec<(Option<f32>, DocAddress)>) {
    (
        total,
        docs.into_iter().map(|(_, doc)| (None, doc)).collect(),
    )
}

#[async_trait]
impl ProductIndex for TantivyIndex {
    async fn search(&self, query: &SearchQuery) -> Result<Page<SearchHit>> {
        let query = query.clone();
        self.blocking(move |inner| inner.search(&query)).await
    }

    async fn facets(&self, query: &SearchQuery, wanted: &[FacetField]) -> Result<Facets> {
        let query = query.clone();
        let wanted = wanted.to_vec();
        self.blocking(move |inner| {
            let searcher = inner.reader.searcher();
            let collector = facets::FacetCollector::new(&wanted);
            let counted = searcher.search(&inner.query(&query), &collector)?;
            Ok(counted.into_facets(&wanted))
        })
        .await
    }

    async fn apply(&self, entries: Vec<IndexEntry>, removed: &[ProductId]) -> Result<()> {
        let removed = removed.to_vec();
        self.blocking(move |inner| inner.apply(entries, &removed))
            .await
    }

    async fn ids(&self) -> Result<Vec<ProductId>> {
        self.blocking(|inner| inner.ids()).await
    }
}
