//! Reads.

use super::*;

#[tokio::test]
async fn list_filters_pages_and_counts() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 100).await?;
    let b = stocked(&ledger, "B", 100).await?;
    let day = |d: i64| Utc.with_ymd_and_hms(2024, 1, 1, 12, 0, 0).unwrap() + Days::days(d);

    let mut ids = Vec::new();
    for d in 0..6 {
        let customer = if d % 2 == 0 { "even" } else { "odd" };
        let lines = if d < 3 {
            vec![line(&a, 1)]
        } else {
            vec![line(&a, 1), line(&b, 1)]
        };
        let new = order_at(customer, lines, day(d));
        ledger.create_pending(&new).await?;
        ids.push(new.id);
    }
    ledger.confirm(ids[1]).await?;
    ledger
        .record(&payment(ids[1], PaymentStatus::Authorized, now()))
        .await?;

    let list = |q: OrderQuery| {
        let ledger = ledger.clone();
        async move {
            let page = ledger.list(&q).await?;
            Ok::<_, Error>((
                page.total,
                page.items.iter().map(|o| o.id).collect::<Vec<_>>(),
            ))
        }
    };

    assert_eq!(list(OrderQuery::default()).await?, (6, ids.clone()));
    let (total, page) = list(OrderQuery {
        page: PageRequest {
            limit: 2,
            offset: 3,
        },
        ..Default::default()
    })
    .await?;
    assert_eq!((total, page), (6, ids[3..5].to_vec()));
    assert_eq!(
        list(OrderQuery {
            status: Some(OrderStatus::Confirmed),
            ..Default::default()
        })
        .await?,
        (1, vec![ids[1]])
    );
    assert_eq!(
        list(OrderQuery {
            customer_id: Some("even".into()),
            ..Default::default()
        })
        .await?,
        (3, vec![ids[0], ids[2], ids[4]])
    );
    assert_eq!(
        list(OrderQuery {
            product_id: Some(b.id),
            ..Default::default()
        })
        .await?,
        (3, ids[3..].to_vec())
    );
    assert_eq!(
        list(OrderQuery {
            from: Some(day(2)),
            to: Some(day(4)),
            ..Default::default()
        })
        .await?,
        (2, ids[2..4].to_vec()),
        "from is inclusive, to exclusive"
    );
    let (total, page) = list(OrderQuery {
        page: PageRequest {
            limit: 5,
            offset: 100,
        },
        ..Default::default()
    })
    .await?;
    assert_eq!((total, page.len()), (6, 0));

    let page = ledger.list(&OrderQuery::default()).await?;
    assert_eq!(
        page.items[1].payment.as_ref().map(|p| p.status),
        Some(PaymentStatus::Authorized)
    );
    assert!(page.items[0].payment.is_none());
    assert_eq!(page.items[4].items.len(), 2);
    assert_eq!(
        Orders::get(&ledger, ids[1]).await?.as_ref(),
        Some(&page.items[1])
    );
    Ok(())
}

#[tokio::test]
async fn list_ties_on_created_at_break_by_id() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 100).await?;
    let at = now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let new = order_at(&format!("c{i}"), vec![line(&a, 1)], at);
        ledger.create_pending(&new).await?;
        ids.push(new.id);
    }
    ids.sort();
    let listed: Vec<_> = ledger
        .list(&OrderQuery::default())
        .await?
        .items
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(listed, ids);
    Ok(())
}
