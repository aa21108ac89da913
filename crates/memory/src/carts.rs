//! Carts in memory: a map under one mutex, with the port's version check and expiry.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{Cart, CartId, Timestamp};
use emporium_domain::ports::Carts;
use emporium_domain::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryCarts {
    carts: Mutex<HashMap<CartId, Cart>>,
}

#[async_trait]
impl Carts for MemoryCarts {
    async fn insert(&self, cart: &Cart) -> Result<()> {
        let mut carts = lock(&self.carts);
        if carts.contains_key(&cart.id) {
            return Err(Error::Conflict(format!("cart {} already exists", cart.id)));
        }
        carts.insert(cart.id, cart.clone());
        Ok(())
    }

    async fn get(&self, id: CartId, at: Timestamp) -> Result<Option<Cart>> {
        Ok(lock(&self.carts)
            .get(&id)
            .filter(|c| !c.is_expired(at))
            .cloned())
    }

    async fn replace(&self, cart: &Cart, at: Timestamp) -> Result<bool> {
        let mut carts = lock(&self.carts);
        match carts.get_mut(&cart.id) {
            Some(slot) if slot.version + 1 == cart.version && !slot.is_expired(at) => {
                *slot = cart.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete(&self, id: CartId) -> Result<bool> {
        Ok(lock(&self.carts).remove(&id).is_some())
    }

    async fn purge_expired(&self, at: Timestamp, limit: u32) -> Result<u64> {
        let mut carts = lock(&self.carts);
        let expired: Vec<CartId> = carts
            .values()
            .filter(|c| c.is_expired(at))
            .map(|c| c.id)
            .take(limit as usize)
            .collect();
        for id in &expired {
            carts.remove(id);
        }
        Ok(expired.len() as u64)
    }
}
