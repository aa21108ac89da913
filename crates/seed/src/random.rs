//! Deterministic randomness: one ChaCha stream per kind of record, seeded from the
//! plan's seed, so the same seed gives the same shop byte for byte.

use chrono::{Duration, TimeZone, Utc};
use emporium_domain::model::Timestamp;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// The random streams, one per kind of record: adding a field to one kind changes no
/// other kind's data.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Catalog = 1,
    Products = 2,
    Customers = 3,
    Orders = 4,
    Reviews = 5,
}

/// The generator of one stream.
pub(crate) fn stream(seed: u64, which: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(which as u64);
    rng
}

/// A UUID v7 for a record created at `at`: ordered by time as the server's own ids are,
/// its random part from the stream.
pub(crate) fn id_at(rng: &mut impl RngCore, at: Timestamp) -> Uuid {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

/// A moment `days_before..` days before `end`, to the millisecond (what both stores keep).
pub(crate) fn before(
    rng: &mut impl Rng,
    end: Timestamp,
    min_days: f64,
    max_days: f64,
) -> Timestamp {
    let days = rng.random_range(min_days..max_days);
    millis(end - Duration::milliseconds((days * 86_400_000.0) as i64))
}

/// `at` truncated to the millisecond.
pub(crate) fn millis(at: Timestamp) -> Timestamp {
    Utc.timestamp_millis_opt(at.timestamp_millis())
        .single()
        .unwrap_or(at)
}

/// An index in `0..n`, low indices favoured (`skew` > 1: popular items first).
pub(crate) fn skewed(rng: &mut impl Rng, n: usize, skew: f64) -> usize {
    let u: f64 = rng.random();
    ((u.powf(skew) * n as f64) as usize).min(n.saturating_sub(1))
}

/// One of `choices`, each with its weight.
pub(crate) fn weighted<'a, T>(rng: &mut impl Rng, choices: &'a [(T, u32)]) -> &'a T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total.max(1));
    for (item, weight) in choices {
        if pick < *weight {
            return item;
        }
        pick -= weight;
    }
    &choices[choices.len() - 1].0
}
