//! Per-customer product recommendations (ADR 0021).
//!
//! Candidates come from two places: what other customers bought together with what this
//! customer bought (co-purchase, counted in the ledger's order lines), then the
//! top-rated products (counted from reviews); products the customer bought are never
//! recommended, and a customer without purchases gets the top-rated products (then the
//! newest) and never an error. The result is stored on the customer document (seed
//! 003's `recommended_products`) and served from there while it is fresh; a job and
//! `?refresh=true` work it out again.

use crate::error::{Error, Result};
use crate::model::{
    now, CustomerId, PageRequest, ProductId, ProductQuery, ProductSort, Recommendation,
    Recommendations, ReviewSubject,
};
use crate::ports::Stores;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// How many recommendations are worked out and stored per customer.
pub const STORED_RECOMMENDATIONS: usize = 20;
/// How long stored recommendations are served before they are worked out again.
pub const RECOMMENDATIONS_MAX_AGE: chrono::Duration = chrono::Duration::hours(1);

/// Counters for seed 001's measurements: cache hits and misses, and the store round trips
/// the computations made.
#[derive(Debug, Default)]
pub struct RecommendationStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub computations: AtomicU64,
    pub round_trips: AtomicU64,
}

impl RecommendationStats {
    /// Hits over all requests (0 before any).
    pub fn hit_rate(&self) -> f64 {
        let (h, m) = (self.hits.load(Relaxed), self.misses.load(Relaxed));
        if h + m == 0 {
            0.0
        } else {
            h as f64 / (h + m) as f64
        }
    }
}

/// What a request for recommendations answers.
#[derive(Debug, Clone)]
pub struct Served {
    pub recommendations: Recommendations,
    /// True when they came from the customer document; false when worked out now.
    pub cached: bool,
}

#[derive(Clone)]
pub struct RecommendationService {
    stores: Stores,
    stats: Arc<RecommendationStats>,
}

impl RecommendationService {
    pub fn new(stores: Stores) -> Self {
        Self {
            stores,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> &RecommendationStats {
        &self.stats
    }

    /// Up to `limit` recommendations for a registered customer (404 otherwise): the
    /// stored ones while fresh (unless `refresh`), else worked out now and stored.
    #[tracing::instrument(name = "recommendations.get", skip(self))]
    pub async fn for_customer(
        &self,
        id: &CustomerId,
        limit: usize,
        refresh: bool,
    ) -> Result<Served> {
        if self.stores.customers.get(id).await?.is_none() {
            return Err(Error::NotFound("customer"));
        }
        if !refresh {
            if let Some(stored) = self.stores.customers.recommendations(id).await? {
                if now() - stored.generated_at < RECOMMENDATIONS_MAX_AGE {
                    self.stats.hits.fetch_add(1, Relaxed);
                    return Ok(Served {
                        recommendations: truncated(stored, limit),
                        cached: true,
                    });
                }
            }
        }
        self.stats.misses.fetch_add(1, Relaxed);
        let fresh = self.refresh(id).await?;
        Ok(Served {
            recommendations: truncated(fresh, limit),
            cached: false,
        })
    }

    /// Works the customer's recommendations out again and stores them.
    #[tracing::instrument(name = "recommendations.refresh", skip(self))]
    pub async fn refresh(&self, id: &CustomerId) -> Result<Recommendations> {
        let mut trips = 0u64;
        let affinity = self
            .stores
            .reports
            .purchase_affinity(id, STORED_RECOMMENDATIONS as u32 * 2)
            .await?;
        trips += 1;
        let top = self
            .stores
            .reviews
            .top_rated_products((STORED_RECOMMENDATIONS * 3) as u32, 1)
            .await?;
        trips += 1;
        let bought: HashSet<ProductId> = affinity.bought.iter().copied().collect();
        let mut picked: Vec<ProductId> = Vec::new();
        let candidates = affinity
            .co_purchased
            .iter()
            .map(|(p, _)| *p)
            .chain(top.iter().map(|(p, _)| *p));
        for p in candidates {
            if !bought.contains(&p) && !picked.contains(&p) {
                picked.push(p);
            }
        }
        let mut products = self.stores.catalog.get_many(&picked).await?;
        trips += 1;
        if products.len() < STORED_RECOMMENDATIONS {
            // A young shop without enough sales or reviews: the newest products fill in.
            let newest = self
                .stores
                .catalog
                .list(&ProductQuery {
                    sort: ProductSort::NewestFirst,
                    page: PageRequest {
                        limit: (STORED_RECOMMENDATIONS * 2) as u32,
                        offset: 0,
                    },
                    ..Default::default()
                })
                .await?;
            trips += 1;
            for p in newest.items {
                if !bought.contains(&p.id) && !picked.contains(&p.id) {
                    picked.push(p.id);
                    products.push(p);
                }
            }
        }
        // In the order picked; products that left the catalog are skipped.
        products.sort_by_key(|p| picked.iter().position(|x| *x == p.id));
        products.truncate(STORED_RECOMMENDATIONS);
        let subjects: Vec<ReviewSubject> = products
            .iter()
            .map(|p| ReviewSubject::Product(p.id))
            .collect();
        let ratings: std::collections::HashMap<_, _> = self
            .stores
            .reviews
            .summaries(&subjects)
            .await?
            .into_iter()
            .collect();
        trips += 1;
        let recommendations = Recommendations {
            items: products
                .into_iter()
                .map(|p| Recommendation {
                    rating_average: ratings
                        .get(&ReviewSubject::Product(p.id))
                        .and_then(|r| r.average()),
                    product_id: p.id,
                    name: p.name,
                    price: p.price,
                })
                .collect(),
            generated_at: now(),
        };
        let stored = self
            .stores
            .customers
            .store_recommendations(id, &recommendations)
            .await?;
        trips += 1;
        if !stored {
            return Err(Error::NotFound("customer"));
        }
        self.stats.computations.fetch_add(1, Relaxed);
        self.stats.round_trips.fetch_add(trips, Relaxed);
        Ok(recommendations)
    }

    /// Works out again the recommendations of customers whose stored ones are older than
    /// [`RECOMMENDATIONS_MAX_AGE`] (or missing), at most `budget` customers per pass,
    /// oldest customers first; returns how many were refreshed.
    #[tracing::instrument(name = "recommendations.refresh_stale", skip(self))]
    pub async fn refresh_stale(&self, budget: usize) -> Result<usize> {
        let mut refreshed = 0;
        let mut offset = 0;
        while refreshed < budget {
            let page = self
                .stores
                .customers
                .list(PageRequest {
                    limit: PageRequest::MAX_LIMIT,
                    offset,
                })
                .await?;
            if page.items.is_empty() {
                break;
            }
            offset += page.items.len() as u64;
            for customer in page.items {
                let stale = match self.stores.customers.recommendations(&customer.id).await? {
                    Some(r) => now() - r.generated_at >= RECOMMENDATIONS_MAX_AGE,
                    None => true,
                };
                if stale {
                    match self.refresh(&customer.id).await {
                        Ok(_) | Err(Error::NotFound(_)) => refreshed += 1,
                        Err(e) => return Err(e),
                    }
                    if refreshed >= budget {
                        break;
                    }
                }
            }
        }
        Ok(refreshed)
    }
}

fn truncated(mut r: Recommendations, limit: usize) -> Recommendations {
    r.items.truncate(limit);
    r
}
