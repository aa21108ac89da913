//! The [`Reviews`] port on the `reviews` collection (ADR 0020). A unique index on
//! `(subject_kind, subject_id, customer_id)` keeps one review per customer and subject;
//! ratings are counted from the reviews by an aggregation over the index
//! `(subject_kind, subject_id, rating)`, so they are exact under any concurrency and
//! never drift from the reviews they summarise.

use crate::codec::{review_from_document, review_to_document, uuid_from_bson, uuid_to_bson};
use crate::error::{from_driver, from_write, malformed};
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{
    Page, ProductId, RatingSummary, Review, ReviewId, ReviewQuery, ReviewSort, ReviewSubject,
};
use emporium_domain::ports::Reviews;
use emporium_domain::Result;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Collection;

/// The collection of reviews.
pub const REVIEWS: &str = "reviews";

impl MongoCatalog {
    pub(crate) fn reviews(&self) -> Collection<Document> {
        self.database().collection(REVIEWS)
    }
}

fn int(row: &Document, key: &str) -> Result<u64> {
    match row.get(key) {
        Some(Bson::Int32(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
        Some(Bson::Int64(n)) => Ok(u64::try_from(*n).unwrap_or(0)),
        Some(Bson::Double(n)) if n.fract() == 0.0 && *n >= 0.0 => Ok(*n as u64),
        _ => Err(malformed(
            "rating summary",
            format!("`{key}` is not an integer"),
        )),
    }
}

fn summary(row: &Document) -> Result<RatingSummary> {
    Ok(RatingSummary {
        count: int(row, "count")?,
        sum: int(row, "sum")?,
    })
}

#[async_trait]
impl Reviews for MongoCatalog {
    #[tracing::instrument(name = "mongo.reviews.insert", skip_all, fields(id = %review.id))]
    async fn insert(&self, review: &Review) -> Result<()> {
        self.reviews()
            .insert_one(review_to_document(review))
            .await
            .map(drop)
            .map_err(|e| {
                from_write(e, |_| {
                    format!(
                        "customer {} already reviewed this {}",
                        review.customer_id,
                        review.subject.kind()
                    )
                })
            })
    }

    #[tracing::instrument(name = "mongo.reviews.get", skip_all, fields(%id))]
    async fn get(&self, id: ReviewId) -> Result<Option<Review>> {
        self.reviews()
            .find_one(doc! {"_id": uuid_to_bson(id.as_uuid())})
            .await
            .map_err(from_driver)?
            .as_ref()
            .map(review_from_document)
            .transpose()
    }

    #[tracing::instrument(name = "mongo.reviews.list", skip_all)]
    async fn list(&self, query: &ReviewQuery) -> Result<Page<Review>> {
        let filter = doc! {
            "subject_kind": query.subject.kind(),
            "subject_id": uuid_to_bson(query.subject.uuid()),
        };
        let sort = match query.sort {
            ReviewSort::Newest => doc! {"created_at": -1, "_id": -1},
            ReviewSort::RatingDesc => doc! {"rating": -1, "created_at": -1, "_id": -1},
            ReviewSort::RatingAsc => doc! {"rating": 1, "created_at": -1, "_id": -1},
        };
        crate::find_page(
            &self.reviews(),
            filter,
            sort,
            query.page,
            review_from_document,
        )
        .await
    }

    #[tracing::instrument(name = "mongo.reviews.delete", skip_all, fields(%id))]
    async fn delete(&self, id: ReviewId) -> Result<bool> {
        let deleted = self
            .reviews()
            .delete_one(doc! {"_id": uuid_to_bson(id.as_uuid())})
            .await
            .map_err(from_driver)?;
        Ok(deleted.deleted_count == 1)
    }

    #[tracing::instrument(name = "mongo.reviews.summaries", skip_all, fields(subjects = subjects.len()))]
    async fn summaries(
        &self,
        subjects: &[ReviewSubject],
    ) -> Result<Vec<(ReviewSubject, RatingSummary)>> {
        if subjects.is_empty() {
            return Ok(Vec::new());
        }
        let any: Vec<Bson> = subjects
            .iter()
            .map(|s| {
                Bson::Document(
                    doc! {"subject_kind": s.kind(), "subject_id": uuid_to_bson(s.uuid())},
                )
            })
            .collect();
        let pipeline = vec![
            doc! {"$match": {"$or": any}},
            doc! {"$group": {
                "_id": {"kind": "$subject_kind", "id": "$subject_id"},
                "count": {"$sum": 1},
                "sum": {"$sum": "$rating"},
            }},
        ];
        let rows: Vec<Document> = self
            .reviews()
            .aggregate(pipeline)
            .await
            .map_err(from_driver)?
            .try_collect()
            .await
            .map_err(from_driver)?;
        rows.iter()
            .map(|row| {
                let key = row
                    .get_document("_id")
                    .map_err(|e| malformed("rating summary", e))?;
                let subject = key
                    .get_str("kind")
                    .ok()
                    .zip(key.get("id").and_then(uuid_from_bson))
                    .and_then(|(kind, id)| ReviewSubject::from_parts(kind, id))
                    .ok_or_else(|| malformed("rating summary", "`_id` is not a subject"))?;
                Ok((subject, summary(row)?))
            })
            .collect()
    }

    #[tracing::instrument(name = "mongo.reviews.top_rated_products", skip_all)]
    async fn top_rated_products(
        &self,
        limit: u32,
        min_count: u64,
    ) -> Result<Vec<(ProductId, RatingSummary)>> {
        let pipeline = vec![
            doc! {"$match": {"subject_kind": "product"}},
            doc! {"$group": {"_id": "$subject_id", "count": {"$sum": 1}, "sum": {"$sum": "$rating"}}},
            doc! {"$match": {"count": {"$gte": i64::try_from(min_count).unwrap_or(i64::MAX)}}},
            doc! {"$addFields": {"average": {"$divide": ["$sum", "$count"]}}},
            doc! {"$sort": {"average": -1, "count": -1, "_id": 1}},
            doc! {"$limit": i64::from(limit)},
        ];
        let rows: Vec<Document> = self
            .reviews()
            .aggregate(pipeline)
            .await
            .map_err(from_driver)?
            .try_collect()
            .await
            .map_err(from_driver)?;
        let mut out = rows
            .iter()
            .map(|row| {
                let id = row
                    .get("_id")
                    .and_then(uuid_from_bson)
                    .ok_or_else(|| malformed("rating summary", "`_id` is not a UUID"))?;
                Ok((ProductId::from_uuid(id), summary(row)?))
            })
            .collect::<Result<Vec<_>>>()?;
        // The store ranked by a floating-point mean; settle exact ties exactly.
        out.sort_by(|(a_id, a), (b_id, b)| {
            (u128::from(b.sum) * u128::from(a.count))
                .cmp(&(u128::from(a.sum) * u128::from(b.count)))
                .then(b.count.cmp(&a.count))
                .then(a_id.cmp(b_id))
        });
        Ok(out)
    }
}
