//! The saga log port: saving records and their steps, and finding sagas by state.

use chrono::Duration;
use emporium_domain::model::{
    now, SagaEntry, SagaId, SagaKind, SagaRecord, SagaState, StepOutcome,
};
use emporium_domain::ports::Stores;
use serde_json::json;

pub async fn saga_log_records_steps(stores: &Stores) {
    let at = now();
    let record = SagaRecord {
        id: SagaId::new(),
        kind: SagaKind::PlaceOrder,
        subject: uuid::Uuid::now_v7(),
        state: SagaState::Running,
        payload: json!({"payment_method": "card"}),
        entries: vec![],
        started_at: at,
        updated_at: at,
    };
    let log = &stores.saga_log;
    log.save(&record).await.unwrap();
    log.save(&record).await.unwrap();
    let mut next = record.clone();
    let entry = SagaEntry {
        step: "reserve_stock".into(),
        outcome: StepOutcome::Succeeded,
        detail: None,
        at: at + Duration::milliseconds(5),
    };
    next.push(entry.clone(), SagaState::Running);
    log.save(&next).await.unwrap();
    let failed = SagaEntry {
        step: "reserve_stock".into(),
        outcome: StepOutcome::CompensationFailed,
        detail: Some("postgres is unavailable".into()),
        at: at + Duration::milliseconds(9),
    };
    next.push(failed.clone(), SagaState::Stuck);
    next.payload = json!({"payment_method": "card", "authorization": null});
    log.save(&next).await.unwrap();
    let back = log.get(record.id).await.unwrap().unwrap();
    assert_eq!(back.entries, vec![entry, failed]);
    assert_eq!(back.state, SagaState::Stuck);
    assert_eq!(back.payload, next.payload, "the payload is replaced");
    assert_eq!(back.started_at, record.started_at, "the start is kept");
    assert_eq!(back.updated_at, next.updated_at);
    let stuck = log.in_state(SagaState::Stuck, 1000).await.unwrap();
    assert!(stuck.iter().any(|s| s.id == record.id));
    let running = log.in_state(SagaState::Running, 1000).await.unwrap();
    assert!(
        !running.iter().any(|s| s.id == record.id),
        "one state at a time"
    );
    assert!(log.get(SagaId::new()).await.unwrap().is_none());
}
