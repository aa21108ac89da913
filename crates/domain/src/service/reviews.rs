//! Reviews of products and suppliers, and the ratings counted from them (ADR 0020).

use crate::error::{Error, Result};
use crate::model::{
    CustomerId, OrderQuery, OrderStatus, Page, PageRequest, RatingSummary, Review, ReviewId,
    ReviewInput, ReviewQuery, ReviewSort, ReviewSubject,
};
use crate::ports::Stores;
use std::collections::HashMap;

/// Who asks to delete a review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// An operator with an admin token: may delete any review.
    Admin,
    /// A customer: may delete their own reviews only.
    Customer(CustomerId),
}

/// Writes, lists and deletes reviews; reads ratings.
#[derive(Clone)]
pub struct ReviewService {
    stores: Stores,
}

impl ReviewService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    /// 404 unless the subject exists now.
    async fn require(&self, subject: ReviewSubject) -> Result<()> {
        let exists = match subject {
            ReviewSubject::Product(id) => self.stores.catalog.get(id).await?.is_some(),
            ReviewSubject::Supplier(id) => self.stores.suppliers.get(id).await?.is_some(),
        };
        if exists {
            Ok(())
        } else {
            Err(Error::NotFound(subject.kind()))
        }
    }

    /// Stores a customer's review of a subject (one per customer: 409 for a second). A
    /// product review is a verified purchase when the customer has a delivered order
    /// with the product.
    #[tracing::instrument(name = "reviews.create", skip(self, input))]
    pub async fn create(&self, subject: ReviewSubject, input: ReviewInput) -> Result<Review> {
        let mut review = Review::parse_new(subject, input)?;
        self.require(subject).await?;
        if let ReviewSubject::Product(product) = subject {
            let delivered = self
                .stores
                .orders
                .list(&OrderQuery {
                    customer_id: Some(review.customer_id.as_str().to_owned()),
                    product_id: Some(product),
                    status: Some(OrderStatus::Delivered),
                    page: PageRequest {
                        limit: 1,
                        offset: 0,
                    },
                    ..Default::default()
                })
                .await?;
            review.verified_purchase = delivered.total > 0;
        }
        self.stores.reviews.insert(&review).await?;
        Ok(review)
    }

    #[tracing::instrument(name = "reviews.list", skip(self))]
    pub async fn list(
        &self,
        subject: ReviewSubject,
        sort: ReviewSort,
        page: PageRequest,
    ) -> Result<Page<Review>> {
        self.require(subject).await?;
        self.stores
            .reviews
            .list(&ReviewQuery {
                subject,
                sort,
                page,
            })
            .await
    }

    /// Deletes a review of `subject` (404 for another subject's): its author or an admin
    /// only (403 for anyone else).
    #[tracing::instrument(name = "reviews.delete", skip(self))]
    pub async fn delete(
        &self,
        subject: ReviewSubject,
        id: ReviewId,
        requester: &Requester,
    ) -> Result<()> {
        let review = self
            .stores
            .reviews
            .get(id)
            .await?
            .filter(|r| r.subject == subject)
            .ok_or(Error::NotFound("review"))?;
        if let Requester::Customer(who) = requester {
            if *who != review.customer_id {
                return Err(Error::Forbidden(
                    "only the review's author or an admin may delete it".into(),
                ));
            }
        }
        if self.stores.reviews.delete(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("review"))
        }
    }

    /// The rating of each subject (none reviewed: an empty summary).
    pub async fn ratings(
        &self,
        subjects: &[ReviewSubject],
    ) -> Result<HashMap<ReviewSubject, RatingSummary>> {
        let found: HashMap<_, _> = self
            .stores
            .reviews
            .summaries(subjects)
            .await?
            .into_iter()
            .collect();
        Ok(subjects
            .iter()
            .map(|s| (*s, found.get(s).copied().unwrap_or_default()))
            .collect())
    }
}
