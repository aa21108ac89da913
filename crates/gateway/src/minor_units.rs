//! Money to the integer "minor units" Stripe-style APIs expect (cents for USD, yen for JPY),
//! with decimal arithmetic only: an amount the currency cannot express is refused, never
//! rounded.

use crate::error::GatewayError;
use emporium_domain::model::{Currency, Money};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// Currencies without fraction digits (Stripe's "zero-decimal currencies").
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];

/// Currencies with three fraction digits.
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// How many fraction digits `currency` has (2 unless listed above).
pub fn fraction_digits(currency: Currency) -> u32 {
    let code = currency.as_str();
    if ZERO_DECIMAL.contains(&code) {
        0
    } else if THREE_DECIMAL.contains(&code) {
        3
    } else {
        2
    }
}

/// `money` in minor units: `12.34 USD` is `1234`, `500 JPY` is `500`. `12.50 JPY` is an
/// error: the yen has no fraction digits, and rounding would charge a different amount.
pub fn to_minor_units(money: &Money) -> Result<i64, GatewayError> {
    let digits = fraction_digits(money.currency());
    let amount = money.amount().normalize();
    let refuse = || GatewayError::Amount {
        amount: money.amount(),
        currency: money.currency().to_string(),
        digits,
    };
    if amount.scale() > digits {
        return Err(refuse());
    }
    let minor = amount
        .checked_mul(Decimal::from(10_i64.pow(digits)))
        .ok_or_else(refuse)?;
    debug_assert!(minor.fract().is_zero());
    minor.trunc().to_i64().ok_or_else(refuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(amount: &str, currency: &str) -> Money {
        Money::parse(amount, Currency::parse(currency).unwrap()).unwrap()
    }

    #[test]
    fn converts_without_floats() {
        assert_eq!(to_minor_units(&money("12.34", "USD")).unwrap(), 1234);
        assert_eq!(to_minor_units(&money("0.1", "EUR")).unwrap(), 10);
        assert_eq!(to_minor_units(&money("0", "USD")).unwrap(), 0);
        assert_eq!(
            to_minor_units(&money("9999999999.99", "USD")).unwrap(),
            999_999_999_999
        );
        assert_eq!(to_minor_units(&money("500", "JPY")).unwrap(), 500);
        assert_eq!(to_minor_units(&money("500.00", "JPY")).unwrap(), 500);
        assert_eq!(to_minor_units(&money("1.25", "KWD")).unwrap(), 1250);
    }

    #[test]
    fn refuses_fractions_the_currency_cannot_hold() {
        let err = to_minor_units(&money("12.50", "JPY")).unwrap_err();
        assert!(
            matches!(err, GatewayError::Amount { digits: 0, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("JPY"), "{err}");
    }
}
