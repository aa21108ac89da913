//! The [`Customers`] port on the `customers` collection (ADR 0017): one document per
//! customer, addresses nested, and `email_key` (the address in lower case) under a unique
//! index, so two customers never share an address in any case.

use crate::codec::{bson_to_json, json_to_bson, time_to_bson};
use crate::error::{duplicate_key_index, from_driver, from_write, malformed};
use crate::MongoCatalog;
use async_trait::async_trait;
use emporium_domain::model::{
    Address, Customer, CustomerId, Email, Name, Page, PageRequest, Recommendations,
};
use emporium_domain::ports::Customers;
use emporium_domain::{Error, Result};
use mongodb::bson::{doc, Document};
use mongodb::Collection;

/// The collection of customers.
pub const CUSTOMERS: &str = "customers";

pub(crate) fn to_document(c: &Customer) -> Document {
    let addresses = serde_json::to_value(&c.addresses).unwrap_or_default();
    doc! {
        "_id": c.id.as_str(),
        "name": c.name.as_str(),
        "email": c.email.as_str(),
        "email_key": c.email.key(),
        "addresses": json_to_bson(&addresses),
        "created_at": time_to_bson(c.created_at),
        "updated_at": time_to_bson(c.updated_at),
    }
}

fn from_document(d: &Document) -> Result<Customer> {
    let bad = |detail: String| malformed("customer", detail);
    let text = |key: &str| d.get_str(key).map_err(|e| bad(format!("{key}: {e}")));
    let time = |key: &str| {
        d.get_datetime(key)
            .map_err(|e| bad(format!("{key}: {e}")))
            .and_then(|at| {
                chrono::DateTime::from_timestamp_millis(at.timestamp_millis())
                    .ok_or_else(|| bad(format!("{key} out of range")))
            })
    };
    let addresses: Vec<Address> = match d.get("addresses") {
        Some(value) => serde_json::from_value(bson_to_json(value).map_err(bad)?)
            .map_err(|e| bad(format!("addresses: {e}")))?,
        None => Vec::new(),
    };
    Ok(Customer {
        id: CustomerId::parse(text("_id")?).map_err(bad)?,
        name: Name::parse(text("name")?).map_err(bad)?,
        email: Email::parse(text("email")?).map_err(bad)?,
        addresses,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

/// `Conflict` naming what is taken: the e-mail address, or the id.
fn taken(c: &Customer, e: &mongodb::error::Error) -> String {
    match duplicate_key_index(e).as_deref() {
        Some("_id_") => format!("customer {} already exists", c.id),
        _ => format!("a customer with e-mail {} already exists", c.email.as_str()),
    }
}

impl MongoCatalog {
    pub(crate) fn customers(&self) -> Collection<Document> {
        self.database().collection(CUSTOMERS)
    }
}

#[async_trait]
impl Customers for MongoCatalog {
    #[tracing::instrument(name = "mongo.customers.insert", skip_all, fields(id = %customer.id))]
    async fn insert(&self, customer: &Customer) -> Result<()> {
        self.customers()
            .insert_one(to_document(customer))
            .await
            .map(drop)
            .map_err(|e| from_write(e, |e| taken(customer, e)))
    }

    #[tracing::instrument(name = "mongo.customers.get", skip_all, fields(%id))]
    async fn get(&self, id: &CustomerId) -> Result<Option<Customer>> {
        self.customers()
            .find_one(doc! {"_id": id.as_str()})
            .await
            .map_err(from_driver)?
            .as_ref()
            .map(from_document)
            .transpose()
    }

    #[tracing::instrument(name = "mongo.customers.list", skip_all)]
    async fn list(&self, page: PageRequest) -> Result<Page<Customer>> {
        crate::find_page(
            &self.customers(),
            Document::new(),
            doc! { "created_at": 1, "_id": 1 },
            page,
            from_document,
        )
        .await
    }

    #[tracing::instrument(name = "mongo.customers.replace", skip_all, fields(id = %customer.id))]
    async fn replace(&self, customer: &Customer) -> Result<()> {
        // `$set`, not a replace: the recommendations stored on the document stay.
        let mut fields = to_document(customer);
        fields.remove("_id");
        let replaced = self
            .customers()
            .update_one(doc! {"_id": customer.id.as_str()}, doc! {"$set": fields})
            .await
            .map_err(|e| from_write(e, |e| taken(customer, e)))?;
        if replaced.matched_count == 0 {
            return Err(Error::NotFound("customer"));
        }
        Ok(())
    }

    #[tracing::instrument(name = "mongo.customers.recommendations", skip_all, fields(%id))]
    async fn recommendations(&self, id: &CustomerId) -> Result<Option<Recommendations>> {
        let found = self
            .customers()
            .find_one(doc! {"_id": id.as_str()})
            .projection(doc! {"recommended_products": 1, "recommendations_generated_at": 1})
            .await
            .map_err(from_driver)?;
        let Some(d) = found else { return Ok(None) };
        let (Some(items), Ok(at)) = (
            d.get("recommended_products"),
            d.get_datetime("recommendations_generated_at"),
        ) else {
            return Ok(None);
        };
        let bad = |detail: String| malformed("customer", detail);
        let items = serde_json::from_value(bson_to_json(items).map_err(bad)?)
            .map_err(|e| bad(format!("recommended_products: {e}")))?;
        let generated_at = chrono::DateTime::from_timestamp_millis(at.timestamp_millis())
            .ok_or_else(|| bad("recommendations_generated_at out of range".into()))?;
        Ok(Some(Recommendations {
            items,
            generated_at,
        }))
    }

    #[tracing::instrument(name = "mongo.customers.store_recommendations", skip_all, fields(%id))]
    async fn store_recommendations(
        &self,
        id: &CustomerId,
        recommendations: &Recommendations,
    ) -> Result<bool> {
        let items = serde_json::to_value(&recommendations.items)
            .map_err(|e| emporium_domain::Error::Internal(format!("recommendations: {e}")))?;
        let updated = self
            .customers()
            .update_one(
                doc! {"_id": id.as_str()},
                doc! {"$set": {
                    "recommended_products": json_to_bson(&items),
                    "recommendations_generated_at": time_to_bson(recommendations.generated_at),
                }},
            )
            .await
            .map_err(from_driver)?;
        Ok(updated.matched_count == 1)
    }

    #[tracing::instrument(name = "mongo.customers.delete", skip_all, fields(%id))]
    async fn delete(&self, id: &CustomerId) -> Result<bool> {
        let deleted = self
            .customers()
            .delete_one(doc! {"_id": id.as_str()})
            .await
            .map_err(from_driver)?;
        Ok(deleted.deleted_count == 1)
    }
}
