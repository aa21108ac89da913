//! Inventory, orders and payments in memory, under one lock: the in-process equivalent of
//! a PostgreSQL transaction over the three tables.

use crate::events::MemoryEventLog;
use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{
    now, NewOrder, Order, OrderId, OrderItem, OrderQuery, OrderStatus, Page, Payment, ProductId,
    SagaId, SagaRecord, SagaState, Sku, StockLevel, Timestamp, Units,
};
use emporium_domain::model::{DomainEvent, EventKind};
use emporium_domain::ports::{
    payment_agrees, Cancellation, Holding, Inventory, LedgerAudit, Orders, Payments, Release,
    SagaLog, Settlement,
};
use emporium_domain::{Error, Result, Shortfall};
use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};

mod load;
mod reports;
mod warehouses;

use warehouses::Move;
pub use warehouses::WarehouseState;

#[derive(Default)]
struct State {
    stock: BTreeMap<Sku, StockLevel>,
    orders: HashMap<OrderId, Order>,
    payments: HashMap<OrderId, Payment>,
    sagas: HashMap<SagaId, SagaRecord>,
    /// When each order was confirmed and delivered (the supplier report's delivery times).
    milestones: HashMap<OrderId, Milestones>,
    /// Events of the operation under way, handed to the feed when the lock is released
    /// (what PostgreSQL's triggers write into the outbox).
    outbox: Vec<DomainEvent>,
    /// Stock per warehouse (ADR 0022).
    warehouses: WarehouseState,
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct Milestones {
    confirmed_at: Option<Timestamp>,
    delivered_at: Option<Timestamp>,
}

impl State {
    fn with_payment(&self, order: &Order) -> Order {
        let mut order = order.clone();
        order.payment = self.payments.get(&order.id).cloned();
        order
    }

    /// Applies `f` to the stock record of every line whose SKU still has one.
    fn each_line(&mut self, items: &[OrderItem], f: impl Fn(&mut StockLevel, u32)) {
        for item in items {
            if let Some(level) = self.stock.get_mut(&item.sku) {
                f(level, item.quantity.get());
                let event = stock_event(level);
                self.outbox.push(event);
            }
        }
    }

    /// Records a `stock.changed` for `sku` when it differs from `before`.
    fn stock_moved(&mut self, before: Option<&StockLevel>, sku: &Sku) {
        if let Some(level) = self.stock.get(sku) {
            if before.is_none_or(|b| (b.on_hand, b.reserved) != (level.on_hand, level.reserved)) {
                let event = stock_event(level);
                self.outbox.push(event);
            }
        }
    }

    /// Moves the order to `to` (checked by the state machine) and returns it with its payment.
    fn set_status(&mut self, id: OrderId, to: OrderStatus) -> Result<Order> {
        let order = self.orders.get_mut(&id).ok_or(Error::NotFound("order"))?;
        order.status = order.status.transition(to)?;
        order.updated_at = now();
        let order = order.clone();
        self.outbox
            .push(DomainEvent::order(EventKind::OrderUpdated, &order));
        let milestones = self.milestones.entry(id).or_default();
        match to {
            OrderStatus::Confirmed => milestones.confirmed_at = Some(order.updated_at),
            OrderStatus::Delivered => milestones.delivered_at = Some(order.updated_at),
            _ => {}
        }
        Ok(self.with_payment(&order))
    }

    fn create_pending(&mut self, new: &NewOrder) -> Result<Order> {
        if let Some(existing) = self.orders.get(&new.id) {
            return Ok(self.with_payment(existing));
        }
        let shortfalls: Vec<Shortfall> = new
            .items
            .iter()
            .filter_map(|item| {
                let available = self.stock.get(&item.sku).map_or(0, StockLevel::available);
                (available < item.quantity.get()).then_some(Shortfall {
                    product_id: item.product_id,
                    requested: item.quantity.get(),
                    available,
                })
            })
            .collect();
        if !shortfalls.is_empty() {
            return Err(Error::InsufficientStock(shortfalls));
        }
        self.each_line(&new.items, |level, q| level.reserved += q);
        self.allocate(new.id, &new.items);
        let order = Order::pending(new);
        self.orders.insert(order.id, order.clone());
        self.outbox
            .push(DomainEvent::order(EventKind::OrderCreated, &order));
        Ok(order)
    }

    fn confirm(&mut self, id: OrderId) -> Result<Order> {
        let order = self.order(id)?.clone();
        match order.status {
            OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered => {
                return Ok(self.with_payment(&order))
            }
            status => status.transition(OrderStatus::Confirmed)?,
        };
        self.each_line(&order.items, |level, q| {
            level.reserved -= q;
            level.on_hand -= q;
        });
        self.move_allocations(id, Move::Sell);
        self.set_status(id, OrderStatus::Confirmed)
    }

    fn fail(&mut self, id: OrderId) -> Result<Order> {
        let order = self.order(id)?.clone();
        if order.status == OrderStatus::Failed {
            return Ok(self.with_payment(&order));
        }
        order.status.transition(OrderStatus::Failed)?;
        self.each_line(&order.items, |level, q| level.reserved -= q);
        self.move_allocations(id, Move::Release);
        self.set_status(id, OrderStatus::Failed)
    }

    /// Stores the order's payment, keeping the first record's id and creation time.
    fn record_payment(&mut self, payment: &Payment) -> Payment {
        let stored = match self.payments.get(&payment.order_id) {
            Some(first) => Payment {
                id: first.id,
                created_at: first.created_at,
                ..payment.clone()
            },
            None => payment.clone(),
        };
        self.payments.insert(payment.order_id, stored.clone());
        stored
    }

    /// Stores a saga record as the saga log does: replaced whole, first start kept.
    fn save_saga(&mut self, saga: &SagaRecord) {
        let started_at = self
            .sagas
            .get(&saga.id)
            .map_or(saga.started_at, |s| s.started_at);
        self.sagas.insert(
            saga.id,
            SagaRecord {
                started_at,
                ..saga.clone()
            },
        );
    }

    fn order(&self, id: OrderId) -> Result<&Order> {
        self.orders.get(&id).ok_or(Error::NotFound("order"))
    }

    /// Units of every SKU on the lines of `pending` orders.
    fn held_by_pending(&self) -> BTreeMap<&Sku, u64> {
        let mut held = BTreeMap::new();
        for order in self.orders.values() {
            if order.status.holds_reservation() {
                for item in &order.items {
                    *held.entry(&item.sku).or_default() += u64::from(item.quantity.get());
                }
            }
        }
        held
    }

    /// The record of `sku` and what pending orders hold of it. Under the ledger's one
    /// lock, which every order move takes too, this is a consistent reading.
    fn holding(&self, sku: &Sku) -> Option<Holding> {
        let level = self.stock.get(sku)?.clone();
        let held = self.held_by_pending().get(sku).copied().unwrap_or(0);
        Some(Holding { level, held })
    }
}

fn stock_event(level: &StockLevel) -> DomainEvent {
    DomainEvent::stock_changed(level.product_id, level.available(), level.reserved)
}

/// Implements [`Inventory`], [`Orders`], [`Payments`] and [`SagaLog`] over one mutex, so a
/// ledger step and its saga record change together, as in one PostgreSQL transaction.
/// Every order and stock change is recorded in the [`MemoryEventLog`] before the lock is
/// released, as PostgreSQL's triggers record it in the outbox.
#[derive(Default)]
pub struct MemoryLedger {
    state: Mutex<State>,
    feed: Arc<MemoryEventLog>,
}

/// The ledger's lock; on release, the operation's events go to the feed.
struct Tx<'a> {
    state: MutexGuard<'a, State>,
    feed: &'a MemoryEventLog,
}

impl Deref for Tx<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.state.outbox.is_empty() {
            self.feed.record(self.state.outbox.drain(..));
        }
    }
}

/// Everything the ledger holds, as a backup keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct LedgerSnapshot {
    stock: Vec<StockLevel>,
    orders: Vec<Order>,
    payments: Vec<Payment>,
    sagas: Vec<SagaRecord>,
    milestones: Vec<(OrderId, Milestones)>,
    #[serde(default)]
    warehouses: WarehouseState,
}

impl LedgerSnapshot {
    /// Rows per table, as PostgreSQL would count them.
    pub fn counts(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("stock", self.stock.len() as u64),
            ("orders", self.orders.len() as u64),
            ("payments", self.payments.len() as u64),
            ("sagas", self.sagas.len() as u64),
        ]
    }
}

impl MemoryLedger {
    /// A copy of everything, taken under the ledger's lock (one consistent moment).
    pub fn snapshot(&self) -> LedgerSnapshot {
        let state = lock(&self.state);
        LedgerSnapshot {
            stock: state.stock.values().cloned().collect(),
            orders: state
                .orders
                .values()
                .map(|o| Order {
                    payment: None,
                    ..o.clone()
                })
                .collect(),
            payments: state.payments.values().cloned().collect(),
            sagas: state.sagas.values().cloned().collect(),
            milestones: state.milestones.iter().map(|(id, m)| (*id, *m)).collect(),
            warehouses: state.warehouses.clone(),
        }
    }

    /// Replaces everything with `snapshot`. Nothing goes to the feed: a restore is not a
    /// change clients replay.
    pub fn restore(&self, snapshot: LedgerSnapshot) {
        let mut state = lock(&self.state);
        state.stock = snapshot
            .stock
            .into_iter()
            .map(|s| (s.sku.clone(), s))
            .collect();
        state.orders = snapshot.orders.into_iter().map(|o| (o.id, o)).collect();
        state.payments = snapshot
            .payments
            .into_iter()
            .map(|p| (p.order_id, p))
            .collect();
        state.sagas = snapshot.sagas.into_iter().map(|s| (s.id, s)).collect();
        state.milestones = snapshot.milestones.into_iter().collect();
        state.warehouses = snapshot.warehouses;
        state.outbox.clear();
    }

    /// A ledger recording its events in `feed`.
    pub fn with_feed(feed: Arc<MemoryEventLog>) -> MemoryLedger {
        MemoryLedger {
            state: Mutex::default(),
            feed,
        }
    }

    fn lock(&self) -> Tx<'_> {
        Tx {
            state: lock(&self.state),
            feed: &self.feed,
        }
    }
}

#[async_trait]
impl Inventory for MemoryLedger {
    async fn create_stock(
        &self,
        sku: &Sku,
        product: ProductId,
        on_hand: Units,
    ) -> Result<StockLevel> {
        let mut state = self.lock();
        if state.stock.contains_key(sku) {
            return Err(Error::Conflict(format!("sku {sku} already has stock")));
        }
        let level = StockLevel {
            sku: sku.clone(),
            product_id: product,
            on_hand: on_hand.get(),
            reserved: 0,
        };
        state.stock.insert(sku.clone(), level.clone());
        state.warehouses.add_stock(sku, on_hand.get());
        state.stock_moved(None, sku);
        Ok(level)
    }

    /// The stock in the default warehouse (ADR 0022), and the total with it.
    async fn set_available(&self, sku: &Sku, available: Units) -> Result<StockLevel> {
        self.lock().set_available_in(
            sku,
            emporium_domain::model::WarehouseId::DEFAULT,
            available.get(),
        )
    }

    async fn stock(&self, sku: &Sku) -> Result<Option<StockLevel>> {
        Ok(self.lock().stock.get(sku).cloned())
    }

    async fn stock_many(&self, skus: &[Sku]) -> Result<Vec<StockLevel>> {
        let state = self.lock();
        Ok(skus
            .iter()
            .filter_map(|s| state.stock.get(s).cloned())
            .collect())
    }

    async fn remove_stock(&self, sku: &Sku) -> Result<Option<StockLevel>> {
        let mut state = self.lock();
        state.warehouses.remove_stock(sku);
        Ok(state.stock.remove(sku))
    }

    async fn levels(&self, after: Option<&Sku>, limit: u32) -> Result<Vec<StockLevel>> {
        let state = self.lock();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(state
            .stock
            .range((from, Bound::Unbounded))
            .take(limit as usize)
            .map(|(_, level)| level.clone())
            .collect())
    }

    async fn repair_reserved(&self, sku: &Sku, reserved: Units) -> Result<StockLevel> {
        let mut state = self.lock();
        let level = state.stock.get_mut(sku).ok_or(Error::NotFound("stock"))?;
        if reserved.get() > level.on_hand {
            return Err(Error::Conflict(format!(
                "cannot reserve {reserved} of SKU {sku}: only {} on hand",
                level.on_hand
            )));
        }
        let before = level.clone();
        level.reserved = reserved.get();
        let level = level.clone();
        state.resync_reserved(sku);
        state.stock_moved(Some(&before), sku);
        Ok(level)
    }

    async fn remove_unreserved(&self, sku: &Sku) -> Result<Option<StockLevel>> {
        let mut state = self.lock();
        match state.stock.get(sku) {
            None => Ok(None),
            Some(level) if level.reserved > 0 => Err(Error::Conflict(format!(
                "SKU {sku} has {} units reserved",
                level.reserved
            ))),
            Some(_) => {
                state.warehouses.remove_stock(sku);
                Ok(state.stock.remove(sku))
            }
        }
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl Orders for MemoryLedger {
    async fn create_pending(&self, new: &NewOrder) -> Result<Order> {
        self.lock().create_pending(new)
    }

    async fn reserve(&self, new: &NewOrder, saga: &SagaRecord) -> Result<Order> {
        let mut state = self.lock();
        let order = state.create_pending(new)?;
        state.save_saga(saga);
        Ok(order)
    }

    async fn settle(
        &self,
        id: OrderId,
        settlement: &Settlement,
        saga: &SagaRecord,
    ) -> Result<Order> {
        let mut state = self.lock();
        state.order(id)?;
        let order = match settlement {
            Settlement::Confirm(payment) => {
                // Nothing is written when the order cannot be confirmed: a settlement is
                // one transaction, as in the ledger's SQL.
                state.order(id)?.status.transition(OrderStatus::Confirmed)?;
                state.record_payment(payment);
                state.confirm(id)?
            }
            Settlement::Fail(payment) => {
                let order = state.fail(id)?;
                match payment {
                    Some(payment) => {
                        state.record_payment(payment);
                        state.with_payment(&order)
                    }
                    None => order,
                }
            }
        };
        state.save_saga(saga);
        Ok(order)
    }

    async fn confirm(&self, id: OrderId) -> Result<Order> {
        self.lock().confirm(id)
    }

    async fn fail(&self, id: OrderId) -> Result<Order> {
        self.lock().fail(id)
    }

    async fn cancel(&self, id: OrderId) -> Result<Cancellation> {
        let mut state = self.lock();
        let order = state.order(id)?.clone();
        let previous = order.status;
        match previous {
            OrderStatus::Cancelled => {
                return Ok(Cancellation {
                    order: state.with_payment(&order),
                    previous,
                })
            }
            OrderStatus::Pending => {
                state.each_line(&order.items, |level, q| level.reserved -= q);
                state.move_allocations(id, Move::Release);
            }
            OrderStatus::Confirmed => {
                state.each_line(&order.items, |level, q| level.on_hand += q);
                state.move_allocations(id, Move::Restock);
            }
            other => other.transition(OrderStatus::Cancelled).map(|_| ())?,
        }
        let order = state.set_status(id, OrderStatus::Cancelled)?;
        Ok(Cancellation { order, previous })
    }

    async fn advance(&self, id: OrderId, to: OrderStatus) -> Result<Order> {
        if !matches!(to, OrderStatus::Shipped | OrderStatus::Delivered) {
            let from = Orders::get(self, id)
                .await?
                .ok_or(Error::NotFound("order"))?
                .status;
            return Err(Error::InvalidTransition { from, to });
        }
        self.lock().set_status(id, to)
    }

    async fn anonymise(&self, customer: &emporium_domain::model::CustomerId) -> Result<u64> {
        let mut state = self.lock();
        let anonymous =
            emporium_domain::model::CustomerId::parse(emporium_domain::ports::ANONYMOUS_CUSTOMER)
                .map_err(Error::Internal)?;
        let at = now();
        let mut changed = Vec::new();
        for order in state.orders.values_mut() {
            if &order.customer_id == customer {
                order.customer_id = anonymous.clone();
                order.customer_name = None;
                order.updated_at = at;
                changed.push(order.clone());
            }
        }
        for order in &changed {
            state
                .outbox
                .push(DomainEvent::order(EventKind::OrderUpdated, order));
        }
        Ok(changed.len() as u64)
    }

    async fn record_failed(&self, new: &NewOrder, reason: &str) -> Result<Order> {
        let mut state = self.lock();
        if let Some(order) = state.orders.get_mut(&new.id) {
            if order.status == OrderStatus::Failed && order.failure_reason.is_none() {
                order.failure_reason = Some(reason.to_owned());
                order.updated_at = now();
            }
            let order = order.clone();
            return Ok(state.with_payment(&order));
        }
        let order = Order {
            status: OrderStatus::Failed,
            failure_reason: Some(reason.to_owned()),
            ..Order::pending(new)
        };
        state.orders.insert(order.id, order.clone());
        state
            .outbox
            .push(DomainEvent::order(EventKind::OrderCreated, &order));
        Ok(order)
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>> {
        let state = self.lock();
        Ok(state.orders.get(&id).map(|o| state.with_payment(o)))
    }

    async fn list(&self, query: &OrderQuery) -> Result<Page<Order>> {
        let state = self.lock();
        let mut matches: Vec<Order> = state
            .orders
            .values()
            .filter(|o| query.matches(o))
            .map(|o| state.with_payment(o))
            .collect();
        matches.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(query.page.slice(&matches))
    }
}

#[async_trait]
impl LedgerAudit for MemoryLedger {
    async fn warehouse_mismatches(
        &self,
        after: Option<&Sku>,
        limit: u32,
    ) -> Result<Vec<emporium_domain::model::WarehouseMismatch>> {
        let state = self.lock();
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(state
            .stock
            .range::<Sku, _>((from, Bound::Unbounded))
            .filter_map(|(sku, _)| state.warehouse_mismatch(sku))
            .take(limit as usize)
            .collect())
    }

    async fn resync_warehouses(
        &self,
        sku: &Sku,
    ) -> Result<Option<emporium_domain::model::WarehouseMismatch>> {
        let mut state = self.lock();
        let Some(found) = state.warehouse_mismatch(sku) else {
            return Ok(None);
        };
        let others: u64 = found.split.0
            - state
                .warehouses
                .default_cell(sku)
                .map_or(0, |(on_hand, _)| u64::from(on_hand));
        if others > u64::from(found.total.0) {
            return Err(Error::Conflict(format!(
                "sku {sku}: the other warehouses hold {others} units, more than the record's {}",
                found.total.0
            )));
        }
        state.resync_reserved(sku);
        Ok(Some(found))
    }

    async fn reserved_by_pending(&self) -> Result<Vec<(Sku, u64)>> {
        let state = self.lock();
        Ok(state
            .held_by_pending()
            .into_iter()
            .map(|(sku, units)| (sku.clone(), units))
            .collect())
    }

    async fn holding(&self, sku: &Sku) -> Result<Option<Holding>> {
        Ok(self.lock().holding(sku))
    }

    async fn release_leaked(&self, sku: &Sku) -> Result<Option<Release>> {
        let mut state = self.lock();
        let Some(found) = state.holding(sku) else {
            return Ok(None);
        };
        let Some(level) = state.stock.get_mut(sku) else {
            return Ok(None);
        };
        if u64::from(level.reserved) > found.held {
            // Lower than a u32 `reserved`, so it fits.
            level.reserved = found.held as u32;
        }
        let level = level.clone();
        state.resync_reserved(sku);
        state.stock_moved(Some(&found.level), sku);
        Ok(Some(Release { found, level }))
    }

    async fn payment_mismatches(&self, after: Option<OrderId>, limit: u32) -> Result<Vec<Order>> {
        let state = self.lock();
        let mut page: Vec<Order> = state
            .orders
            .values()
            .filter(|o| after.is_none_or(|after| o.id > after))
            .map(|o| state.with_payment(o))
            .filter(|o| !payment_agrees(o.status, o.payment.as_ref().map(|p| p.status)))
            .collect();
        page.sort_by_key(|o| o.id);
        page.truncate(limit as usize);
        Ok(page)
    }
}

#[async_trait]
impl Payments for MemoryLedger {
    async fn record(&self, payment: &Payment) -> Result<Payment> {
        Ok(self.lock().record_payment(payment))
    }

    async fn for_order(&self, order: OrderId) -> Result<Option<Payment>> {
        Ok(self.lock().payments.get(&order).cloned())
    }
}

#[async_trait]
impl SagaLog for MemoryLedger {
    async fn save(&self, saga: &SagaRecord) -> Result<()> {
        self.lock().save_saga(saga);
        Ok(())
    }

    async fn get(&self, id: SagaId) -> Result<Option<SagaRecord>> {
        Ok(self.lock().sagas.get(&id).cloned())
    }

    async fn in_state(&self, state: SagaState, limit: u32) -> Result<Vec<SagaRecord>> {
        let mut found: Vec<SagaRecord> = self
            .lock()
            .sagas
            .values()
            .filter(|s| s.state == state)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
        found.truncate(limit as usize);
        Ok(found)
    }
}
