//! Bounded text newtypes. Each one checks its limits once, at construction.

use serde::{Serialize, Serializer};
use std::fmt;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fn check_text(value: &str, min: usize, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len < min {
        return Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    if has_control(value) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                check_text(&value, $min, $max)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                Self::parse(value).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_type!(
    /// A product or supplier name: 1-200 characters.
    Name, 1, 200
);
text_type!(
    /// A product category: 1-100 characters.
    Category, 1, 100
);
text_type!(
    /// A product description: up to 10,000 characters.
    Description, 0, 10_000
);
text_type!(
    /// The shop's identifier of its customer: 1-100 characters.
    CustomerId, 1, 100
);
text_type!(
    /// A supplier's region: 1-100 characters.
    Region, 1, 100
);
text_type!(
    /// A search tag: 1-50 characters.
    Tag, 1, 50
);

/// A stock-keeping unit: 1-64 characters of letters, digits, `-`, `_` and `.`.
/// The key of a stock record; it never changes once a product exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        if value.is_empty() || value.len() > 64 {
            return Err("must be 1-64 characters".into());
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err("may contain only letters, digits, '-', '_' and '.'".into());
        }
        Ok(Sku(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Sku {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Read back through [`Sku::parse`], so a stored SKU is as valid as a new one.
impl<'de> serde::Deserialize<'de> for Sku {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Sku::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_rules() {
        assert!(Sku::parse("LAP-001.a_b").is_ok());
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse("x".repeat(65)).is_err());
        assert!(Sku::parse("$where").is_err());
    }

    #[test]
    fn text_limits() {
        assert!(Name::parse("").is_err());
        assert!(Name::parse("a".repeat(200)).is_ok());
        assert!(Name::parse("a".repeat(201)).is_err());
        assert!(Name::parse("bad\u{0007}bell").is_err());
        assert!(Description::parse("").is_ok());
        assert!(Category::parse("ünïcödé").is_ok());
    }
}
