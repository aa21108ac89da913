//! Category bodies (`/api/categories`, ADR 0018).

use chrono::{DateTime, Utc};
use emporium_domain::model::CategoryInput;
use emporium_domain::service::CategoryView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/categories` and `PATCH /api/categories/{id}` (a patch changes the fields
/// it names; `parent_id: null` makes a root).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CategoryBody {
    #[schema(
        example = "Laptops",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// Unique among the category's siblings.
    #[schema(
        example = "laptops",
        min_length = 1,
        max_length = 100,
        pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"
    )]
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
}

impl From<CategoryBody> for CategoryInput {
    fn from(b: CategoryBody) -> Self {
        CategoryInput {
            name: b.name,
            slug: b.slug,
            parent_id: b.parent_id.map(|p| p.map(|id| id.to_string())),
        }
    }
}

/// `POST /api/categories`: a [`CategoryBody`] whose `name` and `slug` are required.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct NewCategoryBody(pub CategoryBody);

impl utoipa::PartialSchema for NewCategoryBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::required(
            <CategoryBody as utoipa::PartialSchema>::schema(),
            &["name", "slug"],
        )
    }
}

impl ToSchema for NewCategoryBody {}

/// A category of the tree.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryResponse {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub parent_id: Option<Uuid>,
    /// Slugs from the root down: `electronics/computers/laptops`.
    #[schema(example = "electronics/computers/laptops")]
    pub path: String,
    /// Products that list this category in their `categories`.
    pub product_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CategoryView> for CategoryResponse {
    fn from(v: CategoryView) -> Self {
        CategoryResponse {
            id: v.node.id.as_uuid(),
            name: v.node.name.into_inner(),
            slug: v.node.slug.to_string(),
            parent_id: v.node.parent_id.map(|p| p.as_uuid()),
            path: v.path,
            product_count: v.product_count,
            created_at: v.node.created_at,
            updated_at: v.node.updated_at,
        }
    }
}
