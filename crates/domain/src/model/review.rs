//! Reviews and ratings (ADR 0020): one review per customer and subject (a product, or a
//! supplier as seed 003's partner ratings), and rating summaries derived from the reviews
//! themselves, so they are exact however many reviews arrive at once.

use super::{
    now, CustomerId, Description, Name, PageRequest, ProductId, ReviewId, SupplierId, Timestamp,
};
use crate::error::{Result, Violations};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// What a review is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ReviewSubject {
    Product(ProductId),
    Supplier(SupplierId),
}

impl ReviewSubject {
    /// `product` or `supplier`.
    pub fn kind(&self) -> &'static str {
        match self {
            ReviewSubject::Product(_) => "product",
            ReviewSubject::Supplier(_) => "supplier",
        }
    }

    pub fn uuid(&self) -> uuid::Uuid {
        match self {
            ReviewSubject::Product(id) => id.as_uuid(),
            ReviewSubject::Supplier(id) => id.as_uuid(),
        }
    }

    /// The subject named by a stored kind and id.
    pub fn from_parts(kind: &str, id: uuid::Uuid) -> Option<ReviewSubject> {
        match kind {
            "product" => Some(ReviewSubject::Product(ProductId::from_uuid(id))),
            "supplier" => Some(ReviewSubject::Supplier(SupplierId::from_uuid(id))),
            _ => None,
        }
    }
}

/// A rating: 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct Stars(u8);

impl Stars {
    pub fn new(n: i64) -> std::result::Result<Stars, String> {
        if (1..=5).contains(&n) {
            Ok(Stars(n as u8))
        } else {
            Err("must be a whole number from 1 to 5".into())
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Stars {
    type Error = String;
    fn try_from(n: i64) -> std::result::Result<Stars, String> {
        Stars::new(n)
    }
}

impl From<Stars> for u8 {
    fn from(s: Stars) -> u8 {
        s.0
    }
}

/// One customer's review of one subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub id: ReviewId,
    pub subject: ReviewSubject,
    pub customer_id: CustomerId,
    pub rating: Stars,
    pub title: Option<Name>,
    pub body: Description,
    /// The customer had a delivered order with the product when the review was written.
    pub verified_purchase: bool,
    pub created_at: Timestamp,
}

/// Raw review fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct ReviewInput {
    pub customer_id: Option<String>,
    pub rating: Option<i64>,
    pub title: Option<String>,
    pub body: Option<String>,
}

impl Review {
    /// Validates every field and reports all problems at once.
    pub fn parse_new(subject: ReviewSubject, input: ReviewInput) -> Result<Review> {
        let mut v = Violations::new();
        let customer_id = match input.customer_id {
            Some(c) => v.check("customer_id", CustomerId::parse(c)),
            None => {
                v.push("customer_id", "is required");
                None
            }
        };
        let rating = match input.rating {
            Some(r) => v.check("rating", Stars::new(r)),
            None => {
                v.push("rating", "is required");
                None
            }
        };
        let title = match input.title {
            Some(t) => v.check("title", Name::parse(t)).map(Some),
            None => Some(None),
        };
        let body = v.check("body", Description::parse(input.body.unwrap_or_default()));
        let (customer_id, rating, title, body) =
            v.finish_with((customer_id, rating, title, body))?;
        Ok(Review {
            id: ReviewId::new(),
            subject,
            customer_id,
            rating,
            title,
            body,
            verified_purchase: false,
            created_at: now(),
        })
    }
}

/// How many reviews a subject has and the sum of their stars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingSummary {
    pub count: u64,
    pub sum: u64,
}

impl RatingSummary {
    /// The mean rating, rounded half up to two digits; `None` without reviews.
    pub fn average(&self) -> Option<Decimal> {
        if self.count == 0 {
            return None;
        }
        let mean = Decimal::from(self.sum) / Decimal::from(self.count);
        let mut rounded = mean.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        rounded.rescale(2);
        Some(rounded)
    }

    pub fn add(&mut self, stars: Stars) {
        self.count += 1;
        self.sum += u64::from(stars.get());
    }
}

/// The orders of `GET /api/products/{id}/reviews`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReviewSort {
    /// Newest first (the default).
    #[default]
    Newest,
    RatingDesc,
    RatingAsc,
}

impl ReviewSort {
    pub fn parse(s: &str) -> std::result::Result<ReviewSort, String> {
        match s {
            "-created_at" => Ok(ReviewSort::Newest),
            "-rating" => Ok(ReviewSort::RatingDesc),
            "rating" => Ok(ReviewSort::RatingAsc),
            other => Err(format!(
                "`{other}` is not one of -created_at, -rating, rating"
            )),
        }
    }

    /// The reference order: by the sort key, then newest first, then by id (descending).
    pub fn compare(&self, a: &Review, b: &Review) -> std::cmp::Ordering {
        let newest = b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id));
        match self {
            ReviewSort::Newest => newest,
            ReviewSort::RatingDesc => b.rating.cmp(&a.rating).then(newest),
            ReviewSort::RatingAsc => a.rating.cmp(&b.rating).then(newest),
        }
    }
}

/// A page of one subject's reviews.
#[derive(Debug, Clone, Copy)]
pub struct ReviewQuery {
    pub subject: ReviewSubject,
    pub sort: ReviewSort,
    pub page: PageRequest,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_round_half_up() {
        let mut s = RatingSummary::default();
        assert_eq!(s.average(), None);
        for n in [5, 4, 4] {
            s.add(Stars::new(n).unwrap());
        }
        assert_eq!(s.average().unwrap().to_string(), "4.33");
        let s = RatingSummary { count: 8, sum: 37 }; // 4.625
        assert_eq!(s.average().unwrap().to_string(), "4.63");
        let s = RatingSummary { count: 2, sum: 6 };
        assert_eq!(s.average().unwrap().to_string(), "3.00");
        assert!(Stars::new(0).is_err() && Stars::new(6).is_err());
    }
}
