//! The [`Categories`] port (ADR 0018): the whole tree is one document of the `categories`
//! collection, `{_id: "tree", version, nodes: [...]}`. A write replaces it only if its
//! `version` is still the one the writer read (a compare-and-set on one document, which
//! MongoDB applies atomically), so the tree's rules, checked on the tree as read, hold
//! in the tree as stored. Membership lives on the products (`categories`, an array of
//! category ids with a multikey index).

use crate::codec::{
    category_from_document, category_to_document, time_to_bson, uuid_from_bson, uuid_to_bson,
};
use crate::error::{from_driver, is_duplicate_key, malformed};
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{now, CategoryId, CategoryTree};
use emporium_domain::ports::Categories;
use emporium_domain::Result;
use futures::TryStreamExt;
use mongodb::bson::{doc, Array, Bson, Document};
use mongodb::Collection;

/// The collection that holds the category tree.
pub const CATEGORIES: &str = "categories";
/// The `_id` of the tree's document.
const TREE: &str = "tree";

impl MongoCatalog {
    fn categories(&self) -> Collection<Document> {
        self.database().collection(CATEGORIES)
    }
}

fn version_of(d: &Document) -> Result<u64> {
    match d.get("version") {
        Some(Bson::Int64(v)) if *v >= 0 => Ok(*v as u64),
        Some(Bson::Int32(v)) if *v >= 0 => Ok(*v as u64),
        _ => Err(malformed(
            "category tree",
            "`version` is not a non-negative integer",
        )),
    }
}

#[async_trait]
impl Categories for MongoCatalog {
    #[tracing::instrument(name = "mongo.categories.tree", skip_all)]
    async fn tree(&self) -> Result<CategoryTree> {
        let Some(d) = self
            .categories()
            .find_one(doc! {"_id": TREE})
            .await
            .map_err(from_driver)?
        else {
            return Ok(CategoryTree::default());
        };
        let nodes = match d.get("nodes") {
            Some(Bson::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Bson::Document(n) => category_from_document(n),
                    _ => Err(malformed("category tree", "a node is not a document")),
                })
                .collect::<Result<Vec<_>>>()?,
            _ => return Err(malformed("category tree", "`nodes` is not an array")),
        };
        Ok(CategoryTree {
            version: version_of(&d)?,
            nodes,
        })
    }

    #[tracing::instrument(name = "mongo.categories.save_tree", skip_all, fields(version = tree.version))]
    async fn save_tree(&self, tree: &CategoryTree) -> Result<bool> {
        let nodes: Array = tree
            .nodes
            .iter()
            .map(|n| Bson::Document(category_to_document(n)))
            .collect();
        let version = i64::try_from(tree.version).map_err(|_| {
            emporium_domain::Error::Internal("category tree version overflow".into())
        })?;
        if tree.version <= 1 {
            // The first write creates the document; a concurrent first write loses on `_id`.
            return match self
                .categories()
                .insert_one(doc! {"_id": TREE, "version": version, "nodes": nodes})
                .await
            {
                Ok(_) => Ok(true),
                Err(e) if is_duplicate_key(&e) => Ok(false),
                Err(e) => Err(from_driver(e)),
            };
        }
        let updated = self
            .categories()
            .update_one(
                doc! {"_id": TREE, "version": version - 1},
                doc! {"$set": {"version": version, "nodes": nodes}},
            )
            .await
            .map_err(from_driver)?;
        Ok(updated.matched_count == 1)
    }

    #[tracing::instrument(name = "mongo.categories.product_counts", skip_all)]
    async fn product_counts(&self) -> Result<Vec<(CategoryId, u64)>> {
        let pipeline = vec![
            doc! {"$match": {"categories.0": {"$exists": true}}},
            doc! {"$unwind": "$categories"},
            doc! {"$group": {"_id": "$categories", "n": {"$sum": 1}}},
        ];
        let rows: Vec<Document> = self
            .products()
            .aggregate(pipeline)
            .await
            .map_err(from_driver)?
            .try_collect()
            .await
            .map_err(from_driver)?;
        rows.iter()
            .map(|row| {
                let id = row
                    .get("_id")
                    .and_then(uuid_from_bson)
                    .ok_or_else(|| malformed("category count", "`_id` is not a UUID"))?;
                let n = match row.get("n") {
                    Some(Bson::Int32(n)) => u64::try_from(*n).unwrap_or(0),
                    Some(Bson::Int64(n)) => u64::try_from(*n).unwrap_or(0),
                    _ => return Err(malformed("category count", "`n` is not an integer")),
                };
                Ok((CategoryId::from_uuid(id), n))
            })
            .collect()
    }

    #[tracing::instrument(name = "mongo.categories.reassign_products", skip_all, fields(%from, %to))]
    async fn reassign_products(&self, from: CategoryId, to: CategoryId) -> Result<u64> {
        let (from_b, to_b) = (uuid_to_bson(from.as_uuid()), uuid_to_bson(to.as_uuid()));
        // `$addToSet` and `$pull` on one array cannot share an update: add first, so a
        // product is in `to` before it leaves `from`, and a crash between the two leaves
        // it in both (the retry finishes it), never in neither.
        let moved = self
            .products()
            .update_many(
                doc! {"categories": from_b.clone()},
                doc! {"$addToSet": {"categories": to_b}, "$set": {"updated_at": time_to_bson(now())}},
            )
            .await
            .map_err(from_driver)?;
        self.products()
            .update_many(
                doc! {"categories": from_b.clone()},
                doc! {"$pull": {"categories": from_b}},
            )
            .await
            .map_err(from_driver)?;
        Ok(moved.matched_count)
    }
}
