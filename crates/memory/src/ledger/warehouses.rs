//! Stock per warehouse in memory (ADR 0022), under the ledger's one lock: the same rules
//! as PostgreSQL's `warehouse_stock` and `order_allocations`.

use super::{MemoryLedger, State};
use async_trait::async_trait;
use emporium_domain::model::{
    allocate, OrderId, OrderItem, Page, PageRequest, Sku, StockLevel, Transfer, Units, Warehouse,
    WarehouseId, WarehouseLevel,
};
use emporium_domain::ports::Warehouses;
use emporium_domain::{Error, Result, Shortfall};
use std::collections::BTreeMap;

/// What an order's status change does to the warehouses that serve it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Move {
    Sell,
    Release,
    Restock,
}

/// Units in one warehouse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Cell {
    pub on_hand: u32,
    pub reserved: u32,
}

/// The warehouses, their stock, and which warehouses serve which order.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct WarehouseState {
    /// Created warehouses; the built-in default is always there besides them.
    created: Vec<Warehouse>,
    /// Tuple keys are no JSON object keys, so the snapshot writes the cells as pairs.
    #[serde(with = "cells_as_pairs")]
    cells: BTreeMap<(Sku, WarehouseId), Cell>,
    allocations: BTreeMap<OrderId, Vec<(Sku, WarehouseId, u32)>>,
}

/// `cells` in the memory snapshot as a list of `[[sku, warehouse], cell]` pairs.
mod cells_as_pairs {
    use super::{Cell, Sku, WarehouseId};
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;

    type Cells = BTreeMap<(Sku, WarehouseId), Cell>;

    pub fn serialize<S: Serializer>(cells: &Cells, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(cells.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Cells, D::Error> {
        Ok(
            Vec::<((Sku, WarehouseId), Cell)>::deserialize(deserializer)?
                .into_iter()
                .collect(),
        )
    }
}

impl WarehouseState {
    fn all(&self) -> Vec<Warehouse> {
        std::iter::once(Warehouse::default_warehouse())
            .chain(self.created.iter().cloned())
            .collect()
    }

    fn find(&self, id: WarehouseId) -> Option<Warehouse> {
        self.all().into_iter().find(|w| w.id == id)
    }

    fn levels(
        &self,
        sku: &Sku,
        product_id: emporium_domain::model::ProductId,
    ) -> Vec<WarehouseLevel> {
        let mut out: Vec<WarehouseLevel> = self
            .cells
            .iter()
            .filter(|((s, _), _)| s == sku)
            .filter_map(|((s, w), c)| {
                self.find(*w).map(|h| WarehouseLevel {
                    sku: s.clone(),
                    product_id,
                    warehouse_id: *w,
                    code: h.code,
                    on_hand: c.on_hand,
                    reserved: c.reserved,
                })
            })
            .collect();
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out
    }

    /// The default warehouse takes up whatever the others do not hold of `total`.
    fn resync_default(&mut self, total: &StockLevel) {
        let (mut on_hand, mut reserved) = (0u32, 0u32);
        for ((s, w), c) in &self.cells {
            if s == &total.sku && *w != WarehouseId::DEFAULT {
                on_hand += c.on_hand;
                reserved += c.reserved;
            }
        }
        self.cells.insert(
            (total.sku.clone(), WarehouseId::DEFAULT),
            Cell {
                on_hand: total.on_hand.saturating_sub(on_hand),
                reserved: total.reserved.saturating_sub(reserved),
            },
        );
    }

    pub(super) fn add_stock(&mut self, sku: &Sku, on_hand: u32) {
        self.cells.insert(
            (sku.clone(), WarehouseId::DEFAULT),
            Cell {
                on_hand,
                reserved: 0,
            },
        );
    }

    /// The default warehouse's `(on_hand, reserved)` of `sku`, when it has a cell.
    pub(super) fn default_cell(&self, sku: &Sku) -> Option<(u32, u32)> {
        self.cells
            .get(&(sku.clone(), WarehouseId::DEFAULT))
            .map(|c| (c.on_hand, c.reserved))
    }

    /// True for the default and every created warehouse.
    pub(super) fn knows(&self, id: WarehouseId) -> bool {
        self.find(id).is_some()
    }

    /// A loaded SKU's split (ADR 0023), over warehouses [`Self::knows`] has checked.
    pub(super) fn load_split(&mut self, sku: &Sku, split: &[(WarehouseId, Units)]) {
        for (warehouse, units) in split {
            self.cells.insert(
                (sku.clone(), *warehouse),
                Cell {
                    on_hand: units.get(),
                    reserved: 0,
                },
            );
        }
    }

    pub(super) fn remove_stock(&mut self, sku: &Sku) {
        self.cells.retain(|(s, _), _| s != sku);
    }
}

impl State {
    /// The stock record of `sku` when its warehouse cells do not add up to it.
    pub(super) fn warehouse_mismatch(
        &self,
        sku: &Sku,
    ) -> Option<emporium_domain::model::WarehouseMismatch> {
        let total = self.stock.get(sku)?;
        let split = self
            .warehouses
            .cells
            .iter()
            .filter(|((s, _), _)| s == sku)
            .fold((0u64, 0u64), |(o, r), (_, c)| {
                (o + u64::from(c.on_hand), r + u64::from(c.reserved))
            });
        let agrees = (u64::from(total.on_hand), u64::from(total.reserved)) == split;
        (!agrees).then(|| emporium_domain::model::WarehouseMismatch {
            sku: sku.clone(),
            product_id: total.product_id,
            total: (total.on_hand, total.reserved),
            split,
        })
    }

    /// Splits a new order's units over warehouses (most available first); the totals
    /// were checked and reserved already.
    pub(super) fn allocate(&mut self, order: OrderId, items: &[OrderItem]) {
        let mut demand: BTreeMap<Sku, u32> = BTreeMap::new();
        for item in items {
            *demand.entry(item.sku.clone()).or_default() += item.quantity.get();
        }
        let mut split = Vec::new();
        for (sku, units) in demand {
            let Some(total) = self.stock.get(&sku).cloned() else {
                continue;
            };
            let levels = |w: &super::warehouses::WarehouseState| -> Vec<(WarehouseId, u32)> {
                w.cells
                    .iter()
                    .filter(|((s, _), _)| *s == sku)
                    .map(|((_, w), c)| (*w, c.on_hand - c.reserved))
                    .collect()
            };
            let plan = match allocate(&levels(&self.warehouses), units) {
                Some(plan) => plan,
                None => {
                    // The sums drifted from the total (`units` are reserved in it already).
                    let mut before = total.clone();
                    before.reserved -= units.min(before.reserved);
                    self.warehouses.resync_default(&before);
                    allocate(&levels(&self.warehouses), units).unwrap_or_default()
                }
            };
            for (w, q) in plan {
                if let Some(cell) = self.warehouses.cells.get_mut(&(sku.clone(), w)) {
                    cell.reserved += q;
                }
                split.push((sku.clone(), w, q));
            }
        }
        self.warehouses.allocations.insert(order, split);
    }

    /// Applies an order's stock move to the warehouses that serve it.
    pub(super) fn move_allocations(&mut self, order: OrderId, mv: Move) {
        let Some(split) = self.warehouses.allocations.get(&order).cloned() else {
            return;
        };
        for (sku, w, q) in split {
            if let Some(cell) = self.warehouses.cells.get_mut(&(sku, w)) {
                match mv {
                    Move::Sell => {
                        cell.on_hand -= q;
                        cell.reserved -= q;
                    }
                    Move::Release => cell.reserved -= q,
                    Move::Restock => cell.on_hand += q,
                }
            }
        }
    }

    /// After the total's `reserved` was repaired: warehouses hold what their pending
    /// orders' splits say, the default warehouse the rest.
    pub(super) fn resync_reserved(&mut self, sku: &Sku) {
        let pending: Vec<OrderId> = self
            .orders
            .values()
            .filter(|o| o.status == emporium_domain::model::OrderStatus::Pending)
            .map(|o| o.id)
            .collect();
        let mut held: BTreeMap<WarehouseId, u32> = BTreeMap::new();
        for id in pending {
            for (s, w, q) in self.warehouses.allocations.get(&id).into_iter().flatten() {
                if s == sku {
                    *held.entry(*w).or_default() += q;
                }
            }
        }
        for ((s, w), cell) in self.warehouses.cells.iter_mut() {
            if s == sku && *w != WarehouseId::DEFAULT {
                cell.reserved = held.get(w).copied().unwrap_or(0).min(cell.on_hand);
            }
        }
        if let Some(total) = self.stock.get(sku).cloned() {
            self.warehouses.resync_default(&total);
        }
    }

    /// `on_hand = reserved + available` in one warehouse, and the total with it.
    pub(super) fn set_available_in(
        &mut self,
        sku: &Sku,
        warehouse: WarehouseId,
        available: u32,
    ) -> Result<StockLevel> {
        if !self.stock.contains_key(sku) {
            return Err(Error::NotFound("stock"));
        }
        if self.warehouses.find(warehouse).is_none() {
            return Err(Error::NotFound("warehouse"));
        }
        let cell = self
            .warehouses
            .cells
            .entry((sku.clone(), warehouse))
            .or_default();
        let before_on_hand = cell.on_hand;
        cell.on_hand = cell.reserved + available;
        let after_on_hand = cell.on_hand;
        let level = self.stock.get_mut(sku).expect("checked above");
        let before = level.clone();
        level.on_hand = level.on_hand + after_on_hand - before_on_hand;
        let level = level.clone();
        self.stock_moved(Some(&before), sku);
        Ok(level)
    }
}

#[async_trait]
impl Warehouses for MemoryLedger {
    async fn create_warehouse(&self, warehouse: &Warehouse) -> Result<()> {
        let mut state = self.lock();
        if state
            .warehouses
            .all()
            .iter()
            .any(|w| w.code == warehouse.code || w.id == warehouse.id)
        {
            return Err(Error::Conflict(format!(
                "a warehouse with code `{}` exists",
                warehouse.code
            )));
        }
        state.warehouses.created.push(warehouse.clone());
        Ok(())
    }

    async fn warehouses(&self, page: PageRequest) -> Result<Page<Warehouse>> {
        Ok(page.slice(&self.lock().warehouses.all()))
    }

    async fn warehouse_levels(&self, sku: &Sku) -> Result<Vec<WarehouseLevel>> {
        let state = self.lock();
        Ok(match state.stock.get(sku) {
            Some(total) => state.warehouses.levels(sku, total.product_id),
            None => Vec::new(),
        })
    }

    async fn set_warehouse_available(
        &self,
        sku: &Sku,
        warehouse: WarehouseId,
        available: Units,
    ) -> Result<StockLevel> {
        self.lock()
            .set_available_in(sku, warehouse, available.get())
    }

    async fn transfer(&self, t: &Transfer) -> Result<Vec<WarehouseLevel>> {
        let mut state = self.lock();
        let total = state
            .stock
            .get(&t.sku)
            .cloned()
            .ok_or(Error::NotFound("stock"))?;
        if state.warehouses.find(t.from).is_none() || state.warehouses.find(t.to).is_none() {
            return Err(Error::NotFound("warehouse"));
        }
        let q = t.quantity.get();
        let from = state
            .warehouses
            .cells
            .get(&(t.sku.clone(), t.from))
            .copied()
            .unwrap_or_default();
        if from.on_hand - from.reserved < q {
            return Err(Error::InsufficientStock(vec![Shortfall {
                product_id: total.product_id,
                requested: q,
                available: from.on_hand - from.reserved,
            }]));
        }
        state
            .warehouses
            .cells
            .entry((t.sku.clone(), t.from))
            .or_default()
            .on_hand -= q;
        state
            .warehouses
            .cells
            .entry((t.sku.clone(), t.to))
            .or_default()
            .on_hand += q;
        Ok(state.warehouses.levels(&t.sku, total.product_id))
    }

    async fn low_stock_in(
        &self,
        warehouse: WarehouseId,
        at_most: Units,
        page: PageRequest,
    ) -> Result<Page<WarehouseLevel>> {
        let state = self.lock();
        let Some(found) = state.warehouses.find(warehouse) else {
            return Ok(page.slice(&[]));
        };
        let mut rows: Vec<WarehouseLevel> = state
            .warehouses
            .cells
            .iter()
            .filter(|((_, w), c)| *w == warehouse && c.on_hand - c.reserved <= at_most.get())
            .map(|((s, w), c)| WarehouseLevel {
                sku: s.clone(),
                product_id: state.stock.get(s).map(|t| t.product_id).unwrap_or_default(),
                warehouse_id: *w,
                code: found.code.clone(),
                on_hand: c.on_hand,
                reserved: c.reserved,
            })
            .collect();
        rows.sort_by(|a, b| a.available().cmp(&b.available()).then(a.sku.cmp(&b.sku)));
        Ok(page.slice(&rows))
    }
}
