//! Background work of a running server: saga recovery, reservation expiry, the
//! idempotency-key sweeper and the reconciliation check. Each loop survives store outages
//! (it logs and tries again) and stops, between passes, when its [`Shutdown`] says so; they
//! run under the [`crate::supervisor::Supervisor`].

use crate::metrics::Metrics;
use crate::supervisor::Shutdown;
use emporium_domain::ports::{SalesReports, Stores};
use emporium_domain::service::ReconciliationService;
use emporium_domain::service::WriteGate;
use emporium_domain::service::{
    OrderService, ReconciliationReport, RecoveryService, Resolution, IDEMPOTENCY_TTL,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs one pass of a worker that writes as a write through the API would (ADR 0015):
/// held back for the instant of a backup's consistent point, and not run at all while a
/// restore holds the server in maintenance (`None`). Keep passes short: a backup waits
/// for the passes in flight.
pub async fn as_a_write<T>(gate: &WriteGate, pass: impl Future<Output = T>) -> Option<T> {
    let _pass = gate.admit().await.ok()?;
    Some(pass.await)
}

/// When recovery runs and what it treats as abandoned.
#[derive(Debug, Clone)]
pub struct RecoveryConfig {
    pub interval: Duration,
    pub stale_after: Duration,
    pub reservation_ttl: Duration,
}

/// Runs a recovery pass now (start-up: finish what a crashed process left) and then every
/// `interval`.
pub async fn recover_forever(
    stores: Stores,
    config: RecoveryConfig,
    metrics: Arc<Metrics>,
    gate: Arc<WriteGate>,
    shutdown: Shutdown,
) {
    let recovery = RecoveryService::new(stores.clone());
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while shutdown.wait(tick.tick()).await {
        let Some(recovered) = as_a_write(&gate, recovery.recover(config.stale_after)).await else {
            continue;
        };
        match recovered {
            Ok(report) => metrics.record_recovery(&report),
            Err(e) => tracing::warn!(error = %e, "saga recovery pass failed; will retry"),
        }
        let expiry = recovery.expire_reservations(config.reservation_ttl);
        let Some(expired) = as_a_write(&gate, expiry).await else {
            continue;
        };
        match expired {
            Ok(n) => metrics.record_expired(n),
            Err(e) => tracing::warn!(error = %e, "reservation expiry failed; will retry"),
        }
        match recovery
            .sagas_in(emporium_domain::model::SagaState::Stuck, 10_000)
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

/// Forgets idempotency keys older than [`IDEMPOTENCY_TTL`] every `every`.
pub async fn sweep_idempotency_keys(
    orders: OrderService,
    gate: Arc<WriteGate>,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    while shutdown.wait(tick.tick()).await {
        let sweep = orders.expire_idempotency_keys(emporium_domain::model::now() - IDEMPOTENCY_TTL);
        let Some(swept) = as_a_write(&gate, sweep).await else {
            continue;
        };
        match swept {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired idempotency keys removed"),
            Err(e) => tracing::warn!(error = %e, "idempotency sweep failed; will retry"),
        }
    }
}

/// Keeps the report figures caught up with the orders every `every`, so a report only ever
/// folds in the last moments' changes itself (ADR 0012).
pub async fn catch_up_reports(
    reports: Arc<dyn SalesReports>,
    gate: Arc<WriteGate>,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    while shutdown.wait(tick.tick()).await {
        let Some(caught_up) = as_a_write(&gate, reports.catch_up()).await else {
            continue;
        };
        match caught_up {
            Ok(0) => {}
            Ok(n) => tracing::debug!(orders = n, "report figures caught up"),
            Err(e) => tracing::debug!(error = %e, "report catch-up failed; will retry"),
        }
    }
}

/// Places the orders queued while PostgreSQL was unreachable, every `every`, once it
/// answers again (ADR 0016). A pass with nothing queued is one query to the queue.
pub async fn drain_order_queue(
    orders: OrderService,
    gate: Arc<WriteGate>,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while shutdown.wait(tick.tick()).await {
        let Some(drained) = as_a_write(&gate, orders.drain_queue()).await else {
            continue;
        };
        match drained {
            Ok(0) => {}
            Ok(n) => tracing::info!(orders = n, "queued orders settled"),
            Err(e) => tracing::debug!(error = %e, "order queue pass failed; will retry"),
        }
    }
}

/// Works out again, every `every`, the recommendations of customers whose stored ones
/// are stale (ADR 0021), a bounded number per pass so a large shop spreads the work.
pub async fn refresh_recommendations(
    recommendations: emporium_domain::service::RecommendationService,
    gate: Arc<WriteGate>,
    every: Duration,
    shutdown: Shutdown,
) {
    // The first pass one period after start, not at once: a pass racing the first
    // requests would store lists worked out before their orders (and a restart has no
    // hurry: stale lists are refreshed on demand too).
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while shutdown.wait(tick.tick()).await {
        let Some(refreshed) = as_a_write(&gate, recommendations.refresh_stale(200)).await else {
            continue;
        };
        match refreshed {
            Ok(0) => {}
            Ok(n) => tracing::info!(customers = n, "recommendations refreshed"),
            Err(e) => tracing::debug!(error = %e, "recommendation refresh failed; will retry"),
        }
    }
}

/// Removes expired carts every `every` (ADR 0019): MongoDB's TTL monitor does too, but
/// not on every server and only about once a minute, and the memory set has none.
pub async fn purge_expired_carts(
    carts: emporium_domain::service::CartService,
    gate: Arc<WriteGate>,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while shutdown.wait(tick.tick()).await {
        let Some(purged) = as_a_write(&gate, carts.purge_expired()).await else {
            continue;
        };
        match purged {
            Ok(0) => {}
            Ok(n) => tracing::info!(carts = n, "expired carts removed"),
            Err(e) => tracing::debug!(error = %e, "cart purge pass failed; will retry"),
        }
    }
}

/// Findings logged one by one per pass; the rest are counted, so a badly broken store does
/// not flood the log every hour.
const LOGGED_FINDINGS: usize = 50;

/// Checks the stores against each other every `interval` and logs what disagrees, at
/// `warn` for what someone has to act on. Only checks: repairs touch money and stock
/// records, so they are an operator's decision (`emporium reconcile --fix`).
///
/// The first check runs one `interval` after start-up, not at once: a restarted process
/// first lets recovery settle what the previous one left half done, which a check would
/// otherwise report (as deferred) on every deploy.
pub async fn reconcile_forever(
    stores: Stores,
    metrics: Arc<Metrics>,
    interval: Duration,
    shutdown: Shutdown,
) {
    let reconciliation = ReconciliationService::new(stores);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while shutdown.wait(tick.tick()).await {
        match reconciliation.check().await {
            Ok(report) => {
                metrics.set_reconcile_findings(
                    report
                        .findings
                        .iter()
                        .filter(|f| f.resolution.remains())
                        .count(),
                );
                log_findings(&report)
            }
            Err(e) => tracing::warn!(error = %e, "reconciliation check failed; will retry"),
        }
    }
}

fn log_findings(report: &ReconciliationReport) {
    for finding in report.findings.iter().take(LOGGED_FINDINGS) {
        let (status, detail) = match &finding.resolution {
            Resolution::Repairable { action } => ("repairable", action),
            Resolution::Repaired { action } => ("repaired", action),
            Resolution::NeedsHuman { reason } => ("needs_human", reason),
            Resolution::Deferred { reason } => ("deferred", reason),
            Resolution::RepairFailed { error, .. } => ("repair_failed", error),
        };
        let sku = finding.sku.as_ref().map(ToString::to_string);
        let order_id = finding.order_id.map(|id| id.to_string());
        if finding.resolution.remains() {
            tracing::warn!(
                kind = ?finding.kind, sku, order_id, expected = %finding.expected,
                actual = %finding.actual, status, detail = %detail,
                "the stores disagree"
            );
        } else {
            tracing::debug!(
                kind = ?finding.kind, sku, order_id, status, detail = %detail,
                "the stores disagree while a saga is still working"
            );
        }
    }
    if report.findings.len() > LOGGED_FINDINGS || report.truncated {
        tracing::warn!(
            findings = report.findings.len(),
            truncated = report.truncated,
            "more findings than logged: run `emporium reconcile` for the full report"
        );
    }
}
