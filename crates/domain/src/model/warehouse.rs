//! Warehouses and stock per location (ADR 0022).

use super::{now, Name, ProductId, Region, Sku, Timestamp, Units, WarehouseId};
use crate::error::{Result, Violations};
use serde::{Deserialize, Serialize};

/// A warehouse's short code: 1-32 characters of lower-case letters, digits, `-` and `_`
/// (`default`, `eu-west-1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WarehouseCode(String);

impl WarehouseCode {
    pub fn parse(value: impl Into<String>) -> std::result::Result<WarehouseCode, String> {
        let value = value.into();
        let ok = (1..=32).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(WarehouseCode(value))
        } else {
            Err("must be 1-32 characters of a-z, 0-9, '-' and '_'".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WarehouseCode {
    type Error = String;
    fn try_from(value: String) -> std::result::Result<WarehouseCode, String> {
        WarehouseCode::parse(value)
    }
}

impl From<WarehouseCode> for String {
    fn from(c: WarehouseCode) -> String {
        c.0
    }
}

impl std::fmt::Display for WarehouseCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A place stock is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warehouse {
    pub id: WarehouseId,
    pub code: WarehouseCode,
    pub name: Name,
    pub region: Region,
    pub created_at: Timestamp,
}

/// Raw warehouse fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct WarehouseInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub region: Option<String>,
}

impl Warehouse {
    /// The built-in warehouse every store has.
    pub fn default_warehouse() -> Warehouse {
        Warehouse {
            id: WarehouseId::DEFAULT,
            code: WarehouseCode("default".into()),
            name: Name::parse("Default warehouse").expect("a valid name"),
            region: Region::parse("default").expect("a valid region"),
            created_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("2026-01-01"),
        }
    }

    pub fn parse_new(input: WarehouseInput) -> Result<Warehouse> {
        let mut v = Violations::new();
        let code = match input.code {
            Some(c) => v.check("code", WarehouseCode::parse(c)),
            None => {
                v.push("code", "is required");
                None
            }
        };
        let name = match input.name {
            Some(n) => v.check("name", Name::parse(n)),
            None => {
                v.push("name", "is required");
                None
            }
        };
        let region = match input.region {
            Some(r) => v.check("region", Region::parse(r)),
            None => {
                v.push("region", "is required");
                None
            }
        };
        let (code, name, region) = v.finish_with((code, name, region))?;
        Ok(Warehouse {
            id: WarehouseId::new(),
            code,
            name,
            region,
            created_at: now(),
        })
    }
}

/// One SKU's units in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarehouseLevel {
    pub sku: Sku,
    pub product_id: super::ProductId,
    pub warehouse_id: WarehouseId,
    pub code: WarehouseCode,
    pub on_hand: u32,
    pub reserved: u32,
}

impl WarehouseLevel {
    pub fn available(&self) -> u32 {
        self.on_hand - self.reserved
    }
}

/// Units to move between two warehouses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub sku: Sku,
    pub from: WarehouseId,
    pub to: WarehouseId,
    pub quantity: Units,
}

/// How an order's demand for one SKU is split over warehouses: the warehouse with the
/// most units available first, then the next, ties by id. `levels` are the SKU's
/// warehouses; returns `(warehouse, units)` pairs, or `None` when they hold too few.
pub fn allocate(levels: &[(WarehouseId, u32)], units: u32) -> Option<Vec<(WarehouseId, u32)>> {
    let mut ranked: Vec<&(WarehouseId, u32)> = levels.iter().filter(|(_, a)| *a > 0).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut left = units;
    let mut out = Vec::new();
    for (w, available) in ranked {
        if left == 0 {
            break;
        }
        let take = left.min(*available);
        out.push((*w, take));
        left -= take;
    }
    (left == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_stock_first_splitting_when_needed() {
        let (a, b, c) = (WarehouseId::new(), WarehouseId::new(), WarehouseId::new());
        let levels = [(a, 3), (b, 10), (c, 0)];
        assert_eq!(allocate(&levels, 4), Some(vec![(b, 4)]));
        assert_eq!(allocate(&levels, 12), Some(vec![(b, 10), (a, 2)]));
        assert_eq!(allocate(&levels, 14), None);
        assert_eq!(allocate(&levels, 0), Some(vec![]));
        assert!(WarehouseCode::parse("eu-west_1").is_ok());
        assert!(WarehouseCode::parse("EU").is_err());
    }
}

/// A stock record to load in bulk (`emporium seed`, imports): a SKU's units per
/// warehouse; its total is their sum. Nothing is reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockLoad {
    pub sku: Sku,
    pub product_id: ProductId,
    /// At least one warehouse; each named once.
    pub warehouses: Vec<(WarehouseId, Units)>,
}

impl StockLoad {
    /// The SKU's total over its warehouses.
    pub fn total(&self) -> u32 {
        self.warehouses.iter().map(|(_, u)| u.get()).sum()
    }
}

/// A stock record whose warehouse rows do not add up to it (ADR 0022): found by
/// reconciliation, repaired by letting the default warehouse take up the difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseMismatch {
    pub sku: Sku,
    pub product_id: ProductId,
    /// The record's `(on_hand, reserved)`.
    pub total: (u32, u32),
    /// The sums over its warehouses.
    pub split: (u64, u64),
}
