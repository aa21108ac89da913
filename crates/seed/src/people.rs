//! Customers with names, unique e-mail addresses and one or two postal addresses.

use crate::catalog::state;
use crate::random::{before, id_at};
use emporium_domain::model::{Address, Customer, CustomerId, Email, Name, Timestamp};
use fake::faker::address::en::{BuildingNumber, CityName, StreetName, ZipCode};
use fake::faker::name::en::{FirstName, LastName};
use fake::Fake;
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// What an order needs of its customer.
#[derive(Debug, Clone)]
pub(crate) struct CustomerSummary {
    pub id: CustomerId,
    pub name: Name,
}

const COUNTRIES: &[&str] = &["US", "US", "US", "GB", "DE", "FR", "CA", "NL", "ES", "AU"];

fn ascii(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}

/// Customer number `n` (from 0): the number makes the e-mail address unique.
pub(crate) fn customer(rng: &mut ChaCha8Rng, n: u32, end: Timestamp) -> Customer {
    let at = before(rng, end, 366.0, 800.0);
    let first: String = FirstName().fake_with_rng(rng);
    let last: String = LastName().fake_with_rng(rng);
    let addresses = (0..rng.random_range(1..=2))
        .map(|_| Address {
            country: (*COUNTRIES.choose(rng).expect("countries")).to_owned(),
            region: Some(state(rng)),
            city: CityName().fake_with_rng(rng),
            postcode: Some(ZipCode().fake_with_rng(rng)),
            line1: Some(format!(
                "{} {}",
                BuildingNumber().fake_with_rng::<String, _>(rng),
                StreetName().fake_with_rng::<String, _>(rng)
            )),
        })
        .collect();
    let email = format!("{}.{}.{}@example.com", ascii(&first), ascii(&last), n + 1);
    Customer {
        id: CustomerId::parse(id_at(rng, at).to_string()).expect("a UUID is a customer id"),
        name: Name::parse(format!("{first} {last}")).expect("a generated name is valid"),
        email: Email::parse(email).expect("a generated e-mail address is valid"),
        addresses,
        created_at: at,
        updated_at: at,
    }
}
