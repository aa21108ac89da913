//! [`Orders`]: orders and the stock moves they make, one transaction per call.
//!
//! * [`create`]: reserve every line and store the order `pending`;
//! * [`status`]: confirm, fail, cancel and advance, each deciding the move with the domain's
//!   state machine while holding the order's row lock;
//! * [`read`]: whole orders (lines and payment) by id and by filtered page.

mod create;
mod read;
mod status;

use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{
    NewOrder, Order, OrderId, OrderQuery, OrderStatus, Page, SagaRecord, Sku,
};
use emporium_domain::ports::{Cancellation, Holding, LedgerAudit, Orders, Release, Settlement};
use emporium_domain::Result;

#[async_trait]
impl Orders for PgLedger {
    #[tracing::instrument(
        name = "pg.orders.create_pending",
        skip_all,
        fields(order_id = %order.id, lines = order.items.len())
    )]
    async fn create_pending(&self, order: &NewOrder) -> Result<Order> {
        Ok(self.woken(self.place_pending(order, None).await)?)
    }

    #[tracing::instrument(
        name = "pg.orders.reserve",
        skip_all,
        fields(order_id = %order.id, lines = order.items.len())
    )]
    async fn reserve(&self, order: &NewOrder, saga: &SagaRecord) -> Result<Order> {
        Ok(self.woken(self.place_pending(order, Some(saga)).await)?)
    }

    #[tracing::instrument(name = "pg.orders.settle", skip_all, fields(order_id = %id))]
    async fn settle(
        &self,
        id: OrderId,
        settlement: &Settlement,
        saga: &SagaRecord,
    ) -> Result<Order> {
        Ok(self.woken(self.settle_order(id, settlement, saga).await)?)
    }

    #[tracing::instrument(name = "pg.orders.confirm", skip_all, fields(order_id = %id))]
    async fn confirm(&self, id: OrderId) -> Result<Order> {
        let (order, _) = self.woken(self.change_status(id, status::confirming).await)?;
        Ok(order)
    }

    #[tracing::instrument(name = "pg.orders.fail", skip_all, fields(order_id = %id))]
    async fn fail(&self, id: OrderId) -> Result<Order> {
        let (order, _) = self.woken(self.change_status(id, status::failing).await)?;
        Ok(order)
    }

    #[tracing::instrument(name = "pg.orders.cancel", skip_all, fields(order_id = %id))]
    async fn cancel(&self, id: OrderId) -> Result<Cancellation> {
        let (order, previous) = self.woken(self.change_status(id, status::cancelling).await)?;
        Ok(Cancellation { order, previous })
    }

    #[tracing::instrument(name = "pg.orders.advance", skip_all, fields(order_id = %id, to = %to))]
    async fn advance(&self, id: OrderId, to: OrderStatus) -> Result<Order> {
        let (order, _) = self.woken(
            self.change_status(id, |from| status::advancing(from, to))
                .await,
        )?;
        Ok(order)
    }

    #[tracing::instrument(name = "pg.orders.anonymise", skip_all)]
    async fn anonymise(&self, customer: &emporium_domain::model::CustomerId) -> Result<u64> {
        // The outbox trigger announces each changed order as `order.updated`.
        let changed = sqlx::query(
            "UPDATE orders SET customer_id = $2, customer_name = NULL, updated_at = now() \
              WHERE customer_id = $1",
        )
        .bind(customer.as_str())
        .bind(emporium_domain::ports::ANONYMOUS_CUSTOMER)
        .execute(&self.pool)
        .await
        .map_err(crate::error::Failure::from)?
        .rows_affected();
        self.wake_feed();
        Ok(changed)
    }

    #[tracing::instrument(name = "pg.orders.record_failed", skip_all, fields(order_id = %order.id))]
    async fn record_failed(&self, order: &NewOrder, reason: &str) -> Result<Order> {
        Ok(self.woken(self.record_failed_order(order, reason).await)?)
    }

    #[tracing::instrument(name = "pg.orders.get", skip_all, fields(order_id = %id))]
    async fn get(&self, id: OrderId) -> Result<Option<Order>> {
        Ok(self.get_order(id).await?)
    }

    #[tracing::instrument(name = "pg.orders.list", skip_all)]
    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>> {
        Ok(self.list_orders(query).await?)
    }
}

/// Reconciliation's scans: implemented in `crate::reconcile`.
#[async_trait]
impl LedgerAudit for PgLedger {
    #[tracing::instrument(name = "pg.audit.reserved_by_pending", skip_all)]
    async fn reserved_by_pending(&self) -> Result<Vec<(Sku, u64)>> {
        Ok(self.held_per_sku().await?)
    }

    #[tracing::instrument(name = "pg.audit.holding", skip_all, fields(sku = %sku))]
    async fn holding(&self, sku: &Sku) -> Result<Option<Holding>> {
        Ok(self.read_holding(sku).await?)
    }

    #[tracing::instrument(name = "pg.audit.release_leaked", skip_all, fields(sku = %sku))]
    async fn release_leaked(&self, sku: &Sku) -> Result<Option<Release>> {
        Ok(self.woken(self.release_leaked_reservation(sku).await)?)
    }

    #[tracing::instrument(name = "pg.audit.payment_mismatches", skip_all, fields(limit = limit))]
    async fn payment_mismatches(&self, after: Option<OrderId>, limit: u32) -> Result<Vec<Order>> {
        Ok(self.payment_mismatch_page(after, limit).await?)
    }

    #[tracing::instrument(name = "pg.audit.warehouse_mismatches", skip_all, fields(limit = limit))]
    async fn warehouse_mismatches(
        &self,
        after: Option<&Sku>,
        limit: u32,
    ) -> Result<Vec<emporium_domain::model::WarehouseMismatch>> {
        Ok(self.warehouse_mismatch_page(after, limit).await?)
    }

    #[tracing::instrument(name = "pg.audit.resync_warehouses", skip_all, fields(sku = %sku))]
    async fn resync_warehouses(
        &self,
        sku: &Sku,
    ) -> Result<Option<emporium_domain::model::WarehouseMismatch>> {
        Ok(self.resync_warehouse_split(sku).await?)
    }
}
