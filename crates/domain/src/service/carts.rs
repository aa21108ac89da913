//! Carts and checkout (ADR 0019).
//!
//! Every cart write reads the cart, changes it, and stores it with a compare-and-set on
//! its version, trying again from a fresh read when another write came first. Checkout
//! re-prices the lines against the catalog, then places the order through the order
//! saga under the id the cart chose for it (`pending_order`), with an idempotency key
//! (the client's, or one derived from the cart and that id). So a retried, duplicated or
//! concurrent checkout places one order, and a checkout that crashed half way is finished
//! by the next one.

use super::OrderService;
use crate::error::{Error, Result};
use crate::model::{
    now, Cart, CartId, CustomerId, IdempotencyKey, Order, OrderId, OrderInput, OrderRequest,
    OrderStatus, ProductId,
};
use crate::ports::Stores;
use std::time::Duration;

/// The default cart time-to-live (`EMPORIUM_CART_TTL`): 7 days after its last change.
pub const DEFAULT_CART_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How many expired carts one purge pass removes at most.
pub const CART_PURGE_BATCH: u32 = 1_000;
/// How often a cart write is tried again after losing the compare-and-set.
const WRITE_ATTEMPTS: u32 = 32;

/// What a checkout answers.
#[derive(Debug)]
pub struct Checkout {
    /// The order, or why it was refused (stock, payment, ...).
    pub outcome: Result<Order>,
    /// True when this request placed the order (201); false when the cart had been
    /// checked out before (200).
    pub placed_now: bool,
    /// True when an `Idempotency-Key` replayed an earlier outcome.
    pub replayed: bool,
}

/// Creates, fills, reads, deletes and checks out carts.
#[derive(Clone)]
pub struct CartService {
    stores: Stores,
    orders: OrderService,
    ttl: chrono::Duration,
}

impl CartService {
    pub fn new(stores: Stores, ttl: Duration) -> Self {
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
        Self {
            orders: OrderService::new(stores.clone()),
            stores,
            ttl,
        }
    }

    #[tracing::instrument(name = "carts.create", skip_all)]
    pub async fn create(&self, customer_id: Option<String>) -> Result<Cart> {
        let customer_id = match customer_id {
            Some(c) => CustomerId::parse(c).map_err(|e| Error::invalid("customer_id", e))?,
            None => return Err(Error::invalid("customer_id", "is required")),
        };
        let cart = Cart::new(customer_id, self.ttl);
        self.stores.carts.insert(&cart).await?;
        Ok(cart)
    }

    #[tracing::instrument(name = "carts.get", skip(self))]
    pub async fn get(&self, id: CartId) -> Result<Cart> {
        self.stores
            .carts
            .get(id, now())
            .await?
            .ok_or(Error::NotFound("cart"))
    }

    /// Reads, changes and stores the cart, again from a fresh read after a lost race.
    async fn write<T>(
        &self,
        id: CartId,
        change: impl Fn(&mut Cart) -> Result<T>,
    ) -> Result<(Cart, T)> {
        for attempt in 0..WRITE_ATTEMPTS {
            let mut cart = self.get(id).await?;
            let out = change(&mut cart)?;
            cart.version += 1;
            if self.stores.carts.replace(&cart, now()).await? {
                return Ok((cart, out));
            }
            tokio::time::sleep(Duration::from_millis(1 + u64::from(attempt.min(20)))).await;
        }
        Err(Error::Unavailable(
            "the cart is changing too fast to write; try again".into(),
        ))
    }

    /// Sets the line of `product_id` to `quantity` (0 removes it) at the product's price
    /// now. An unknown product is 404.
    #[tracing::instrument(name = "carts.put_item", skip(self))]
    pub async fn put_item(&self, id: CartId, product_id: ProductId, quantity: i64) -> Result<Cart> {
        let cart = self.get(id).await?;
        let removing = quantity == 0;
        let product = self.stores.catalog.get(product_id).await?;
        let product = match product {
            Some(p) => p,
            // Removing the line of a product that left the catalog is still allowed.
            None if removing && cart.lines.iter().any(|l| l.product_id == product_id) => {
                let (cart, ()) = self
                    .write(id, |cart| {
                        if let Some(order) = cart.order_id {
                            return Err(Error::Conflict(format!(
                                "the cart was checked out as order {order}; start a new cart"
                            )));
                        }
                        cart.lines.retain(|l| l.product_id != product_id);
                        cart.touch(self.ttl);
                        Ok(())
                    })
                    .await?;
                return Ok(cart);
            }
            None => return Err(Error::NotFound("product")),
        };
        let (cart, ()) = self
            .write(id, |cart| cart.put(&product, quantity, self.ttl))
            .await?;
        Ok(cart)
    }

    #[tracing::instrument(name = "carts.delete", skip(self))]
    pub async fn delete(&self, id: CartId) -> Result<()> {
        self.get(id).await?;
        if self.stores.carts.delete(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound("cart"))
        }
    }

    /// Checks the cart out: see the module documentation. Refusals:
    /// - 404 for an unknown or expired cart; 422 for an empty one, a bad payment, or a
    ///   line whose product left the catalog;
    /// - `PriceChanged` when a price moved since its line was put: nothing is placed, and
    ///   the cart now carries the new prices;
    /// - what the order saga refuses (stock, payment), inside [`Checkout::outcome`].
    #[tracing::instrument(name = "carts.checkout", skip(self, payment_method, payment_token, key), fields(cart_id = %id))]
    pub async fn checkout(
        &self,
        id: CartId,
        payment_method: Option<String>,
        payment_token: Option<String>,
        has_payment: bool,
        key: Option<IdempotencyKey>,
    ) -> Result<Checkout> {
        let cart = self.get(id).await?;
        if let Some(order_id) = cart.order_id {
            return Ok(Checkout {
                outcome: Ok(self.orders.get(order_id).await?),
                placed_now: false,
                replayed: false,
            });
        }
        if cart.lines.is_empty() {
            return Err(Error::invalid("items", "the cart is empty"));
        }
        let request = OrderRequest::parse(OrderInput {
            customer_id: Some(cart.customer_id.as_str().to_owned()),
            customer_name: None,
            items: Some(
                cart.lines
                    .iter()
                    .map(|l| (Some(l.product_id), Some(i64::from(l.quantity.get()))))
                    .collect(),
            ),
            payment_method,
            payment_token,
            has_payment,
        })?;
        // Re-price against the catalog; a moved price is stored on the cart and refused.
        let ids: Vec<ProductId> = cart.lines.iter().map(|l| l.product_id).collect();
        let products = self.stores.catalog.get_many(&ids).await?;
        let mut probe = cart.clone();
        if !probe.reprice(&products)?.is_empty() {
            let (_, changes) = self
                .write(id, |cart| {
                    if cart.order_id.is_some() {
                        return Ok(Vec::new());
                    }
                    let changes = cart.reprice(&products)?;
                    cart.touch(self.ttl);
                    Ok(changes)
                })
                .await?;
            if !changes.is_empty() {
                return Err(Error::PriceChanged(changes));
            }
        }
        let order_id = self.order_id_for(id).await?;
        let key = match key {
            Some(k) => k,
            None => IdempotencyKey::parse(&format!("cart-checkout:{id}:{order_id}"))
                .map_err(Error::Internal)?,
        };
        let placement = self
            .orders
            .place_idempotent_as(&key, request, order_id)
            .await?;
        match &placement.outcome {
            Ok(order) => {
                let placed = order.id;
                self.write(id, |cart| {
                    cart.order_id = Some(placed);
                    cart.pending_order = Some(placed);
                    Ok(())
                })
                .await?;
            }
            Err(_) => {
                // Refused (stock, payment): the next checkout gets a fresh order id.
                let failed = order_id;
                let _ = self
                    .write(id, |cart| {
                        if cart.pending_order == Some(failed) {
                            cart.pending_order = None;
                        }
                        Ok(())
                    })
                    .await;
            }
        }
        Ok(Checkout {
            outcome: placement.outcome,
            placed_now: !placement.replayed,
            replayed: placement.replayed,
        })
    }

    /// The id the cart's order is placed under: the one chosen before, unless its order
    /// ended without a sale (then a new one), or a new one stored on the cart first.
    async fn order_id_for(&self, id: CartId) -> Result<OrderId> {
        let cart = self.get(id).await?;
        if let Some(pending) = cart.pending_order {
            match self.stores.orders.get(pending).await? {
                Some(order)
                    if matches!(order.status, OrderStatus::Failed | OrderStatus::Cancelled) => {}
                _ => return Ok(pending),
            }
        }
        let stale = cart.pending_order;
        let (_, chosen) = self
            .write(id, |cart| {
                // Another checkout may have chosen one meanwhile: use it.
                match cart.pending_order {
                    Some(p) if Some(p) != stale => Ok(p),
                    _ => {
                        let fresh = OrderId::new();
                        cart.pending_order = Some(fresh);
                        Ok(fresh)
                    }
                }
            })
            .await?;
        Ok(chosen)
    }

    /// Removes carts that expired, in batches; returns how many. Carts hold no stock, so
    /// nothing else is released: a checkout that was under way when its cart expired is
    /// an order the saga and recovery own.
    #[tracing::instrument(name = "carts.purge_expired", skip(self))]
    pub async fn purge_expired(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let removed = self
                .stores
                .carts
                .purge_expired(now(), CART_PURGE_BATCH)
                .await?;
            total += removed;
            if removed < u64::from(CART_PURGE_BATCH) {
                return Ok(total);
            }
        }
    }

    /// The time-to-live carts get.
    pub fn ttl(&self) -> chrono::Duration {
        self.ttl
    }
}
