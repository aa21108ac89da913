//! [`SalesReports`] in memory: every report computed from the orders themselves, under
//! the ledger's lock. The reference the rollup of the PostgreSQL adapter is held to.

use super::{MemoryLedger, State};

use async_trait::async_trait;
use emporium_domain::model::{
    is_sale, Category, CategorySales, Currency, Order, Page, PageRequest, ProductId, ProductSales,
    Revenue, SalesWindow, Sku, StockLevel, SupplierId, SupplierSales, Units,
};
use emporium_domain::ports::SalesReports;
use emporium_domain::{Error, Result};
use rust_decimal::Decimal;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// Units and revenue of one group.
#[derive(Default)]
struct Tally {
    units: u64,
    revenue: Decimal,
}

impl Tally {
    fn revenue(&self, currency: Currency) -> Result<Revenue> {
        Revenue::new(self.revenue, currency).map_err(Error::Internal)
    }
}

impl State {
    /// The sales placed in `window`.
    fn sales_in(&self, window: SalesWindow) -> impl Iterator<Item = &Order> {
        self.orders
            .values()
            .filter(move |o| is_sale(o.status) && window.contains(o.created_at))
    }

    /// Units and revenue per `key` of every line of the window's sales.
    fn tally<K: Ord>(
        &self,
        window: SalesWindow,
        key: impl Fn(&Order, &emporium_domain::model::OrderItem) -> Option<K>,
    ) -> BTreeMap<K, Tally> {
        let mut tallies: BTreeMap<K, Tally> = BTreeMap::new();
        for order in self.sales_in(window) {
            for item in &order.items {
                if let Some(k) = key(order, item) {
                    let tally = tallies.entry(k).or_default();
                    tally.units += u64::from(item.quantity.get());
                    tally.revenue += item.line_total.amount();
                }
            }
        }
        tallies
    }
}

/// Highest revenue first; ties keep the key order the tallies came in.
fn by_revenue<T>(mut rows: Vec<T>, revenue: impl Fn(&T) -> Decimal) -> Vec<T> {
    rows.sort_by_key(|r| Reverse(revenue(r)));
    rows
}

#[async_trait]
impl SalesReports for MemoryLedger {
    async fn purchase_affinity(
        &self,
        customer: &emporium_domain::model::CustomerId,
        limit: u32,
    ) -> Result<emporium_domain::model::PurchaseAffinity> {
        let state = self.lock();
        let sales: Vec<&Order> = state
            .orders
            .values()
            .filter(|o| is_sale(o.status))
            .collect();
        let bought: BTreeSet<ProductId> = sales
            .iter()
            .filter(|o| &o.customer_id == customer)
            .flat_map(|o| o.items.iter().map(|i| i.product_id))
            .collect();
        let mut counts: BTreeMap<ProductId, u64> = BTreeMap::new();
        for order in sales.iter().filter(|o| &o.customer_id != customer) {
            let products: BTreeSet<ProductId> = order.items.iter().map(|i| i.product_id).collect();
            if products.iter().any(|p| bought.contains(p)) {
                for p in products.iter().filter(|p| !bought.contains(p)) {
                    *counts.entry(*p).or_default() += 1;
                }
            }
        }
        let mut co_purchased: Vec<(ProductId, u64)> = counts.into_iter().collect();
        co_purchased.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        co_purchased.truncate(limit as usize);
        Ok(emporium_domain::model::PurchaseAffinity {
            bought: bought.into_iter().collect(),
            co_purchased,
        })
    }

    async fn sales_by_product(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<ProductSales>> {
        let state = self.lock();
        let tallies = state.tally(window, |order, item| {
            Some((item.product_id, item.sku.clone(), order.total.currency()))
        });
        let rows = tallies
            .into_iter()
            .map(
                |((product_id, sku, currency), t): ((ProductId, Sku, Currency), Tally)| {
                    Ok(ProductSales {
                        product_id,
                        sku,
                        units: t.units,
                        revenue: t.revenue(currency)?,
                    })
                },
            )
            .collect::<Result<Vec<_>>>()?;
        Ok(page.slice(&by_revenue(rows, |r| r.revenue.amount())))
    }

    async fn sales_by_category(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<CategorySales>> {
        let state = self.lock();
        let tallies = state.tally(window, |order, item| {
            Some((item.category.clone(), order.total.currency()))
        });
        let rows = tallies
            .into_iter()
            .map(|((category, currency), t): ((Category, Currency), Tally)| {
                Ok(CategorySales {
                    category,
                    units: t.units,
                    revenue: t.revenue(currency)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page.slice(&by_revenue(rows, |r| r.revenue.amount())))
    }

    async fn sales_by_supplier(
        &self,
        window: SalesWindow,
        page: PageRequest,
    ) -> Result<Page<SupplierSales>> {
        let state = self.lock();
        let tallies = state.tally(window, |order, item| {
            item.supplier_id.map(|s| (s, order.total.currency()))
        });
        // Orders and deliveries per supplier: each sale once per supplier of its lines.
        let mut deliveries: BTreeMap<SupplierId, (u64, u64, u64)> = BTreeMap::new();
        for order in state.sales_in(window) {
            let suppliers: BTreeSet<SupplierId> =
                order.items.iter().filter_map(|i| i.supplier_id).collect();
            let milestones = state.milestones.get(&order.id).copied().unwrap_or_default();
            let delivered = order.status == emporium_domain::model::OrderStatus::Delivered;
            let seconds = match (milestones.confirmed_at, milestones.delivered_at) {
                (Some(c), Some(d)) if delivered => {
                    u64::try_from((d - c).num_seconds()).unwrap_or(0)
                }
                _ => 0,
            };
            for supplier in suppliers {
                let entry = deliveries.entry(supplier).or_default();
                entry.0 += 1;
                entry.1 += u64::from(delivered);
                entry.2 += seconds;
            }
        }
        let rows = tallies
            .into_iter()
            .map(
                |((supplier_id, currency), t): ((SupplierId, Currency), Tally)| {
                    let (orders, delivered_orders, delivery_seconds) =
                        deliveries.get(&supplier_id).copied().unwrap_or_default();
                    Ok(SupplierSales {
                        supplier_id,
                        units: t.units,
                        revenue: t.revenue(currency)?,
                        orders,
                        delivered_orders,
                        delivery_seconds,
                    })
                },
            )
            .collect::<Result<Vec<_>>>()?;
        Ok(page.slice(&by_revenue(rows, |r| r.revenue.amount())))
    }

    /// Every report reads the orders themselves: nothing to catch up.
    async fn catch_up(&self) -> Result<u64> {
        Ok(0)
    }

    async fn low_stock(&self, at_most: Units, page: PageRequest) -> Result<Page<StockLevel>> {
        let state = self.lock();
        // The records are kept by SKU, so a stable sort by units leaves ties in SKU order.
        let mut low: Vec<StockLevel> = state
            .stock
            .values()
            .filter(|l| l.available() <= at_most.get())
            .cloned()
            .collect();
        low.sort_by_key(StockLevel::available);
        Ok(page.slice(&low))
    }
}
