//! Warehouse bodies (`/api/warehouses`, `/api/products/{id}/stock`, `/api/stock/transfers`,
//! ADR 0022).

use chrono::{DateTime, Utc};
use emporium_domain::model::{Warehouse, WarehouseInput};
use emporium_domain::service::StockBreakdown;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/warehouses`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WarehouseBody {
    #[schema(
        required = true,
        nullable = false,
        example = "eu-west",
        min_length = 1,
        max_length = 32,
        pattern = r"^[a-z0-9_-]+$"
    )]
    pub code: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        example = "Rotterdam",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    #[schema(
        required = true,
        nullable = false,
        example = "EU",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub region: Option<String>,
}

impl From<WarehouseBody> for WarehouseInput {
    fn from(b: WarehouseBody) -> Self {
        WarehouseInput {
            code: b.code,
            name: b.name,
            region: b.region,
        }
    }
}

/// A warehouse.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseResponse {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub region: String,
    pub created_at: DateTime<Utc>,
}

impl From<Warehouse> for WarehouseResponse {
    fn from(w: Warehouse) -> Self {
        WarehouseResponse {
            id: w.id.as_uuid(),
            code: w.code.to_string(),
            name: w.name.into_inner(),
            region: w.region.into_inner(),
            created_at: w.created_at,
        }
    }
}

/// `PUT /api/products/{id}/stock/{warehouse_id}`: the units available there.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WarehouseStockBody {
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(
        required = true,
        nullable = false,
        minimum = 0,
        maximum = 1_000_000_000
    )]
    pub stock: Option<i64>,
}

/// `POST /api/stock/transfers`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TransferBody {
    #[schema(required = true, nullable = false)]
    pub product_id: Option<Uuid>,
    /// A warehouse id or code.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9_-]+$"
    )]
    pub from: Option<String>,
    /// A warehouse id or code.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 64,
        pattern = r"^[A-Za-z0-9_-]+$"
    )]
    pub to: Option<String>,
    #[serde(default, deserialize_with = "super::whole_number")]
    #[schema(
        required = true,
        nullable = false,
        minimum = 1,
        maximum = 1_000_000_000
    )]
    pub quantity: Option<i64>,
}

/// One warehouse's part of a product's stock.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarehouseStockResponse {
    pub warehouse_id: Uuid,
    pub code: String,
    /// Units available to sell there now.
    pub stock: u32,
    /// Units there held by orders in flight.
    pub reserved: u32,
}

/// `GET /api/products/{id}/stock`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockBreakdownResponse {
    pub product_id: Uuid,
    /// Units available to sell now, over every warehouse.
    pub total: u32,
    pub reserved: u32,
    pub warehouses: Vec<WarehouseStockResponse>,
}

impl From<StockBreakdown> for StockBreakdownResponse {
    fn from(b: StockBreakdown) -> Self {
        StockBreakdownResponse {
            product_id: b.product.id.as_uuid(),
            total: b.total.as_ref().map_or(0, |t| t.available()),
            reserved: b.total.as_ref().map_or(0, |t| t.reserved),
            warehouses: b
                .warehouses
                .into_iter()
                .map(|l| WarehouseStockResponse {
                    warehouse_id: l.warehouse_id.as_uuid(),
                    code: l.code.to_string(),
                    stock: l.available(),
                    reserved: l.reserved,
                })
                .collect(),
        }
    }
}
