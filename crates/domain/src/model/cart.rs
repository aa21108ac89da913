//! Shopping carts (ADR 0019): lines priced when they were last put, a sliding expiry, and
//! a checkout that places one order however often it is retried.
//!
//! A cart holds no stock: units are reserved by the order saga at checkout, never when an
//! item is added, so an abandoned cart costs the shop nothing but a document.

use super::{now, CartId, CustomerId, Money, Name, OrderId, ProductId, Quantity, Sku, Timestamp};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The most lines one cart may hold (an order's limit).
pub const MAX_CART_LINES: usize = super::MAX_ORDER_LINES;

/// One line: a product, how many, and its price when the line was last put.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: Name,
    pub quantity: Quantity,
    pub unit_price: Money,
}

impl CartLine {
    pub fn line_total(&self) -> Result<Money> {
        self.unit_price
            .times(self.quantity.get())
            .map_err(|e| Error::invalid("quantity", e))
    }
}

/// A price that moved between putting a line and checking out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceChange {
    pub product_id: ProductId,
    pub old: Money,
    pub new: Money,
}

/// A shopping cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub id: CartId,
    pub customer_id: CustomerId,
    pub lines: Vec<CartLine>,
    /// Moves on by one with every write; a write names the version it read.
    pub version: u64,
    /// The id the checkout's order gets. Chosen once, before anything is placed, so a
    /// retried or concurrent checkout places that same order rather than a second one.
    pub pending_order: Option<OrderId>,
    /// Set once the checkout placed its order: a later checkout answers with it.
    pub order_id: Option<OrderId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// `updated_at` plus the cart time-to-live; the cart is gone after it.
    pub expires_at: Timestamp,
}

impl Cart {
    pub fn new(customer_id: CustomerId, ttl: chrono::Duration) -> Cart {
        let at = now();
        Cart {
            id: CartId::new(),
            customer_id,
            lines: Vec::new(),
            version: 1,
            pending_order: None,
            order_id: None,
            created_at: at,
            updated_at: at,
            expires_at: at + ttl,
        }
    }

    pub fn is_expired(&self, at: Timestamp) -> bool {
        self.expires_at <= at
    }

    /// The sum of the lines (`None` for an empty cart, which has no currency yet).
    pub fn total(&self) -> Result<Option<Money>> {
        let mut total: Option<Money> = None;
        for line in &self.lines {
            let t = line.line_total()?;
            total = Some(match total {
                None => t,
                Some(sum) => sum.plus(&t).map_err(|e| Error::invalid("items", e))?,
            });
        }
        Ok(total)
    }

    fn open(&self) -> Result<()> {
        match self.order_id {
            Some(order) => Err(Error::Conflict(format!(
                "the cart was checked out as order {order}; start a new cart"
            ))),
            None => Ok(()),
        }
    }

    /// Sets the line of `product` to `quantity` at the product's current price (0
    /// removes it), and moves the expiry on.
    pub fn put(
        &mut self,
        product: &super::Product,
        quantity: i64,
        ttl: chrono::Duration,
    ) -> Result<()> {
        self.open()?;
        if quantity < 0 {
            return Err(Error::invalid(
                "quantity",
                "must be 0 (to remove the line) or more",
            ));
        }
        if quantity == 0 {
            self.lines.retain(|l| l.product_id != product.id);
        } else {
            let quantity = Quantity::new(quantity).map_err(|e| Error::invalid("quantity", e))?;
            let other_currency = self
                .lines
                .iter()
                .find(|l| l.product_id != product.id)
                .map(|l| l.unit_price.currency())
                .filter(|c| *c != product.price.currency());
            if let Some(currency) = other_currency {
                return Err(Error::invalid(
                    "product_id",
                    format!(
                        "the product is priced in {}, the cart in {currency}",
                        product.price.currency()
                    ),
                ));
            }
            let line = CartLine {
                product_id: product.id,
                sku: product.sku.clone(),
                name: product.name.clone(),
                quantity,
                unit_price: product.price,
            };
            // The total must stay within what money can hold.
            line.line_total()?;
            match self.lines.iter_mut().find(|l| l.product_id == product.id) {
                Some(slot) => *slot = line,
                None => {
                    if self.lines.len() >= MAX_CART_LINES {
                        return Err(Error::invalid(
                            "items",
                            format!("a cart holds at most {MAX_CART_LINES} lines"),
                        ));
                    }
                    self.lines.push(line);
                }
            }
            self.total()?;
        }
        self.touch(ttl);
        Ok(())
    }

    /// Moves `updated_at` to now and the expiry with it.
    pub fn touch(&mut self, ttl: chrono::Duration) {
        self.updated_at = now();
        self.expires_at = self.updated_at + ttl;
    }

    /// Compares each line with the catalog: the lines whose product's price moved get the
    /// new price, and the moves are returned. A product that left the catalog is 422.
    pub fn reprice(&mut self, products: &[super::Product]) -> Result<Vec<PriceChange>> {
        let mut changes = Vec::new();
        let mut gone = crate::error::Violations::new();
        for (i, line) in self.lines.iter_mut().enumerate() {
            match products.iter().find(|p| p.id == line.product_id) {
                None => gone.push(
                    format!("items[{i}].product_id"),
                    format!(
                        "product {} is no longer in the catalog; remove the line",
                        line.product_id
                    ),
                ),
                Some(p) if p.price != line.unit_price => {
                    changes.push(PriceChange {
                        product_id: p.id,
                        old: line.unit_price,
                        new: p.price,
                    });
                    line.unit_price = p.price;
                    line.name = p.name.clone();
                }
                Some(_) => {}
            }
        }
        gone.finish()?;
        Ok(changes)
    }
}
