//! The search index port ([`ProductIndex`]): ranking, prefix and typo matching, every
//! filter combined with text, sorting, paging, facets, replacing and removing entries.
//!
//! Run for an index with
//! `emporium_testkit::index_contract_suite!(|| async { Arc::new(MyIndex::new()) as Arc<dyn ProductIndex> });`

use super::support::product;
use emporium_domain::model::{
    AttrFilter, FacetCounts, FacetField, IndexEntry, PageRequest, PriceBucket, Product, ProductId,
    ProductQuery, ProductSort, SearchQuery, SearchSort, SupplierId, Tag, ValueCount,
};
use emporium_domain::ports::ProductIndex;
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::Arc;

/// Expands to one `#[test]` per index case, each with a fresh index from `$index` (a
/// closure returning a future of `Arc<dyn ProductIndex>`).
#[macro_export]
macro_rules! index_contract_suite {
    ($index:expr) => {
        $crate::index_contract_suite!(@cases $index;
            index_ranks_by_relevance_with_prefixes_and_typos,
            index_combines_every_filter_with_text,
            index_sorts_and_pages_with_ties_by_id,
            index_counts_facets_for_the_filter,
            index_replaces_and_removes_entries,
            index_treats_operator_shaped_text_as_words,
        );
    };
    (@cases $index:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::contract::run(async {
                    let index: std::sync::Arc<dyn emporium_domain::ports::ProductIndex> =
                        ($index)().await;
                    $crate::contract::$case(index).await;
                });
            }
        )*
    };
}

fn entry(product: Product, in_stock: bool) -> IndexEntry {
    IndexEntry { product, in_stock }
}

/// A search for `q` with no other filter, first page.
pub fn text_search(q: &str) -> SearchQuery {
    SearchQuery {
        filter: ProductQuery {
            text: Some(q.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn ids(index: &Arc<dyn ProductIndex>, query: &SearchQuery) -> Vec<ProductId> {
    index
        .search(query)
        .await
        .expect("search")
        .items
        .into_iter()
        .map(|h| h.id)
        .collect()
}

fn named(name: &str, description: &str, category: &str, price: &str) -> Product {
    let mut p = product(name, category, price);
    p.description = emporium_domain::model::Description::parse(description).unwrap();
    p.tags = vec![];
    p.attributes = serde_json::Map::new();
    p
}

pub async fn index_ranks_by_relevance_with_prefixes_and_typos(index: Arc<dyn ProductIndex>) {
    let mut gaming = named(
        "Gaming Laptop",
        "Fast laptop for games",
        "computers",
        "1299.00",
    );
    gaming.tags = vec![Tag::parse("esports").unwrap()];
    let office = named(
        "Office Chair",
        "A chair that suits a laptop desk",
        "furniture",
        "199.00",
    );
    let mut tablet = named("Drawing Tablet", "For artists", "computers", "499.00");
    tablet.attributes = json!({"finish": "Matte Graphite"})
        .as_object()
        .unwrap()
        .clone();
    let kettle = named("Kettle", "Boils water", "kitchen", "29.00");
    index
        .apply(
            vec![
                entry(gaming.clone(), true),
                entry(office.clone(), true),
                entry(tablet.clone(), true),
                entry(kettle.clone(), false),
            ],
            &[],
        )
        .await
        .expect("apply");

    let page = index.search(&text_search("laptop")).await.expect("search");
    let found: Vec<_> = page.items.iter().map(|h| h.id).collect();
    assert_eq!(
        found,
        vec![gaming.id, office.id],
        "a name match ranks above a description match"
    );
    assert_eq!(page.total, 2);
    assert!(page.items.iter().all(|h| h.score.is_some_and(|s| s > 0.0)));
    assert!(page.items[0].score > page.items[1].score);

    assert_eq!(
        ids(&index, &text_search("lapt")).await,
        vec![gaming.id, office.id],
        "prefix"
    );
    assert_eq!(
        ids(&index, &text_search("laptpo")).await,
        vec![gaming.id, office.id],
        "one typo (transposed)"
    );
    assert_eq!(
        ids(&index, &text_search("labtop")).await,
        vec![gaming.id, office.id],
        "one typo (replaced)"
    );
    assert!(
        ids(&index, &text_search("kettel"))
            .await
            .contains(&kettle.id),
        "six letters, one transposition"
    );
    assert!(
        ids(&index, &text_search("ketle"))
            .await
            .contains(&kettle.id),
        "five letters, one letter missing"
    );
    assert!(
        ids(&index, &text_search("lptp")).await.is_empty(),
        "four letters: no typo allowed"
    );
    assert!(
        ids(&index, &text_search("laptoppp")).await.is_empty(),
        "two typos never match"
    );
    assert_eq!(
        ids(&index, &text_search("ESPORTS")).await,
        vec![gaming.id],
        "tags, any case"
    );
    assert_eq!(
        ids(&index, &text_search("graphite")).await,
        vec![tablet.id],
        "attribute values"
    );
    assert_eq!(
        ids(&index, &text_search("gaming laptop")).await,
        vec![gaming.id],
        "every word must match"
    );
    assert_eq!(
        ids(&index, &text_search("drawing tab")).await,
        vec![tablet.id]
    );
}

pub async fn index_combines_every_filter_with_text(index: Arc<dyn ProductIndex>) {
    let supplier = SupplierId::new();
    let mut red = named("Red Laptop", "light", "computers", "999.99");
    red.supplier_id = Some(supplier);
    red.attributes = json!({"color": "red", "ram_gb": 16, "display": {"size": "15.6in"}, "ports": ["usb", "hdmi"]})
        .as_object()
        .unwrap()
        .clone();
    let mut blue = named("Blue Laptop", "light", "computers", "1000.00");
    blue.attributes = json!({"color": "blue", "ram_gb": 8})
        .as_object()
        .unwrap()
        .clone();
    let mut cheap = named("Cheap Laptop", "light", "budget", "199.00");
    cheap.supplier_id = Some(supplier);
    cheap.attributes = json!({"color": "red"}).as_object().unwrap().clone();
    index
        .apply(
            vec![
                entry(red.clone(), true),
                entry(blue.clone(), true),
                entry(cheap.clone(), false),
            ],
            &[],
        )
        .await
        .expect("apply");
    let with = |f: &dyn Fn(&mut SearchQuery)| {
        let mut q = text_search("laptop");
        f(&mut q);
        q
    };
    let sorted = |mut v: Vec<ProductId>| {
        v.sort();
        v
    };
    let mut all = vec![red.id, blue.id, cheap.id];
    all.sort();
    assert_eq!(sorted(ids(&index, &text_search("laptop")).await), all);
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let cases: Vec<(&str, SearchQuery, Vec<ProductId>)> = vec![
        (
            "category",
            with(&|q| q.filter.category = Some("computers".into())),
            vec![red.id, blue.id],
        ),
        (
            "supplier",
            with(&|q| q.filter.supplier_id = Some(supplier)),
            vec![red.id, cheap.id],
        ),
        (
            "min_price inclusive",
            with(&|q| q.filter.min_price = Some(d("999.99"))),
            vec![red.id, blue.id],
        ),
        (
            "max_price inclusive",
            with(&|q| q.filter.max_price = Some(d("999.99"))),
            vec![red.id, cheap.id],
        ),
        (
            "price range",
            with(&|q| {
                q.filter.min_price = Some(d("200"));
                q.filter.max_price = Some(d("999.995"));
            }),
            vec![red.id],
        ),
        (
            "in stock",
            with(&|q| q.in_stock = Some(true)),
            vec![red.id, blue.id],
        ),
        (
            "out of stock",
            with(&|q| q.in_stock = Some(false)),
            vec![cheap.id],
        ),
        (
            "attribute",
            with(&|q| q.filter.attributes = vec![AttrFilter::parse("color", "red").unwrap()]),
            vec![red.id, cheap.id],
        ),
        (
            "nested attribute",
            with(&|q| {
                q.filter.attributes = vec![AttrFilter::parse("display.size", "15.6in").unwrap()]
            }),
            vec![red.id],
        ),
        (
            "numeric attribute",
            with(&|q| q.filter.attributes = vec![AttrFilter::parse("ram_gb", "8").unwrap()]),
            vec![blue.id],
        ),
        (
            "array attribute",
            with(&|q| q.filter.attributes = vec![AttrFilter::parse("ports", "hdmi").unwrap()]),
            vec![red.id],
        ),
        (
            "attribute values are exact",
            with(&|q| q.filter.attributes = vec![AttrFilter::parse("color", "Red").unwrap()]),
            vec![],
        ),
        (
            "all together",
            with(&|q| {
                q.filter.category = Some("computers".into());
                q.filter.supplier_id = Some(supplier);
                q.filter.max_price = Some(d("1000"));
                q.in_stock = Some(true);
                q.filter.attributes = vec![AttrFilter::parse("color", "red").unwrap()];
            }),
            vec![red.id],
        ),
    ];
    for (name, query, mut expected) in cases {
        expected.sort();
        assert_eq!(sorted(ids(&index, &query).await), expected, "{name}");
        let total = index.search(&query).await.unwrap().total;
        assert_eq!(total, expected.len() as u64, "{name}: total");
    }
    // Filters without text.
    let no_text = SearchQuery {
        in_stock: Some(false),
        ..Default::default()
    };
    assert_eq!(ids(&index, &no_text).await, vec![cheap.id]);
    assert!(
        index.search(&no_text).await.unwrap().items[0]
            .score
            .is_none(),
        "no text, no score"
    );
}

pub async fn index_sorts_and_pages_with_ties_by_id(index: Arc<dyn ProductIndex>) {
    let mut made = Vec::new();
    for (name, price) in [
        ("Charlie lamp", "30.00"),
        ("Alpha lamp", "10.00"),
        ("Bravo lamp", "20.00"),
        ("Delta lamp", "20.00"),
    ] {
        let p = named(name, "a lamp", "lamps", price);
        made.push(p);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    index
        .apply(made.iter().cloned().map(|p| entry(p, true)).collect(), &[])
        .await
        .unwrap();
    let names = |sort: SearchSort, page: PageRequest| {
        let index = index.clone();
        let made = made.clone();
        async move {
            let query = SearchQuery {
                filter: ProductQuery {
                    text: Some("lamp".into()),
                    page,
                    ..Default::default()
                },
                sort,
                in_stock: None,
            };
            ids(&index, &query)
                .await
                .into_iter()
                .map(|id| {
                    made.iter()
                        .find(|p| p.id == id)
                        .unwrap()
                        .name
                        .as_str()
                        .to_owned()
                })
                .collect::<Vec<_>>()
        }
    };
    let all = PageRequest::default();
    let by = SearchSort::By;
    // Bravo and Delta cost the same: ties break by id, and ids grow with creation.
    assert_eq!(
        names(by(ProductSort::PriceAsc), all).await,
        ["Alpha lamp", "Bravo lamp", "Delta lamp", "Charlie lamp"]
    );
    assert_eq!(
        names(by(ProductSort::PriceDesc), all).await,
        ["Charlie lamp", "Bravo lamp", "Delta lamp", "Alpha lamp"]
    );
    assert_eq!(
        names(by(ProductSort::NameAsc), all).await,
        ["Alpha lamp", "Bravo lamp", "Charlie lamp", "Delta lamp"]
    );
    assert_eq!(
        names(by(ProductSort::CreatedAt), all).await,
        ["Charlie lamp", "Alpha lamp", "Bravo lamp", "Delta lamp"]
    );
    assert_eq!(
        names(by(ProductSort::NewestFirst), all).await,
        ["Delta lamp", "Bravo lamp", "Alpha lamp", "Charlie lamp"]
    );
    let second = PageRequest::new(Some(2), Some(1)).unwrap();
    assert_eq!(
        names(by(ProductSort::PriceAsc), second).await,
        ["Bravo lamp", "Delta lamp"]
    );
    let beyond = PageRequest::new(Some(2), Some(10)).unwrap();
    let query = SearchQuery {
        filter: ProductQuery {
            text: Some("lamp".into()),
            page: beyond,
            ..Default::default()
        },
        ..Default::default()
    };
    let page = index.search(&query).await.unwrap();
    assert!(page.items.is_empty());
    assert_eq!((page.total, page.limit, page.offset), (4, 2, 10));
}

pub async fn index_counts_facets_for_the_filter(index: Arc<dyn ProductIndex>) {
    let supplier = SupplierId::new();
    let mut entries = Vec::new();
    for (name, category, price, color, with_supplier) in [
        ("Desk lamp", "lamps", "9.99", "red", true),
        ("Floor lamp", "lamps", "10.00", "red", false),
        ("Wall lamp", "lamps", "24.99", "blue", true),
        ("Lamp oil", "supplies", "25.00", "clear", false),
        ("Kettle", "kitchen", "99.99", "red", true),
    ] {
        let mut p = named(name, "", category, price);
        p.attributes = json!({"color": color}).as_object().unwrap().clone();
        if with_supplier {
            p.supplier_id = Some(supplier);
        }
        entries.push(entry(p, true));
    }
    index.apply(entries, &[]).await.unwrap();
    let wanted = vec![
        FacetField::Category,
        FacetField::Supplier,
        FacetField::Price,
        FacetField::Attribute(vec!["color".into()]),
    ];
    let facets = index.facets(&text_search("lamp"), &wanted).await.unwrap();
    assert_eq!(facets.total, 4);
    let value = |v: &str, count| ValueCount {
        value: v.into(),
        count,
    };
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let bucket = |min: &str, max: &str, count| PriceBucket {
        min: d(min),
        max: d(max),
        count,
    };
    assert_eq!(
        facets.counts,
        vec![
            (
                FacetField::Category,
                FacetCounts::Values(vec![value("lamps", 3), value("supplies", 1)])
            ),
            (
                FacetField::Supplier,
                FacetCounts::Values(vec![value(&supplier.to_string(), 2)])
            ),
            (
                FacetField::Price,
                FacetCounts::Prices(vec![
                    bucket("0.00", "10.00", 1),
                    bucket("10.00", "25.00", 2),
                    bucket("25.00", "50.00", 1)
                ])
            ),
            (
                FacetField::Attribute(vec!["color".into()]),
                FacetCounts::Values(vec![value("red", 2), value("blue", 1), value("clear", 1)])
            ),
        ]
    );
    // Another filter, other counts; an attribute nobody has counts nothing.
    let mut query = SearchQuery::default();
    query.filter.category = Some("kitchen".into());
    let facets = index
        .facets(
            &query,
            &[
                FacetField::Category,
                FacetField::Attribute(vec!["size".into()]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(facets.total, 1);
    assert_eq!(
        facets.counts,
        vec![
            (
                FacetField::Category,
                FacetCounts::Values(vec![value("kitchen", 1)])
            ),
            (
                FacetField::Attribute(vec!["size".into()]),
                FacetCounts::Values(vec![])
            ),
        ]
    );
}

pub async fn index_replaces_and_removes_entries(index: Arc<dyn ProductIndex>) {
    let lamp = named("Desk lamp", "", "lamps", "10.00");
    let kettle = named("Kettle", "", "kitchen", "20.00");
    index
        .apply(
            vec![entry(lamp.clone(), true), entry(kettle.clone(), true)],
            &[],
        )
        .await
        .unwrap();
    let mut renamed = lamp.clone();
    renamed.name = emporium_domain::model::Name::parse("Reading light").unwrap();
    index
        .apply(vec![entry(renamed.clone(), false)], &[kettle.id])
        .await
        .unwrap();
    assert!(
        ids(&index, &text_search("lamp")).await.is_empty(),
        "the old entry is gone"
    );
    assert_eq!(ids(&index, &text_search("reading")).await, vec![lamp.id]);
    assert!(
        ids(&index, &text_search("kettle")).await.is_empty(),
        "removed"
    );
    let in_stock = SearchQuery {
        in_stock: Some(true),
        ..Default::default()
    };
    assert!(
        ids(&index, &in_stock).await.is_empty(),
        "the replacement's stock counts"
    );
    assert_eq!(index.ids().await.unwrap(), vec![lamp.id]);
    // Applying the same entry again changes nothing.
    index.apply(vec![entry(renamed, false)], &[]).await.unwrap();
    assert_eq!(index.ids().await.unwrap(), vec![lamp.id]);
}

pub async fn index_treats_operator_shaped_text_as_words(index: Arc<dyn ProductIndex>) {
    let lamp = named("Desk lamp", "", "lamps", "10.00");
    let odd = named("Lamp where not equal", "", "lamps", "10.00");
    index
        .apply(
            vec![entry(lamp.clone(), true), entry(odd.clone(), true)],
            &[],
        )
        .await
        .unwrap();
    assert!(ids(&index, &text_search("{\"$ne\": null}"))
        .await
        .is_empty());
    assert_eq!(
        ids(&index, &text_search("$where")).await,
        vec![odd.id],
        "`$where` is the word `where`"
    );
    assert!(
        ids(&index, &text_search("*")).await.is_empty(),
        "nothing searchable matches nothing"
    );
    assert!(
        ids(&index, &text_search("lamp OR kettle")).await.is_empty(),
        "no query syntax: OR is a word"
    );
    let mut category = text_search("lamp");
    category.filter.category = Some("{\"$ne\": null}".into());
    assert!(ids(&index, &category).await.is_empty());
}
