//! How to reach the gateway and how hard to try.

use std::fmt;
use std::time::Duration;

/// Connection and retry settings of [`HttpPaymentGateway`](crate::HttpPaymentGateway).
///
/// The defaults keep a whole call (3 attempts of at most 3 s, plus 100 ms and 200 ms of
/// backoff) under the order saga's 10 s `GATEWAY_TIMEOUT`, so the adapter gives its own,
/// more precise answer before the saga gives up on it.
#[derive(Clone)]
pub struct HttpGatewayConfig {
    /// Where the API lives, without `/v1` (`https://api.stripe.com`, or the simulator's
    /// `http://127.0.0.1:<port>`). A path prefix is kept: `http://proxy/stripe`.
    pub base_url: String,
    /// Secret key sent as `Authorization: Bearer <api_key>`; never printed by `Debug`.
    pub api_key: String,
    /// The longest one attempt may take, connecting and reading the answer included.
    pub timeout: Duration,
    /// How many times a call is tried in all (at least 1).
    pub attempts: u32,
    /// The pause before the second attempt; it doubles before each following one.
    pub backoff: Duration,
}

impl HttpGatewayConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
    pub const DEFAULT_ATTEMPTS: u32 = 3;
    pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);

    /// Settings for `base_url` and `api_key`, with the default timeout, attempts and backoff.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        HttpGatewayConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            timeout: Self::DEFAULT_TIMEOUT,
            attempts: Self::DEFAULT_ATTEMPTS,
            backoff: Self::DEFAULT_BACKOFF,
        }
    }

    /// The pause before attempt `attempt` (2, 3, ...): `backoff`, then doubling.
    pub(crate) fn pause_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(16);
        self.backoff.saturating_mul(1 << doublings)
    }
}

impl fmt::Debug for HttpGatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGatewayConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_debug_hides_the_key() {
        let config = HttpGatewayConfig::new("http://localhost", "sk_secret");
        assert_eq!(config.pause_before(2), Duration::from_millis(100));
        assert_eq!(config.pause_before(3), Duration::from_millis(200));
        assert_eq!(config.pause_before(4), Duration::from_millis(400));
        assert!(!format!("{config:?}").contains("sk_secret"));
    }
}
