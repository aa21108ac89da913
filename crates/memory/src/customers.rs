//! Customers in memory: the reference for [`Customers`]' contract.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{Customer, CustomerId, Page, PageRequest, Recommendations};
use emporium_domain::ports::Customers;
use emporium_domain::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct State {
    customers: HashMap<CustomerId, Customer>,
    /// E-mail key to customer: the unique index a database would keep.
    emails: HashMap<String, CustomerId>,
    /// Stored beside the customer, as the document's `recommended_products` field is.
    recommendations: HashMap<CustomerId, Recommendations>,
}

#[derive(Default)]
pub struct MemoryCustomers {
    state: Mutex<State>,
}

fn email_taken(email: &str) -> Error {
    Error::Conflict(format!("a customer with e-mail {email} already exists"))
}

impl MemoryCustomers {
    /// How many customers it holds.
    pub(crate) fn count(&self) -> u64 {
        lock(&self.state).customers.len() as u64
    }
}

#[async_trait]
impl Customers for MemoryCustomers {
    async fn insert(&self, customer: &Customer) -> Result<()> {
        let mut state = lock(&self.state);
        if state.customers.contains_key(&customer.id) {
            return Err(Error::Conflict(format!(
                "customer {} already exists",
                customer.id
            )));
        }
        let key = customer.email.key();
        if state.emails.contains_key(&key) {
            return Err(email_taken(customer.email.as_str()));
        }
        state.emails.insert(key, customer.id.clone());
        state
            .customers
            .insert(customer.id.clone(), customer.clone());
        Ok(())
    }

    async fn get(&self, id: &CustomerId) -> Result<Option<Customer>> {
        Ok(lock(&self.state).customers.get(id).cloned())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Customer>> {
        let mut all: Vec<Customer> = lock(&self.state).customers.values().cloned().collect();
        all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(page.slice(&all))
    }

    async fn replace(&self, customer: &Customer) -> Result<()> {
        let mut state = lock(&self.state);
        let Some(current) = state.customers.get(&customer.id) else {
            return Err(Error::NotFound("customer"));
        };
        let (old, new) = (current.email.key(), customer.email.key());
        if old != new {
            if state.emails.contains_key(&new) {
                return Err(email_taken(customer.email.as_str()));
            }
            state.emails.remove(&old);
            state.emails.insert(new, customer.id.clone());
        }
        state
            .customers
            .insert(customer.id.clone(), customer.clone());
        Ok(())
    }

    async fn delete(&self, id: &CustomerId) -> Result<bool> {
        let mut state = lock(&self.state);
        match state.customers.remove(id) {
            Some(c) => {
                state.emails.remove(&c.email.key());
                state.recommendations.remove(id);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn recommendations(&self, id: &CustomerId) -> Result<Option<Recommendations>> {
        Ok(lock(&self.state).recommendations.get(id).cloned())
    }

    async fn store_recommendations(
        &self,
        id: &CustomerId,
        recommendations: &Recommendations,
    ) -> Result<bool> {
        let mut state = lock(&self.state);
        if !state.customers.contains_key(id) {
            return Ok(false);
        }
        state
            .recommendations
            .insert(id.clone(), recommendations.clone());
        Ok(true)
    }
}
