//! The idempotency port: claims, replays, mismatches, expired leases and purges, and one
//! winner among concurrent claims.

use chrono::Duration;
use emporium_domain::model::{now, KeyedOutcome, OrderId};
use emporium_domain::ports::Stores;

pub async fn idempotency_claims_replays_and_mismatches(stores: &Stores) {
    use emporium_domain::ports::IdempotencyClaim::*;
    let keys = &stores.idempotency;
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let lease = std::time::Duration::from_secs(60);
    let first = uuid::Uuid::now_v7();
    let claim = keys.claim(&key, "fp-1", first, lease).await.unwrap();
    assert_eq!(claim, Proceed { id: first });
    let again = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(again, InFlight, "a running claim is not taken twice");
    let other = keys
        .claim(&key, "fp-2", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(other, Mismatch);

    keys.release(&key, first).await.unwrap();
    let retaken = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(
        retaken,
        Proceed { id: first },
        "a released key resumes its resource"
    );
    let undone = uuid::Uuid::now_v7();
    keys.release(&key, undone).await.unwrap();
    let fresh = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(fresh, Proceed { id: undone }, "or starts over on a new one");
    let first = undone;

    let placed = KeyedOutcome::Placed {
        order_id: OrderId::from(first),
    };
    keys.complete(&key, &placed).await.unwrap();
    let replay = keys
        .claim(&key, "fp-1", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(
        replay,
        Replay(placed),
        "the stored outcome comes back as stored"
    );
    let mismatch = keys
        .claim(&key, "fp-2", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    assert_eq!(mismatch, Mismatch);

    // A refusal is an outcome too, with everything needed to answer it again.
    let refused_key = format!("key-{}", uuid::Uuid::new_v4());
    keys.claim(&refused_key, "fp", uuid::Uuid::now_v7(), lease)
        .await
        .unwrap();
    let refused = KeyedOutcome::Refused {
        refusal: emporium_domain::model::Refusal::InsufficientStock {
            shortfalls: vec![emporium_domain::Shortfall {
                product_id: emporium_domain::model::ProductId::new(),
                requested: 5,
                available: 2,
            }],
        },
    };
    keys.complete(&refused_key, &refused).await.unwrap();
    assert_eq!(
        keys.claim(&refused_key, "fp", uuid::Uuid::now_v7(), lease)
            .await
            .unwrap(),
        Replay(refused)
    );

    // An expired lease (a crashed first attempt) is taken over with the same id.
    let stale = format!("key-{}", uuid::Uuid::new_v4());
    let id = uuid::Uuid::now_v7();
    keys.claim(&stale, "fp", id, lease).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let short = std::time::Duration::from_millis(5);
    assert_eq!(
        keys.claim(&stale, "fp", uuid::Uuid::now_v7(), short)
            .await
            .unwrap(),
        Proceed { id }
    );

    assert!(keys.purge(now() + Duration::seconds(1)).await.unwrap() >= 2);
    let fresh = uuid::Uuid::now_v7();
    assert_eq!(
        keys.claim(&key, "fp-2", fresh, lease).await.unwrap(),
        Proceed { id: fresh },
        "a purged key is new again"
    );
}

pub async fn idempotency_one_of_many_concurrent_claims_proceeds(stores: &Stores) {
    let key = format!("race-{}", uuid::Uuid::new_v4());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let keys = stores.idempotency.clone();
            let key = key.clone();
            tokio::spawn(async move {
                keys.claim(
                    &key,
                    "fp",
                    uuid::Uuid::now_v7(),
                    std::time::Duration::from_secs(60),
                )
                .await
                .unwrap()
            })
        })
        .collect();
    let mut proceeded = 0;
    for t in tasks {
        match t.await.unwrap() {
            emporium_domain::ports::IdempotencyClaim::Proceed { .. } => proceeded += 1,
            emporium_domain::ports::IdempotencyClaim::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(proceeded, 1);
}
