//! Payments and saga log.

use super::*;

#[tokio::test]
async fn payments_are_replaced_keeping_the_first_id_and_created_at() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let new = order_of("c1", vec![line(&a, 1)]);
    ledger.create_pending(&new).await?;

    let first = ledger
        .record(&payment(new.id, PaymentStatus::Authorized, now()))
        .await?;
    let later = now() + Days::seconds(5);
    let second = ledger
        .record(&payment(new.id, PaymentStatus::Voided, later))
        .await?;
    assert_eq!(second.id, first.id);
    assert_eq!(second.created_at, first.created_at);
    assert_eq!(second.status, PaymentStatus::Voided);
    assert_eq!(second.updated_at, later);
    assert_eq!(ledger.for_order(new.id).await?, Some(second));
    assert_eq!(ledger.for_order(OrderId::new()).await?, None);
    Ok(())
}

#[tokio::test]
async fn saga_log_saves_whole_records_and_lists_by_state() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let saga = |started: Timestamp| SagaRecord {
        id: SagaId::new(),
        kind: SagaKind::PlaceOrder,
        subject: uuid::Uuid::now_v7(),
        state: SagaState::Running,
        payload: serde_json::json!({"payment_method": "card"}),
        entries: Vec::new(),
        started_at: started,
        updated_at: started,
    };
    let mut older = saga(now() - Days::seconds(10));
    let mut newer = saga(now());
    ledger.save(&newer).await?;
    ledger.save(&older).await?;
    ledger.save(&older).await?; // idempotent

    let entry = |step: &str, outcome| SagaEntry {
        step: step.into(),
        outcome,
        detail: Some("because".into()),
        at: now(),
    };
    let done = entry("reserve_stock", StepOutcome::Succeeded);
    let failed = entry("authorize_payment", StepOutcome::Failed);
    older.push(done.clone(), SagaState::Running);
    older.push(failed.clone(), SagaState::Compensating);
    // A later save keeps the first start, whatever the record says.
    let first_start = older.started_at;
    older.started_at = now();
    ledger.save(&older).await?;

    let stored = SagaLog::get(&ledger, older.id).await?.expect("stored");
    assert_eq!(stored.entries, vec![done, failed]);
    assert_eq!(stored.state, SagaState::Compensating);
    assert_eq!(stored.payload, older.payload);
    assert_eq!(stored.started_at, first_start);
    assert_eq!(SagaLog::get(&ledger, SagaId::new()).await?, None);

    newer.push(
        entry("reserve_stock", StepOutcome::Failed),
        SagaState::Compensating,
    );
    ledger.save(&newer).await?;
    let compensating: Vec<_> = ledger
        .in_state(SagaState::Compensating, 10)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(compensating, vec![older.id, newer.id], "oldest first");
    assert_eq!(ledger.in_state(SagaState::Compensating, 1).await?.len(), 1);
    assert!(ledger.in_state(SagaState::Running, 10).await?.is_empty());
    Ok(())
}
