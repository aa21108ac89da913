//! Suppliers of catalog products.

use super::{now, Name, Region, SupplierId, Timestamp};
use crate::error::{Result, Violations};

/// How to reach a supplier. Both fields are optional, each at most 200 characters.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A supplier.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Supplier {
    pub id: SupplierId,
    pub name: Name,
    pub contact: Contact,
    pub region: Region,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Raw supplier fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct SupplierInput {
    pub name: Option<String>,
    pub region: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// True when the request carried a `contact` object at all (a patch replaces it).
    pub has_contact: bool,
}

/// A valid supplier to create.
#[derive(Debug, Clone)]
pub struct NewSupplier(pub Supplier);

/// A valid partial update.
#[derive(Debug, Clone, Default)]
pub struct SupplierPatch {
    pub name: Option<Name>,
    pub region: Option<Region>,
    pub contact: Option<Contact>,
}

fn contact_field(v: &mut Violations, field: &str, value: Option<String>) -> Option<String> {
    let value = value?;
    if value.chars().count() > 200 || value.chars().any(char::is_control) {
        v.push(
            field,
            "must be at most 200 characters without control characters",
        );
        return None;
    }
    if field.ends_with("email") && !value.contains('@') {
        v.push(field, "must be an e-mail address");
        return None;
    }
    Some(value)
}

impl NewSupplier {
    pub fn parse(input: SupplierInput) -> Result<NewSupplier> {
        let mut v = Violations::new();
        let name = match input.name {
            Some(n) => v.check("name", Name::parse(n)),
            None => {
                v.push("name", "is required");
                None
            }
        };
        let region = match input.region {
            Some(r) => v.check("region", Region::parse(r)),
            None => {
                v.push("region", "is required");
                None
            }
        };
        let contact = Contact {
            email: contact_field(&mut v, "contact.email", input.email),
            phone: contact_field(&mut v, "contact.phone", input.phone),
        };
        let (name, region) = v.finish_with((name, region))?;
        let at = now();
        Ok(NewSupplier(Supplier {
            id: SupplierId::new(),
            name,
            contact,
            region,
            created_at: at,
            updated_at: at,
        }))
    }
}

impl SupplierPatch {
    pub fn parse(input: SupplierInput) -> Result<SupplierPatch> {
        let mut v = Violations::new();
        let name = input.name.and_then(|n| v.check("name", Name::parse(n)));
        let region = input
            .region
            .and_then(|r| v.check("region", Region::parse(r)));
        let contact = input.has_contact.then(|| Contact {
            email: contact_field(&mut v, "contact.email", input.email),
            phone: contact_field(&mut v, "contact.phone", input.phone),
        });
        v.finish()?;
        Ok(SupplierPatch {
            name,
            region,
            contact,
        })
    }

    pub fn apply_to(&self, s: &Supplier) -> Supplier {
        let mut s = s.clone();
        if let Some(n) = &self.name {
            s.name = n.clone();
        }
        if let Some(r) = &self.region {
            s.region = r.clone();
        }
        if let Some(c) = &self.contact {
            s.contact = c.clone();
        }
        s.updated_at = now();
        s
    }
}
