//! Payments: one per order, authorized through the payment gateway.

use super::{now, Money, OrderId, PaymentId, Timestamp};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// Where a payment is. `authorized → voided | refunded`; `declined` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Authorized,
    Declined,
    Voided,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::Declined => "declined",
            PaymentStatus::Voided => "voided",
            PaymentStatus::Refunded => "refunded",
        }
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "authorized" => Ok(PaymentStatus::Authorized),
            "declined" => Ok(PaymentStatus::Declined),
            "voided" => Ok(PaymentStatus::Voided),
            "refunded" => Ok(PaymentStatus::Refunded),
            other => Err(format!("unknown payment status `{other}`")),
        }
    }
}

/// The payment of one order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: PaymentId,
    pub order_id: OrderId,
    pub status: PaymentStatus,
    pub amount: Money,
    pub method: String,
    /// The gateway's reference for the authorization (absent when declined).
    pub gateway_ref: Option<String>,
    /// Why the gateway declined, when it did.
    pub decline_reason: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Payment {
    /// A new payment record for `order_id`, created now.
    pub fn new(
        order_id: OrderId,
        amount: Money,
        method: &str,
        status: PaymentStatus,
        gateway_ref: Option<String>,
        decline_reason: Option<String>,
    ) -> Payment {
        let at = now();
        Payment {
            id: PaymentId::new(),
            order_id,
            status,
            amount,
            method: method.to_owned(),
            gateway_ref,
            decline_reason,
            created_at: at,
            updated_at: at,
        }
    }
}
