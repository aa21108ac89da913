//! Stock records: units on hand and units reserved by orders in flight, per SKU.

use super::{ProductId, Sku};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A count of units, `0..=1_000_000_000` (fits PostgreSQL `INTEGER` with room to add).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(try_from = "i64")]
pub struct Units(u32);

impl Units {
    pub const MAX: u32 = 1_000_000_000;
    pub const ZERO: Units = Units(0);

    pub fn new(n: u32) -> Result<Units, String> {
        if n > Self::MAX {
            Err(format!("must be at most {}", Self::MAX))
        } else {
            Ok(Units(n))
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Units {
    type Error = String;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        if n < 0 {
            return Err("must not be negative".into());
        }
        u32::try_from(n)
            .map_err(|_| format!("must be at most {}", Units::MAX))
            .and_then(Units::new)
    }
}

impl fmt::Display for Units {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The stock of one SKU. Invariant kept by every adapter: `reserved <= on_hand`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub sku: Sku,
    pub product_id: ProductId,
    /// Units physically in stock, including those reserved.
    pub on_hand: u32,
    /// Units held by orders in flight (reserved, not yet sold or released).
    pub reserved: u32,
}

impl StockLevel {
    /// Units that can be sold now.
    pub fn available(&self) -> u32 {
        self.on_hand - self.reserved
    }
}
