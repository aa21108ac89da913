//! The catalog port: products round-trip every field, SKUs are unique, and listing filters,
//! sorts, pages and counts like the reference.

use super::support::{page, product, supplier, usd};
use emporium_domain::model::{
    AttrFilter, Description, Name, PageRequest, ProductId, ProductQuery, ProductSort, Tag, Units,
};
use emporium_domain::ports::Stores;
use emporium_domain::Error;
use rust_decimal::Decimal;
use serde_json::json;
use std::str::FromStr;

pub async fn catalog_round_trips_every_field(stores: &Stores) {
    let p = product("Gaming Laptop", "electronics", "1299.99");
    stores.catalog.insert(&p).await.unwrap();
    let back = stores.catalog.get(p.id).await.unwrap().expect("stored");
    assert_eq!(back, p, "a product must come back exactly as stored");
    assert_eq!(back.price.to_string(), "1299.99");
    let many = stores
        .catalog
        .get_many(&[p.id, ProductId::new()])
        .await
        .unwrap();
    assert_eq!(many, vec![p]);
    assert!(stores
        .catalog
        .get(ProductId::new())
        .await
        .unwrap()
        .is_none());
}

pub async fn catalog_refuses_duplicate_sku_and_changes_nothing(stores: &Stores) {
    let first = product("First", "books", "10.00");
    stores.catalog.insert(&first).await.unwrap();
    let mut second = product("Second", "books", "20.00");
    second.sku = first.sku.clone();
    let err = stores.catalog.insert(&second).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "got {err:?}");
    assert!(stores.catalog.get(second.id).await.unwrap().is_none());
    assert_eq!(stores.catalog.get(first.id).await.unwrap().unwrap(), first);
}

pub async fn catalog_replaces_and_deletes(stores: &Stores) {
    let mut p = product("Mouse", "electronics", "25.00");
    stores.catalog.insert(&p).await.unwrap();
    p.name = Name::parse("Wireless Mouse").unwrap();
    p.price = usd("29.50");
    p.attributes = json!({"dpi": 1600}).as_object().unwrap().clone();
    stores.catalog.replace(&p).await.unwrap();
    assert_eq!(stores.catalog.get(p.id).await.unwrap().unwrap(), p);

    let ghost = product("Ghost", "electronics", "1.00");
    assert!(matches!(
        stores.catalog.replace(&ghost).await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(stores.catalog.delete(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(stores.catalog.delete(p.id).await.unwrap(), None);
    assert!(stores.catalog.get(p.id).await.unwrap().is_none());
}

pub async fn catalog_filters_like_the_reference(stores: &Stores) {
    let s = supplier("Acme");
    stores.suppliers.insert(&s).await.unwrap();
    let cat = format!("cat{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut laptop = product("Gaming Laptop", &cat, "1299.99");
    laptop.supplier_id = Some(s.id);
    laptop.tags = vec![Tag::parse("gaming").unwrap()];
    let mut tablet = product("Drawing Tablet", &cat, "349.00");
    tablet.attributes = json!({"color": "black", "ram_gb": 8, "display": {"size": "13in"}})
        .as_object()
        .unwrap()
        .clone();
    tablet.description = Description::parse("A pen display for artists").unwrap();
    let other = product("Paperback", "books-other", "12.00");
    for p in [&laptop, &tablet, &other] {
        stores.catalog.insert(p).await.unwrap();
    }
    let ids = |q: ProductQuery| async move {
        let mut ids: Vec<ProductId> = stores
            .catalog
            .list(&q)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|p| p.id)
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<ProductId>| {
        v.sort();
        v
    };
    let base = ProductQuery {
        category: Some(cat.clone()),
        ..Default::default()
    };
    assert_eq!(ids(base.clone()).await, sorted(vec![laptop.id, tablet.id]));
    let cheap = ProductQuery {
        max_price: Some(Decimal::from(349)),
        ..base.clone()
    };
    assert_eq!(ids(cheap).await, vec![tablet.id], "max_price is inclusive");
    let dear = ProductQuery {
        min_price: Some(Decimal::from_str("349.01").unwrap()),
        ..base.clone()
    };
    assert_eq!(ids(dear).await, vec![laptop.id]);
    let by_supplier = ProductQuery {
        supplier_id: Some(s.id),
        ..Default::default()
    };
    assert_eq!(ids(by_supplier).await, vec![laptop.id]);
    let nested = ProductQuery {
        attributes: vec![AttrFilter::parse("display.size", "15.6in").unwrap()],
        ..base.clone()
    };
    assert_eq!(ids(nested).await, vec![laptop.id]);
    let numeric = ProductQuery {
        attributes: vec![AttrFilter::parse("ram_gb", "8").unwrap()],
        ..base.clone()
    };
    assert_eq!(
        ids(numeric).await,
        vec![tablet.id],
        "attr values match numbers"
    );
    let boolean = ProductQuery {
        attributes: vec![AttrFilter::parse("display.hdr", "true").unwrap()],
        ..base.clone()
    };
    assert_eq!(ids(boolean).await, vec![laptop.id]);
    let text_name = ProductQuery {
        text: Some("laptop".into()),
        ..base.clone()
    };
    assert_eq!(ids(text_name).await, vec![laptop.id], "q searches names");
    let text_desc = ProductQuery {
        text: Some("artists".into()),
        ..base.clone()
    };
    assert_eq!(
        ids(text_desc).await,
        vec![tablet.id],
        "q searches descriptions"
    );
    let text_tag = ProductQuery {
        text: Some("gaming".into()),
        ..base.clone()
    };
    assert_eq!(ids(text_tag).await, vec![laptop.id], "q searches tags");
    let hostile = ProductQuery {
        text: Some("{\"$gt\": \"\"}".into()),
        category: Some("{\"$ne\": null}".into()),
        ..Default::default()
    };
    assert!(
        ids(hostile).await.is_empty(),
        "operators in values match literally"
    );
}

pub async fn catalog_sorts_and_pages(stores: &Stores) {
    let cat = format!("sort{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let mut made = Vec::new();
    for (name, price) in [("Charlie", "30.00"), ("Alpha", "10.00"), ("Bravo", "20.00")] {
        let p = product(name, &cat, price);
        stores.catalog.insert(&p).await.unwrap();
        made.push(p);
    }
    let names = |sort: ProductSort, page: PageRequest| {
        let cat = cat.clone();
        async move {
            let q = ProductQuery {
                category: Some(cat),
                sort,
                page,
                ..Default::default()
            };
            let page = stores.catalog.list(&q).await.unwrap();
            assert_eq!(page.total, 3, "total counts every match, not the page");
            page.items
                .into_iter()
                .map(|p| p.name.into_inner())
                .collect::<Vec<_>>()
        }
    };
    let all = page(50, 0);
    assert_eq!(
        names(ProductSort::PriceAsc, all).await,
        ["Alpha", "Bravo", "Charlie"]
    );
    assert_eq!(
        names(ProductSort::PriceDesc, all).await,
        ["Charlie", "Bravo", "Alpha"]
    );
    assert_eq!(
        names(ProductSort::NameAsc, all).await,
        ["Alpha", "Bravo", "Charlie"]
    );
    assert_eq!(
        names(ProductSort::CreatedAt, all).await,
        ["Charlie", "Alpha", "Bravo"]
    );
    assert_eq!(
        names(ProductSort::NewestFirst, all).await,
        ["Bravo", "Alpha", "Charlie"]
    );
    assert_eq!(
        names(ProductSort::PriceAsc, page(2, 1)).await,
        ["Bravo", "Charlie"]
    );
    assert!(names(ProductSort::PriceAsc, page(2, 5)).await.is_empty());
}

pub async fn catalog_counts_products_per_supplier(stores: &Stores) {
    let s = supplier("Globex");
    stores.suppliers.insert(&s).await.unwrap();
    assert_eq!(stores.catalog.count_by_supplier(s.id).await.unwrap(), 0);
    for name in ["One", "Two"] {
        let mut p = product(name, "tools", "5.00");
        p.supplier_id = Some(s.id);
        stores.catalog.insert(&p).await.unwrap();
    }
    stores
        .catalog
        .insert(&product("Three", "tools", "5.00"))
        .await
        .unwrap();
    assert_eq!(stores.catalog.count_by_supplier(s.id).await.unwrap(), 2);
    // Batched: suppliers without products are left out.
    let other = supplier("Hooli");
    stores.suppliers.insert(&other).await.unwrap();
    let counts = stores
        .catalog
        .count_by_suppliers(&[s.id, other.id])
        .await
        .unwrap();
    assert_eq!(counts, vec![(s.id, 2)]);
    assert!(stores
        .catalog
        .count_by_suppliers(&[])
        .await
        .unwrap()
        .is_empty());
}

pub async fn catalog_knows_its_highest_low_stock_threshold(stores: &Stores) {
    assert_eq!(
        stores.catalog.max_low_stock_threshold().await.unwrap(),
        Units::ZERO,
        "an empty catalog"
    );
    for (name, threshold) in [("Low", 2), ("High", 40), ("Mid", 7)] {
        let mut p = product(name, "tools", "5.00");
        p.low_stock_threshold = Units::new(threshold).unwrap();
        stores.catalog.insert(&p).await.unwrap();
    }
    assert_eq!(
        stores.catalog.max_low_stock_threshold().await.unwrap(),
        Units::new(40).unwrap()
    );
}
