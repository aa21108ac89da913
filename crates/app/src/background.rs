//! Background work of a running server: saga recovery, reservation expiry and the
//! idempotency-key sweeper. Each loop survives store outages (it logs and tries again).

use crate::metrics::Metrics;
use emporium_domain::ports::Stores;
use emporium_domain::service::RecoveryService;
use std::sync::Arc;
use std::time::Duration;

/// When recovery runs and what it treats as abandoned.
#[derive(Debug, Clone)]
pub struct RecoveryConfig {
    pub interval: Duration,
    pub stale_after: Duration,
    pub reservation_ttl: Duration,
}

/// Runs a recovery pass now (start-up: finish what a crashed process left) and then every
/// `interval`.
pub async fn recover_forever(stores: Stores, config: RecoveryConfig, metrics: Arc<Metrics>) {
    let recovery = RecoveryService::new(stores.clone());
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match recovery.recover(config.stale_after).await {
            Ok(report) => metrics.record_recovery(&report),
            Err(e) => tracing::warn!(error = %e, "saga recovery pass failed; will retry"),
        }
        match recovery.expire_reservations(config.reservation_ttl).await {
            Ok(n) => metrics.record_expired(n),
            Err(e) => tracing::warn!(error = %e, "reservation expiry failed; will retry"),
        }
        match stores
            .saga_log
            .in_state(emporium_domain::model::SagaState::Stuck, 10_000)
            .await
        {
            Ok(stuck) => {
                if !stuck.is_empty() {
                    tracing::error!(
                        count = stuck.len(),
                        "sagas are stuck: see GET /api/admin/sagas?state=stuck"
                    );
                }
                metrics.set_stuck(stuck.len());
            }
            Err(e) => tracing::debug!(error = %e, "could not count stuck sagas"),
        }
    }
}
