//! Inventory.

use super::*;

#[tokio::test]
async fn stock_records_are_created_once_and_set_around_reservations() -> Result<()> {
    let (ledger, _db) = ledger().await?;
    let a = stocked(&ledger, "A", 10).await?;
    let again = ledger
        .create_stock(&a.sku, ProductId::new(), Units::new(1).unwrap())
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
    let same_product = ledger
        .create_stock(&Sku::parse("A2").unwrap(), a.id, Units::new(1).unwrap())
        .await;
    assert!(
        matches!(same_product, Err(Error::Conflict(_))),
        "{same_product:?}"
    );

    ledger
        .create_pending(&order_of("c1", vec![line(&a, 4)]))
        .await?;
    let level = ledger.set_available(&a.sku, Units::new(7).unwrap()).await?;
    assert_eq!(
        (level.on_hand, level.reserved, level.available()),
        (11, 4, 7)
    );

    let missing = Sku::parse("nope").unwrap();
    assert!(matches!(
        ledger.set_available(&missing, Units::ZERO).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(ledger.stock(&missing).await?, None);
    assert_eq!(
        ledger
            .stock_many(&[a.sku.clone(), missing.clone()])
            .await?
            .len(),
        1
    );
    assert!(ledger.stock_many(&[]).await?.is_empty());

    assert_eq!(
        ledger.remove_stock(&a.sku).await?.map(|l| l.on_hand),
        Some(11)
    );
    assert_eq!(ledger.remove_stock(&a.sku).await?, None);
    Ok(())
}
