//! Registered customers: a name, a unique e-mail address and postal addresses (ADR 0017).
//!
//! A customer's id is a UUID, carried as a [`CustomerId`] so that an order's
//! `customer_id` can name a registered customer; free-form ids on orders keep working.

use super::{now, CustomerId, Name, Timestamp};
use crate::error::{Result, Violations};
use serde::{Deserialize, Serialize};

/// At most this many addresses per customer.
pub const MAX_ADDRESSES: usize = 10;

/// An e-mail address: 3 to 254 characters, one `@` with text on both sides, no spaces or
/// control characters. Kept as given; compared case-insensitively ([`Email::key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(value: impl Into<String>) -> std::result::Result<Email, String> {
        let value = value.into();
        let len = value.chars().count();
        if !(3..=254).contains(&len) {
            return Err("must be 3 to 254 characters".into());
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain spaces or control characters".into());
        }
        match value.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Email(value))
            }
            _ => Err("must be an e-mail address (name@domain)".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form two addresses are compared in: lower case (`Ada@Example.com` and
    /// `ada@example.com` are one customer).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(value: String) -> std::result::Result<Email, String> {
        Email::parse(value)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A postal address. `country` and `city` are required; every field is 1 to 200
/// characters without control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub country: String,
    pub region: Option<String>,
    pub city: String,
    pub postcode: Option<String>,
    pub line1: Option<String>,
}

/// Raw address fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct AddressInput {
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub postcode: Option<String>,
    pub line1: Option<String>,
}

fn address_field(
    v: &mut Violations,
    field: String,
    value: Option<String>,
    required: bool,
) -> Option<String> {
    match value {
        None if required => {
            v.push(field, "is required");
            None
        }
        None => None,
        Some(text) => {
            let len = text.chars().count();
            if !(1..=200).contains(&len) || text.chars().any(char::is_control) {
                v.push(
                    field,
                    "must be 1 to 200 characters without control characters",
                );
                None
            } else {
                Some(text)
            }
        }
    }
}

fn addresses(v: &mut Violations, input: Vec<AddressInput>) -> Vec<Address> {
    if input.len() > MAX_ADDRESSES {
        v.push("addresses", format!("at most {MAX_ADDRESSES} addresses"));
        return Vec::new();
    }
    input
        .into_iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let at = |name: &str| format!("addresses[{i}].{name}");
            let country = address_field(v, at("country"), a.country, true);
            let region = address_field(v, at("region"), a.region, false);
            let city = address_field(v, at("city"), a.city, true);
            let postcode = address_field(v, at("postcode"), a.postcode, false);
            let line1 = address_field(v, at("line1"), a.line1, false);
            Some(Address {
                country: country?,
                region,
                city: city?,
                postcode,
                line1,
            })
        })
        .collect()
}

/// A registered customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: CustomerId,
    pub name: Name,
    pub email: Email,
    pub addresses: Vec<Address>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Raw customer fields as a client sent them.
#[derive(Debug, Clone, Default)]
pub struct CustomerInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub addresses: Option<Vec<AddressInput>>,
}

impl Customer {
    /// A new customer from a `POST`: name and email required.
    pub fn parse_new(input: CustomerInput) -> Result<Customer> {
        let mut v = Violations::new();
        let name = match input.name {
            Some(n) => v.check("name", Name::parse(n)),
            None => {
                v.push("name", "is required");
                None
            }
        };
        let email = match input.email {
            Some(e) => v.check("email", Email::parse(e)),
            None => {
                v.push("email", "is required");
                None
            }
        };
        let addresses = addresses(&mut v, input.addresses.unwrap_or_default());
        let (name, email) = v.finish_with((name, email))?;
        let at = now();
        Ok(Customer {
            id: CustomerId::parse(uuid::Uuid::new_v4().to_string())
                .expect("a UUID is a valid customer id"),
            name,
            email,
            addresses,
            created_at: at,
            updated_at: at,
        })
    }

    /// This customer with a `PATCH` applied: the fields given replace the current ones
    /// (`addresses` as a whole).
    pub fn patched(&self, input: CustomerInput) -> Result<Customer> {
        let mut v = Violations::new();
        let name = input.name.and_then(|n| v.check("name", Name::parse(n)));
        let email = input.email.and_then(|e| v.check("email", Email::parse(e)));
        let addresses = input.addresses.map(|a| addresses(&mut v, a));
        v.finish()?;
        let mut c = self.clone();
        if let Some(name) = name {
            c.name = name;
        }
        if let Some(email) = email {
            c.email = email;
        }
        if let Some(addresses) = addresses {
            c.addresses = addresses;
        }
        c.updated_at = now();
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_compare_without_case() {
        let a = Email::parse("Ada@Example.COM").unwrap();
        assert_eq!(a.as_str(), "Ada@Example.COM");
        assert_eq!(a.key(), "ada@example.com");
        for bad in ["", "ada", "@x", "ada@", "a b@x.org", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_customer_reports_every_problem() {
        let err = Customer::parse_new(CustomerInput {
            name: None,
            email: Some("nope".into()),
            addresses: Some(vec![AddressInput {
                city: Some("Paris".into()),
                ..Default::default()
            }]),
        })
        .unwrap_err();
        let crate::Error::Validation(fields) = err else {
            panic!("validation")
        };
        let names: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["name", "email", "addresses[0].country"]);
    }
}

/// One recommended product, as stored on the customer (seed 003's
/// `recommended_products`: name, average rating and price).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendation {
    pub product_id: super::ProductId,
    pub name: Name,
    pub rating_average: Option<rust_decimal::Decimal>,
    pub price: super::Money,
}

/// A customer's recommended products, best first, and when they were worked out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recommendations {
    pub items: Vec<Recommendation>,
    pub generated_at: Timestamp,
}
