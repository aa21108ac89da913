//! Bulk loading (ADR 0023) under the ledger's one lock: each call all or nothing, as
//! PostgreSQL's transaction per call.

use super::{MemoryLedger, Milestones};
use async_trait::async_trait;
use emporium_domain::model::{Order, OrderStatus, StockLevel, StockLoad};
use emporium_domain::ports::LedgerLoad;
use emporium_domain::{Error, Result};

#[async_trait]
impl LedgerLoad for MemoryLedger {
    async fn load_stock(&self, stock: &[StockLoad]) -> Result<()> {
        let mut state = self.lock();
        let mut seen = std::collections::HashSet::new();
        for s in stock {
            if state.stock.contains_key(&s.sku) || !seen.insert(&s.sku) {
                return Err(Error::Conflict(format!("sku {} already has stock", s.sku)));
            }
        }
        let unknown = stock
            .iter()
            .flat_map(|s| &s.warehouses)
            .any(|(w, _)| !state.warehouses.knows(*w));
        if unknown {
            return Err(Error::Conflict(
                "a stock split names an unknown warehouse".into(),
            ));
        }
        for s in stock {
            state.warehouses.load_split(&s.sku, &s.warehouses);
            let level = StockLevel {
                sku: s.sku.clone(),
                product_id: s.product_id,
                on_hand: s.total(),
                reserved: 0,
            };
            state.stock.insert(s.sku.clone(), level);
            state.stock_moved(None, &s.sku);
        }
        Ok(())
    }

    async fn load_orders(&self, orders: &[Order]) -> Result<()> {
        let mut state = self.lock();
        for o in orders {
            if matches!(o.status, OrderStatus::Pending | OrderStatus::Queued) {
                return Err(Error::invalid(
                    "status",
                    format!("order {}: only settled orders are loaded", o.id),
                ));
            }
            if o.payment.is_none() {
                return Err(Error::invalid(
                    "payment",
                    format!("order {}: a settled order has a payment", o.id),
                ));
            }
            if state.orders.contains_key(&o.id) {
                return Err(Error::Conflict(format!("order {} already exists", o.id)));
            }
        }
        for o in orders {
            let mut order = o.clone();
            if let Some(payment) = order.payment.take() {
                state.payments.insert(order.id, payment);
            }
            state.milestones.insert(
                order.id,
                Milestones {
                    confirmed_at: order.status.is_sale().then_some(order.created_at),
                    delivered_at: (order.status == OrderStatus::Delivered)
                        .then_some(order.updated_at),
                },
            );
            state.orders.insert(order.id, order);
        }
        Ok(())
    }

    /// Nothing to catch up with in memory.
    async fn finish_load(&self) -> Result<()> {
        Ok(())
    }

    async fn order_count(&self) -> Result<u64> {
        Ok(self.lock().orders.len() as u64)
    }
}
