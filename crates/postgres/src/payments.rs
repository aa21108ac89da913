//! [`Payments`]: one payment record per order.

use crate::error::{Failure, PgResult};
use crate::rows::{PaymentRow, PAYMENT_COLUMNS};
use crate::PgLedger;
use async_trait::async_trait;
use emporium_domain::model::{OrderId, Payment};
use emporium_domain::ports::Payments;
use emporium_domain::Result;
use sqlx::PgConnection;

#[async_trait]
impl Payments for PgLedger {
    #[tracing::instrument(
        name = "pg.payments.record",
        skip_all,
        fields(order_id = %payment.order_id, status = %payment.status)
    )]
    async fn record(&self, payment: &Payment) -> Result<Payment> {
        let mut conn = self.pool.acquire().await.map_err(Failure::from)?;
        Ok(upsert(&mut conn, payment).await?)
    }

    #[tracing::instrument(name = "pg.payments.for_order", skip_all, fields(order_id = %order))]
    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>> {
        Ok(self.payment_of(order).await?)
    }
}

/// Inserts the payment, or replaces the order's earlier one in the same statement
/// (`ON CONFLICT (order_id)`): the update leaves `id` and `created_at` alone, so the
/// record keeps its first ones. `Conflict` when the order does not exist (foreign key).
pub(crate) async fn upsert(conn: &mut PgConnection, p: &Payment) -> PgResult<Payment> {
    let sql = format!(
        "INSERT INTO payments ({PAYMENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (order_id) DO UPDATE SET \
                 status = EXCLUDED.status, \
                 amount = EXCLUDED.amount, \
                 currency = EXCLUDED.currency, \
                 method = EXCLUDED.method, \
                 gateway_ref = EXCLUDED.gateway_ref, \
                 decline_reason = EXCLUDED.decline_reason, \
                 updated_at = EXCLUDED.updated_at \
             RETURNING {PAYMENT_COLUMNS}"
    );
    let row: PaymentRow = sqlx::query_as(&sql)
        .bind(p.id.as_uuid())
        .bind(p.order_id.as_uuid())
        .bind(p.status.as_str())
        .bind(p.amount.amount())
        .bind(p.amount.currency().as_str())
        .bind(&p.method)
        .bind(&p.gateway_ref)
        .bind(&p.decline_reason)
        .bind(p.created_at)
        .bind(p.updated_at)
        .fetch_one(conn)
        .await?;
    row.into_payment()
}

impl PgLedger {
    async fn payment_of(&self, order: OrderId) -> PgResult<Option<Payment>> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE order_id = $1");
        let row: Option<PaymentRow> = sqlx::query_as(&sql)
            .bind(order.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.map(PaymentRow::into_payment).transpose()
    }
}
