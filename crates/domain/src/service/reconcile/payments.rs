//! Step 3 for payments against orders: a sale without an authorization, an authorization
//! held for a closed order, and a pending order that already has a payment.

use super::in_flight::InFlight;
use super::{failed, Finding, FindingKind, Mode, ReconciliationService, Resolution};
use crate::error::Result;
use crate::model::{now, Order, OrderId, OrderStatus, Payment, PaymentId, PaymentStatus};
use crate::ports::{payment_agrees, Authorization};

impl ReconciliationService {
    pub(super) async fn settle_payment(
        &self,
        id: OrderId,
        mode: Mode,
        in_flight: &InFlight,
    ) -> Result<Option<Finding>> {
        let Some(order) = self.stores.orders.get(id).await? else {
            return Ok(None);
        };
        let paid = order.payment.as_ref().map(|p| p.status);
        if payment_agrees(order.status, paid) {
            return Ok(None);
        }
        let (kind, expected) = match order.status {
            OrderStatus::Confirmed | OrderStatus::Shipped | OrderStatus::Delivered => {
                (FindingKind::SaleWithoutPayment, "an authorized payment")
            }
            OrderStatus::Failed | OrderStatus::Cancelled => (
                FindingKind::AuthorizedPaymentOnClosedOrder,
                "no authorized payment",
            ),
            OrderStatus::Queued | OrderStatus::Pending => (
                FindingKind::PendingOrderWithPayment,
                "no payment until the order is settled",
            ),
        };
        let resolution = if let Some(reason) = in_flight.owner(id.as_uuid()) {
            Resolution::Deferred { reason }
        } else {
            match kind {
                FindingKind::SaleWithoutPayment => self.settle_unpaid_sale(&order, mode).await,
                FindingKind::AuthorizedPaymentOnClosedOrder => {
                    self.settle_closed_authorized(&order, mode).await
                }
                _ => Resolution::Deferred {
                    reason: "recovery settles pending orders: forward when the payment is \
                             authorized, released otherwise, once the reservation expires"
                        .into(),
                },
            }
        };
        Ok(Some(Finding {
            kind,
            sku: None,
            product_id: None,
            order_id: Some(id),
            expected: expected.into(),
            actual: format!(
                "order {}, payment {}",
                order.status,
                paid.map_or("none", PaymentStatus::as_str)
            ),
            resolution,
        }))
    }

    /// A sale whose payment record is missing is repaired only when the gateway itself
    /// says it authorized the order (the record was lost, the money was not). Anything else
    /// means goods may leave unpaid: a human decides.
    async fn settle_unpaid_sale(&self, order: &Order, mode: Mode) -> Resolution {
        if let Some(payment) = &order.payment {
            return Resolution::NeedsHuman {
                reason: format!(
                    "the order is a sale but its payment is {}: collect the payment or \
                     cancel the order",
                    payment.status
                ),
            };
        }
        let lookup = "ask the payment gateway for the order's authorization".to_owned();
        let reference = match self.stores.gateway.lookup(order.id).await {
            Ok(Some(Authorization::Approved { reference })) => reference,
            Ok(_) => {
                return Resolution::NeedsHuman {
                    reason: "the order is a sale but the gateway holds no authorization for \
                             it: collect the payment or cancel the order"
                        .into(),
                }
            }
            Err(e) => return failed(lookup, e),
        };
        let action = format!("record the authorization the gateway holds ({reference})");
        if mode == Mode::Check {
            return Resolution::Repairable { action };
        }
        let at = now();
        let payment = Payment {
            id: PaymentId::new(),
            order_id: order.id,
            status: PaymentStatus::Authorized,
            amount: order.total,
            method: "card".into(),
            gateway_ref: Some(reference),
            decline_reason: None,
            created_at: at,
            updated_at: at,
        };
        match self.stores.payments.record(&payment).await {
            Ok(_) => {
                tracing::info!(order_id = %order.id, "recorded a sale's missing authorization");
                Resolution::Repaired { action }
            }
            Err(e) => failed(action, e),
        }
    }

    /// Voiding is always safe here: `failed` and `cancelled` are final, so the
    /// authorization can never be needed again, and voiding twice (a cancellation saga
    /// doing the same at the same time) is harmless. Same steps as recovery.
    async fn settle_closed_authorized(&self, order: &Order, mode: Mode) -> Resolution {
        let Some(payment) = order.payment.clone() else {
            return Resolution::NeedsHuman {
                reason: "the payment record vanished while it was read".into(),
            };
        };
        let Some(reference) = payment.gateway_ref.clone() else {
            return Resolution::NeedsHuman {
                reason: "the authorized payment has no gateway reference to void".into(),
            };
        };
        let action =
            format!("void authorization {reference} at the gateway and record the payment voided");
        if mode == Mode::Check {
            return Resolution::Repairable { action };
        }
        if let Err(e) = self.stores.gateway.void(&reference).await {
            return failed(action, e);
        }
        let voided = Payment {
            status: PaymentStatus::Voided,
            updated_at: now(),
            ..payment
        };
        match self.stores.payments.record(&voided).await {
            Ok(_) => {
                tracing::info!(order_id = %order.id, "voided the authorization of a closed order");
                Resolution::Repaired { action }
            }
            Err(e) => failed(action, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::OrderStatus::*;
    use crate::model::PaymentStatus::*;
    use crate::ports::payment_agrees;

    #[test]
    fn payment_rule_matches_the_order_life_cycle() {
        for sale in [Confirmed, Shipped, Delivered] {
            assert!(payment_agrees(sale, Some(Authorized)));
            for other in [None, Some(Declined), Some(Voided), Some(Refunded)] {
                assert!(!payment_agrees(sale, other), "{sale} with {other:?}");
            }
        }
        for closed in [Failed, Cancelled] {
            assert!(!payment_agrees(closed, Some(Authorized)));
            for other in [None, Some(Declined), Some(Voided), Some(Refunded)] {
                assert!(payment_agrees(closed, other), "{closed} with {other:?}");
            }
        }
        assert!(payment_agrees(Pending, None));
        assert!(!payment_agrees(Pending, Some(Authorized)));
    }
}
