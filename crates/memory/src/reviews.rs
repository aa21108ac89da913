//! Reviews in memory: a map under one mutex; ratings counted from it on every read.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{
    CustomerId, Page, ProductId, RatingSummary, Review, ReviewId, ReviewQuery, ReviewSubject,
};
use emporium_domain::ports::Reviews;
use emporium_domain::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryReviews {
    reviews: Mutex<HashMap<ReviewId, Review>>,
}

impl MemoryReviews {
    /// How many reviews it holds.
    pub(crate) fn count(&self) -> u64 {
        lock(&self.reviews).len() as u64
    }

    /// Many reviews under one lock, the one-per-customer rule checked against a set
    /// built once (a single insert scans every review). All or nothing.
    pub(crate) fn load(&self, batch: &[Review]) -> Result<()> {
        let mut reviews = lock(&self.reviews);
        let mut taken: std::collections::HashSet<(ReviewSubject, CustomerId)> = reviews
            .values()
            .map(|r| (r.subject, r.customer_id.clone()))
            .collect();
        for review in batch {
            if reviews.contains_key(&review.id)
                || !taken.insert((review.subject, review.customer_id.clone()))
            {
                return Err(Error::Conflict(format!(
                    "customer {} already reviewed this {}",
                    review.customer_id,
                    review.subject.kind()
                )));
            }
        }
        reviews.extend(batch.iter().map(|r| (r.id, r.clone())));
        Ok(())
    }
}

#[async_trait]
impl Reviews for MemoryReviews {
    async fn insert(&self, review: &Review) -> Result<()> {
        let mut reviews = lock(&self.reviews);
        let taken = reviews
            .values()
            .any(|r| r.subject == review.subject && r.customer_id == review.customer_id);
        if taken || reviews.contains_key(&review.id) {
            return Err(Error::Conflict(format!(
                "customer {} already reviewed this {}",
                review.customer_id,
                review.subject.kind()
            )));
        }
        reviews.insert(review.id, review.clone());
        Ok(())
    }

    async fn get(&self, id: ReviewId) -> Result<Option<Review>> {
        Ok(lock(&self.reviews).get(&id).cloned())
    }

    async fn list(&self, query: &ReviewQuery) -> Result<Page<Review>> {
        let mut found: Vec<Review> = lock(&self.reviews)
            .values()
            .filter(|r| r.subject == query.subject)
            .cloned()
            .collect();
        found.sort_by(|a, b| query.sort.compare(a, b));
        Ok(query.page.slice(&found))
    }

    async fn delete(&self, id: ReviewId) -> Result<bool> {
        Ok(lock(&self.reviews).remove(&id).is_some())
    }

    async fn summaries(
        &self,
        subjects: &[ReviewSubject],
    ) -> Result<Vec<(ReviewSubject, RatingSummary)>> {
        let mut out: HashMap<ReviewSubject, RatingSummary> = HashMap::new();
        for r in lock(&self.reviews).values() {
            if subjects.contains(&r.subject) {
                out.entry(r.subject).or_default().add(r.rating);
            }
        }
        Ok(out.into_iter().collect())
    }

    async fn top_rated_products(
        &self,
        limit: u32,
        min_count: u64,
    ) -> Result<Vec<(ProductId, RatingSummary)>> {
        let mut by_product: HashMap<ProductId, RatingSummary> = HashMap::new();
        for r in lock(&self.reviews).values() {
            if let ReviewSubject::Product(p) = r.subject {
                by_product.entry(p).or_default().add(r.rating);
            }
        }
        let mut ranked: Vec<(ProductId, RatingSummary)> = by_product
            .into_iter()
            .filter(|(_, s)| s.count >= min_count)
            .collect();
        ranked.sort_by(|(a_id, a), (b_id, b)| {
            // sum_a / count_a vs sum_b / count_b, exactly, by cross-multiplying.
            (u128::from(b.sum) * u128::from(a.count))
                .cmp(&(u128::from(a.sum) * u128::from(b.count)))
                .then(b.count.cmp(&a.count))
                .then(a_id.cmp(b_id))
        });
        ranked.truncate(limit as usize);
        Ok(ranked)
    }
}
