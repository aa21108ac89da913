//! Customer use cases (ADR 0017).

use crate::error::{Error, Result};
use crate::model::{Customer, CustomerId, CustomerInput, Order, OrderQuery, Page, PageRequest};
use crate::ports::Stores;

/// Creates, reads, updates and deletes customers, and lists their orders.
#[derive(Clone)]
pub struct CustomerService {
    stores: Stores,
}

impl CustomerService {
    pub fn new(stores: Stores) -> Self {
        Self { stores }
    }

    #[tracing::instrument(name = "customers.create", skip_all)]
    pub async fn create(&self, input: CustomerInput) -> Result<Customer> {
        let customer = Customer::parse_new(input)?;
        self.stores.customers.insert(&customer).await?;
        Ok(customer)
    }

    #[tracing::instrument(name = "customers.get", skip(self))]
    pub async fn get(&self, id: &CustomerId) -> Result<Customer> {
        self.stores
            .customers
            .get(id)
            .await?
            .ok_or(Error::NotFound("customer"))
    }

    pub async fn list(&self, page: PageRequest) -> Result<Page<Customer>> {
        self.stores.customers.list(page).await
    }

    #[tracing::instrument(name = "customers.update", skip(self, input))]
    pub async fn update(&self, id: &CustomerId, input: CustomerInput) -> Result<Customer> {
        let updated = self.get(id).await?.patched(input)?;
        self.stores.customers.replace(&updated).await?;
        Ok(updated)
    }

    /// The customer's orders, oldest first (404 for an unknown customer).
    #[tracing::instrument(name = "customers.orders", skip(self))]
    pub async fn orders(&self, id: &CustomerId, page: PageRequest) -> Result<Page<Order>> {
        self.get(id).await?;
        let query = OrderQuery {
            customer_id: Some(id.as_str().to_owned()),
            page,
            ..Default::default()
        };
        self.stores.orders.list(&query).await
    }

    /// Deletes the customer. Their orders stay in the ledger, anonymised first: if the
    /// delete then fails, the customer still exists and a retry finishes it (both steps
    /// are idempotent), so no order ever names a customer that was deleted.
    #[tracing::instrument(name = "customers.delete", skip(self))]
    pub async fn delete(&self, id: &CustomerId) -> Result<u64> {
        self.get(id).await?;
        let anonymised = self.stores.orders.anonymise(id).await?;
        self.stores.customers.delete(id).await?;
        Ok(anonymised)
    }
}
