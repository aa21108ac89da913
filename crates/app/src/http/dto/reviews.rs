//! Review bodies (`/api/products/{id}/reviews`, `/api/suppliers/{id}/reviews`, ADR 0020).

use chrono::{DateTime, Utc};
use emporium_domain::model::{Review, ReviewInput};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST .../reviews`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReviewBody {
    #[schema(
        required = true,
        nullable = false,
        example = "cust-42",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(
        required = true,
        nullable = false,
        minimum = 1,
        maximum = 5,
        example = 5
    )]
    pub rating: Option<i64>,
    #[schema(
        example = "Fast and quiet",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub title: Option<String>,
    #[schema(max_length = 10000, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub body: Option<String>,
}

impl From<ReviewBody> for ReviewInput {
    fn from(b: ReviewBody) -> Self {
        ReviewInput {
            customer_id: b.customer_id,
            rating: b.rating,
            title: b.title,
            body: b.body,
        }
    }
}

/// A review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewResponse {
    pub id: Uuid,
    /// `product` or `supplier`.
    pub subject: String,
    /// The product's or supplier's id.
    pub subject_id: Uuid,
    pub customer_id: String,
    pub rating: u8,
    pub title: Option<String>,
    pub body: String,
    /// The customer had a delivered order with the product when writing it.
    pub verified_purchase: bool,
    pub created_at: DateTime<Utc>,
}

impl From<Review> for ReviewResponse {
    fn from(r: Review) -> Self {
        ReviewResponse {
            id: r.id.as_uuid(),
            subject: r.subject.kind().to_owned(),
            subject_id: r.subject.uuid(),
            customer_id: r.customer_id.as_str().to_owned(),
            rating: r.rating.get(),
            title: r.title.map(|t| t.into_inner()),
            body: r.body.into_inner(),
            verified_purchase: r.verified_purchase,
            created_at: r.created_at,
        }
    }
}
