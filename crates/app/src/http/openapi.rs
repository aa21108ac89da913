//! `GET /api/openapi.json`, generated from the handlers and bodies above.

use super::dto::*;
use super::{
    admin, backups, carts, categories, customers, feed, health, orders, products, reports, reviews,
    suppliers, topology, warehouses,
};
use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The OpenAPI 3 document of the contract.
#[derive(OpenApi)]
#[openapi(
    info(title = "Emporium", description = "Hybrid SQL + NoSQL e-commerce backend: catalog in MongoDB, money in PostgreSQL."),
    paths(
        products::create_product, products::list_products, products::product_facets, products::get_product,
        products::update_product, products::delete_product,
        suppliers::create_supplier, suppliers::list_suppliers, suppliers::get_supplier,
        suppliers::update_supplier, suppliers::delete_supplier,
        customers::create_customer, customers::list_customers, customers::get_customer,
        customers::update_customer, customers::delete_customer, customers::customer_orders, customers::customer_recommendations,
        categories::create_category, categories::list_categories, categories::get_category,
        categories::update_category, categories::delete_category,
        reviews::create_product_review, reviews::list_product_reviews, reviews::delete_product_review,
        reviews::create_supplier_review, reviews::list_supplier_reviews, reviews::delete_supplier_review,
        warehouses::create_warehouse, warehouses::list_warehouses, warehouses::product_stock,
        warehouses::set_warehouse_stock, warehouses::transfer_stock,
        carts::create_cart, carts::get_cart, carts::delete_cart, carts::put_cart_item, carts::checkout_cart,
        orders::place_order, orders::list_orders, orders::get_order, orders::update_order,
        orders::cancel_order,
        reports::sales_by_product, reports::sales_by_category, reports::low_stock,
        reports::supplier_performance,
        feed::feed,
        health::health, admin::list_sagas, admin::audit_log,
        backups::start_backup, backups::start_restore, backups::start_pitr, backups::start_snapshot, backups::backup_logs, backups::backup_log,
        topology::replica_status, topology::performance, super::metrics, topology::shard_status, topology::shard_migrate, topology::shard_balancer,
    ),
    components(schemas(
        ProductBody, NewProductBody, TagText, ProductResponse, VariantBody, SupplierBody, NewSupplierBody, SupplierResponse, ContactBody,
        ProductSummary, OrderBody, OrderLineBody, PaymentBody, OrderStatusBody, OrderResponse,
        OrderItemResponse, PaymentResponse, ErrorBody, ErrorDetail, ProductSalesResponse,
        CategorySalesResponse, LowStockResponse, SupplierPerformanceResponse,
        CustomerBody, NewCustomerBody, CustomerResponse, AddressBody, RecommendationsResponse, RecommendationItem,
        CategoryBody, NewCategoryBody, CategoryResponse,
        ReviewBody, ReviewResponse, WarehouseBody, WarehouseResponse, WarehouseStockBody, TransferBody,
        WarehouseStockResponse, StockBreakdownResponse,
        NewCartBody, CartItemBody, CheckoutBody, CartResponse, CartLineResponse,
        FacetsResponse, FacetEntrySchema, BackupBody, RestoreBody, PitrBody, JobResponse, JobPage,
        ReplicaStatusResponse, MongoReplicaStatus, MongoMember, PostgresReplicaStatus, PostgresStandby, PostgresSlot,
        ShardMigrateBody, MigrateByDocument, MigrateByRange, ShardBalancerBody,
    )),
    modifiers(&AdminToken),
    tags((name = "products"), (name = "suppliers"), (name = "customers"), (name = "categories"), (name = "carts"), (name = "reviews"), (name = "warehouses"), (name = "orders"), (name = "reports"),
        (name = "feed", description = "Every change to orders, products and stock, live over WebSocket"),
        (name = "operations")),
)]
pub struct ApiDoc;

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/openapi.json")
            .route(web::get().to(openapi_json))
            .default_service(super::not_allowed("GET")),
    );
}

async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
