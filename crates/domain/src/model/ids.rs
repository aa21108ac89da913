//! Identifier newtypes over UUID v7 (they sort by creation time).

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

id_type!(
    /// Identifies a catalog entry.
    ProductId
);
id_type!(
    /// Identifies a supplier.
    SupplierId
);
id_type!(
    /// Identifies an order; also the payment gateway's idempotency key for its payment.
    OrderId
);
id_type!(
    /// Identifies a payment.
    PaymentId
);
id_type!(
    /// Identifies one run of a saga in the saga log.
    SagaId
);
id_type!(
    /// Identifies one backup, restore, snapshot or PITR job; a backup's id is its job's.
    JobId
);
id_type!(
    /// Identifies a category of the category tree.
    CategoryId
);
id_type!(
    /// Identifies a shopping cart.
    CartId
);
id_type!(
    /// Identifies a review.
    ReviewId
);
id_type!(
    /// Identifies a warehouse.
    WarehouseId
);

impl WarehouseId {
    /// The built-in warehouse with code `default` (ADR 0022): the stock given when a
    /// product is created or set with `PUT /api/products/{id}` is its stock there.
    pub const DEFAULT: WarehouseId =
        WarehouseId(Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001));
}
