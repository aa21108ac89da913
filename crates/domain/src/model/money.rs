//! Money: a non-negative decimal amount with at most two fraction digits, and its currency.

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use std::{fmt, str::FromStr};

/// The largest amount a price, a line or an order total may hold: `NUMERIC(12,2)`.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_327, 232, 0, false, 2); // 9_999_999_999.99

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(code: &str) -> Result<Self, String> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err("must be an ISO 4217 code of three upper-case letters".into())
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency::USD
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// Money as snapshots keep it: `{"amount": "12.50", "currency": "USD"}`, the amount a
/// decimal string (never a float).
#[derive(Serialize, serde::Deserialize)]
struct MoneyRepr {
    amount: String,
    currency: Currency,
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyRepr {
            amount: self.amount.to_string(),
            currency: self.currency,
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let repr = MoneyRepr::deserialize(d)?;
        Money::parse(&repr.amount, repr.currency).map_err(serde::de::Error::custom)
    }
}

impl FromStr for Currency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

/// An amount of money: `0 <= amount <= MAX_AMOUNT`, at most two fraction digits, never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Validates and normalises the amount to two fraction digits.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, String> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err("must not be negative".into());
        }
        let normalized = amount.normalize();
        if normalized.scale() > 2 {
            return Err("must have at most two fraction digits".into());
        }
        if amount > MAX_AMOUNT {
            return Err(format!("must be at most {MAX_AMOUNT}"));
        }
        let mut amount = normalized;
        amount.rescale(2);
        Ok(Money { amount, currency })
    }

    /// Parses a decimal string such as `"1299.99"` (also the text of a JSON number).
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, String> {
        let decimal = Decimal::from_str_exact(amount.trim())
            .or_else(|_| Decimal::from_scientific(amount.trim()))
            .map_err(|_| format!("`{amount}` is not a decimal amount"))?;
        Money::new(decimal, currency)
    }

    pub fn zero(currency: Currency) -> Self {
        Money::new(Decimal::ZERO, currency).expect("zero is valid")
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// `self * quantity`, or an error when the result exceeds [`MAX_AMOUNT`].
    pub fn times(&self, quantity: u32) -> Result<Money, String> {
        let product = self
            .amount
            .checked_mul(Decimal::from(quantity))
            .ok_or_else(|| "amount overflows".to_string())?;
        Money::new(product, self.currency)
    }

    /// `self + other` in the same currency, or an error on mixed currencies or overflow.
    pub fn plus(&self, other: &Money) -> Result<Money, String> {
        if self.currency != other.currency {
            return Err(format!(
                "cannot add {} to {}",
                other.currency, self.currency
            ));
        }
        let sum = self
            .amount
            .checked_add(other.amount)
            .ok_or_else(|| "amount overflows".to_string())?;
        Money::new(sum, self.currency)
    }
}

/// Money prints as its amount with exactly two fraction digits: `"1299.99"`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn max_amount_is_numeric_12_2_limit() {
        assert_eq!(MAX_AMOUNT, dec!(9999999999.99));
    }

    #[test]
    fn parses_and_prints_two_fraction_digits() {
        assert_eq!(
            Money::parse("1299.9", Currency::USD).unwrap().to_string(),
            "1299.90"
        );
        assert_eq!(
            Money::parse("5", Currency::USD).unwrap().to_string(),
            "5.00"
        );
        assert_eq!(
            Money::parse("0.10", Currency::USD).unwrap().to_string(),
            "0.10"
        );
    }

    #[test]
    fn rejects_negative_too_precise_and_too_large() {
        assert!(Money::parse("-0.01", Currency::USD).is_err());
        assert!(Money::parse("1.001", Currency::USD).is_err());
        assert!(Money::parse("10000000000.00", Currency::USD).is_err());
        assert!(Money::parse("abc", Currency::USD).is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        let p = Money::parse("0.10", Currency::USD).unwrap();
        let three = p.times(3).unwrap();
        assert_eq!(three.to_string(), "0.30");
        assert_eq!(three.plus(&p).unwrap().to_string(), "0.40");
        let eur = Money::parse("1", Currency::parse("EUR").unwrap()).unwrap();
        assert!(p.plus(&eur).is_err());
        assert!(MAX_AMOUNT_MONEY().times(2).is_err());
    }

    #[allow(non_snake_case)]
    fn MAX_AMOUNT_MONEY() -> Money {
        Money::new(MAX_AMOUNT, Currency::USD).unwrap()
    }

    #[test]
    fn currency_codes() {
        assert!(Currency::parse("usd").is_err());
        assert!(Currency::parse("EURO").is_err());
        assert_eq!(Currency::parse("EUR").unwrap().as_str(), "EUR");
    }
}
