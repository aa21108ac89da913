//! `MongoCatalog` against a real wire-protocol server: the harness's `secantusdb`, or the
//! server at `EMPORIUM_TEST_MONGODB_URI`. Each test gets its own database.
//!
//! Port methods are called as `Catalog::insert(&c, ..)` / `Suppliers::insert(&c, ..)`
//! because `MongoCatalog` implements both ports and they share method names.

use emporium_domain::model::{
    AttrFilter, NewProduct, NewSupplier, PageRequest, Product, ProductId, ProductInput,
    ProductQuery, ProductSort, Supplier, SupplierId, SupplierInput,
};
use emporium_domain::ports::{Catalog, Suppliers};
use emporium_domain::Error;
use emporium_mongo::{codec, schema, MongoCatalog, SearchMode};
use emporium_testkit::harness::mongo::{create, TestMongo};
use mongodb::bson::{doc, Bson, Decimal128, Document};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::str::FromStr;
use std::time::{Duration, Instant};

async fn catalog() -> (TestMongo, MongoCatalog) {
    let db = create().await.expect("a test MongoDB");
    let catalog = MongoCatalog::connect(&db.uri, &db.db)
        .await
        .expect("connects");
    catalog.init().await.expect("init");
    (db, catalog)
}

fn input(sku: &str, name: &str, category: &str, price: &str) -> ProductInput {
    ProductInput {
        sku: Some(sku.into()),
        name: Some(name.into()),
        category: Some(category.into()),
        price: Some(price.into()),
        ..ProductInput::default()
    }
}

fn product(sku: &str, name: &str, category: &str, price: &str) -> Product {
    build(input(sku, name, category, price))
}

fn build(input: ProductInput) -> Product {
    NewProduct::parse(input).expect("valid product").product
}

fn supplier(name: &str) -> Supplier {
    NewSupplier::parse(SupplierInput {
        name: Some(name.into()),
        region: Some("EU".into()),
        email: Some(format!("{name}@example.test")),
        has_contact: true,
        ..SupplierInput::default()
    })
    .expect("valid supplier")
    .0
}

async fn insert_all(c: &MongoCatalog, products: &[Product]) {
    for p in products {
        Catalog::insert(c, p).await.expect("inserts");
    }
}

async fn ids(c: &MongoCatalog, query: &ProductQuery) -> Vec<ProductId> {
    let page = Catalog::list(c, query).await.expect("lists");
    page.items.iter().map(|p| p.id).collect()
}

fn query() -> ProductQuery {
    ProductQuery::default()
}

fn attr(path: &str, value: &str) -> AttrFilter {
    AttrFilter::parse(path, value).expect("valid attribute path")
}

/// What the contract says `list` returns: `ProductQuery::matches`, the sort, ties by id
/// (newest-first: newest id first, like the memory reference adapter), then the page.
fn reference(all: &[Product], q: &ProductQuery) -> (Vec<ProductId>, u64) {
    let mut hits: Vec<&Product> = all.iter().filter(|p| q.matches(p)).collect();
    match q.sort {
        ProductSort::CreatedAt => hits.sort_by_key(|p| (p.created_at, p.id)),
        ProductSort::NewestFirst => hits.sort_by_key(|p| Reverse((p.created_at, p.id))),
        ProductSort::PriceAsc => hits.sort_by_key(|p| (p.price.amount(), p.id)),
        ProductSort::PriceDesc => hits.sort_by_key(|p| (Reverse(p.price.amount()), p.id)),
        ProductSort::NameAsc => hits.sort_by_key(|p| (p.name.clone(), p.id)),
    }
    let total = hits.len() as u64;
    let page = q.page.slice(&hits.iter().map(|p| p.id).collect::<Vec<_>>());
    (page.items, total)
}

async fn assert_like_reference(c: &MongoCatalog, all: &[Product], q: &ProductQuery) {
    let page = Catalog::list(c, q).await.expect("lists");
    let got: Vec<ProductId> = page.items.iter().map(|p| p.id).collect();
    let (want, total) = reference(all, q);
    assert_eq!(got, want, "items for {q:?}");
    assert_eq!(page.total, total, "total for {q:?}");
    assert_eq!((page.limit, page.offset), (q.page.limit, q.page.offset));
}

fn server_code(e: &mongodb::error::Error) -> Option<i32> {
    emporium_mongo::error::server_code(e)
}

#[tokio::test]
async fn init_is_idempotent_and_keeps_data() {
    let (_db, c) = catalog().await;
    let p = product("IDEM-1", "Kept", "misc", "1.00");
    Catalog::insert(&c, &p).await.expect("inserts");

    let first = c.search_mode().expect("init ran");
    let second = c.init().await.expect("second init");
    assert_eq!(first, second);
    assert_eq!(Catalog::get(&c, p.id).await.expect("gets"), Some(p));

    let products = c.database().collection::<Document>(schema::PRODUCTS);
    let names = products.list_index_names().await.expect("lists indexes");
    for name in ["sku_unique", "category", "category_price", "supplier_id"] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    let has_text = names.iter().any(|n| n == schema::TEXT_INDEX);
    assert_eq!(
        first == SearchMode::Text,
        has_text,
        "mode {first:?}, indexes {names:?}"
    );
}

#[tokio::test]
async fn validator_refuses_raw_documents_the_domain_would_refuse() {
    let (_db, c) = catalog().await;
    let products = c.database().collection::<Document>(schema::PRODUCTS);
    let mut raw =
        codec::product_to_document(&product("RAW-1", "Raw", "misc", "5.00")).expect("encodes");

    raw.insert("price", Decimal128::from_str("-0.01").expect("decimal"));
    let e = products
        .insert_one(raw.clone())
        .await
        .expect_err("negative price");
    assert_eq!(server_code(&e), Some(121), "{e}");

    raw.insert("price", Bson::Double(5.0));
    let e = products
        .insert_one(raw.clone())
        .await
        .expect_err("float price");
    assert_eq!(server_code(&e), Some(121), "{e}");

    raw.insert("price", Decimal128::from_str("5.00").expect("decimal"));
    raw.remove("sku");
    let e = products.insert_one(raw.clone()).await.expect_err("no sku");
    assert_eq!(server_code(&e), Some(121), "{e}");

    let suppliers = c.database().collection::<Document>(schema::SUPPLIERS);
    let e = suppliers
        .insert_one(doc! { "name": "No region" })
        .await
        .expect_err("no region");
    assert_eq!(server_code(&e), Some(121), "{e}");

    assert_eq!(Catalog::list(&c, &query()).await.expect("lists").total, 0);
}

#[tokio::test]
async fn duplicate_sku_is_a_conflict_and_changes_nothing() {
    let (_db, c) = catalog().await;
    let first = product("DUP-1", "First", "misc", "1.00");
    let second = product("DUP-1", "Second", "other", "2.00");
    Catalog::insert(&c, &first).await.expect("inserts");

    match Catalog::insert(&c, &second).await {
        Err(Error::Conflict(message)) => {
            assert!(message.contains("sku DUP-1 already exists"), "{message}")
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(Catalog::get(&c, second.id).await.expect("gets"), None);
    let all = Catalog::list(&c, &query()).await.expect("lists");
    assert_eq!((all.total, all.items), (1, vec![first.clone()]));

    // The very same product again breaks both `_id` and `sku`; servers differ in which
    // index they report first, and either wording is true.
    match Catalog::insert(&c, &first).await {
        Err(Error::Conflict(message)) => assert!(
            message == format!("product {} already exists", first.id)
                || message == "sku DUP-1 already exists",
            "{message}"
        ),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let same_id = Product {
        sku: emporium_domain::model::Sku::parse("DUP-2").expect("sku"),
        ..first.clone()
    };
    match Catalog::insert(&c, &same_id).await {
        Err(Error::Conflict(message)) => {
            assert_eq!(message, format!("product {} already exists", first.id))
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(Catalog::get(&c, first.id).await.expect("gets"), Some(first));
}

#[tokio::test]
async fn products_round_trip_replace_and_delete() {
    let (_db, c) = catalog().await;
    let s = supplier("acme");
    let p = build(ProductInput {
        description: Some("A laptop for games".into()),
        supplier_id: Some(Some(s.id)),
        tags: Some(vec!["gaming".into()]),
        low_stock_threshold: Some(3),
        attributes: Some(json!({"cpu": "i7", "display": {"size": "15.6in"}, "ram_gb": 16})),
        ..input("RT-1", "Gaming Laptop", "electronics", "1299.99")
    });
    let other = product("RT-2", "Mouse", "electronics", "19.90");
    insert_all(&c, &[p.clone(), other.clone()]).await;

    assert_eq!(Catalog::get(&c, p.id).await.expect("gets"), Some(p.clone()));
    assert_eq!(
        Catalog::get(&c, ProductId::new()).await.expect("gets"),
        None
    );

    let mut many = Catalog::get_many(&c, &[other.id, ProductId::new(), p.id])
        .await
        .expect("gets many");
    many.sort_by_key(|x| x.id);
    let mut want = vec![p.clone(), other.clone()];
    want.sort_by_key(|x| x.id);
    assert_eq!(many, want);
    assert!(Catalog::get_many(&c, &[]).await.expect("empty").is_empty());

    let mut changed = p.clone();
    changed.price =
        emporium_domain::model::Money::parse("999.00", p.price.currency()).expect("valid price");
    changed.attributes = json!({"cpu": "i9"}).as_object().cloned().expect("object");
    Catalog::replace(&c, &changed).await.expect("replaces");
    assert_eq!(
        Catalog::get(&c, p.id).await.expect("gets"),
        Some(changed.clone())
    );

    let missing = product("RT-3", "Ghost", "misc", "1.00");
    assert!(matches!(
        Catalog::replace(&c, &missing).await,
        Err(Error::NotFound("product"))
    ));
    assert_eq!(Catalog::get(&c, missing.id).await.expect("gets"), None);

    assert_eq!(
        Catalog::delete(&c, p.id).await.expect("deletes"),
        Some(changed)
    );
    assert_eq!(Catalog::delete(&c, p.id).await.expect("deletes"), None);
    assert_eq!(Catalog::get(&c, p.id).await.expect("gets"), None);
}

fn with_attributes(sku: &str, attributes: Value) -> Product {
    build(ProductInput {
        attributes: Some(attributes),
        ..input(sku, sku, "electronics", "10.00")
    })
}

#[tokio::test]
async fn attribute_filters_match_nested_paths() {
    let (_db, c) = catalog().await;
    let laptop = with_attributes(
        "ATTR-1",
        json!({"display": {"size": "15.6in", "hz": 144}, "ram_gb": 16, "touch": true,
               "ports": ["usb", "hdmi"], "weight": 2.5}),
    );
    let tablet = with_attributes(
        "ATTR-2",
        json!({"display": {"size": "11in", "hz": 120}, "ram_gb": "16", "touch": false,
               "ports": ["usb"]}),
    );
    let bare = with_attributes("ATTR-3", json!({}));
    let all = vec![laptop.clone(), tablet.clone(), bare];
    insert_all(&c, &all).await;

    let cases: Vec<(Vec<AttrFilter>, Vec<ProductId>)> = vec![
        (vec![attr("display.size", "15.6in")], vec![laptop.id]),
        (vec![attr("display.hz", "120")], vec![tablet.id]),
        // "16" matches the number 16 and the text "16" alike.
        (vec![attr("ram_gb", "16")], vec![laptop.id, tablet.id]),
        (vec![attr("ram_gb", "16GB")], vec![]),
        (vec![attr("touch", "true")], vec![laptop.id]),
        (vec![attr("weight", "2.5")], vec![laptop.id]),
        // An array matches when one element does.
        (vec![attr("ports", "hdmi")], vec![laptop.id]),
        (vec![attr("ports", "usb")], vec![laptop.id, tablet.id]),
        (vec![attr("display", "15.6in")], vec![]),
        (vec![attr("display.size.inches", "15.6")], vec![]),
        (
            vec![attr("ports", "usb"), attr("touch", "false")],
            vec![tablet.id],
        ),
        (
            vec![attr("ports", "usb"), attr("ports", "hdmi")],
            vec![laptop.id],
        ),
    ];
    for (filters, want) in cases {
        let q = ProductQuery {
            attributes: filters,
            ..query()
        };
        let mut want = want;
        want.sort();
        let mut got = ids(&c, &q).await;
        got.sort();
        assert_eq!(got, want, "{:?}", q.attributes);
        assert_like_reference(&c, &all, &q).await;
    }
}

#[tokio::test]
async fn price_range_compares_decimals_exactly() {
    let (_db, c) = catalog().await;
    let all: Vec<Product> = ["0.99", "9.50", "10.00", "100.00", "1299.99", "0.10"]
        .iter()
        .enumerate()
        .map(|(i, price)| product(&format!("PR-{i}"), "Item", "misc", price))
        .collect();
    insert_all(&c, &all).await;

    let range = |min: Option<&str>, max: Option<&str>| ProductQuery {
        min_price: min.map(|m| Decimal::from_str(m).expect("decimal")),
        max_price: max.map(|m| Decimal::from_str(m).expect("decimal")),
        sort: ProductSort::PriceAsc,
        ..query()
    };
    let prices =
        |page: Vec<Product>| -> Vec<String> { page.iter().map(|p| p.price.to_string()).collect() };

    // Inclusive at both ends, and numeric: as text "10.00" < "9.50".
    let page = Catalog::list(&c, &range(Some("9.5"), Some("100")))
        .await
        .expect("lists");
    assert_eq!(prices(page.items), ["9.50", "10.00", "100.00"]);
    assert_eq!(page.total, 3);

    // 0.1 and 0.10 are the same amount; a float-based store would also be exact here,
    // but would not be for 1299.99 - 0.01.
    let page = Catalog::list(&c, &range(Some("0.1"), Some("0.99")))
        .await
        .expect("lists");
    assert_eq!(prices(page.items), ["0.10", "0.99"]);
    let page = Catalog::list(&c, &range(Some("1299.98"), None))
        .await
        .expect("lists");
    assert_eq!(prices(page.items), ["1299.99"]);
    let page = Catalog::list(&c, &range(None, Some("1299.98")))
        .await
        .expect("lists");
    assert_eq!(page.total, 5);
    let page = Catalog::list(&c, &range(Some("-5"), Some("0.09")))
        .await
        .expect("lists");
    assert_eq!(page.total, 0);

    for (min, max) in [
        (Some("0.5"), Some("10")),
        (None, Some("0.99")),
        (Some("10.001"), None),
    ] {
        assert_like_reference(&c, &all, &range(min, max)).await;
    }
}

#[tokio::test]
async fn sorting_and_paging_follow_the_reference_with_ties_by_id() {
    let (_db, c) = catalog().await;
    let base = emporium_domain::model::now();
    let mut all = Vec::new();
    for (i, (name, price)) in [
        ("banana", "5.00"),
        ("Apple", "5.00"),
        ("cherry", "0.50"),
        ("apple", "12.00"),
        ("Äpfel", "5.00"),
        ("date", "12.00"),
    ]
    .iter()
    .enumerate()
    {
        let mut p = product(&format!("SORT-{i}"), name, "fruit", price);
        // Distinct creation times, except the last three, which tie (broken by id).
        p.created_at = base + chrono::Duration::milliseconds(i.min(3) as i64);
        p.updated_at = p.created_at;
        all.push(p);
    }
    all[0].created_at += chrono::Duration::milliseconds(10); // not the insertion order
    insert_all(&c, &all).await;

    for sort in [
        ProductSort::CreatedAt,
        ProductSort::NewestFirst,
        ProductSort::PriceAsc,
        ProductSort::PriceDesc,
        ProductSort::NameAsc,
    ] {
        for (limit, offset) in [(50, 0), (2, 0), (2, 2), (4, 3), (3, 10)] {
            let q = ProductQuery {
                sort,
                page: PageRequest::new(Some(limit), Some(offset)).expect("valid page"),
                ..query()
            };
            assert_like_reference(&c, &all, &q).await;
        }
    }
}

#[tokio::test]
async fn filters_combine_category_supplier_and_text() {
    let (_db, c) = catalog().await;
    let s = supplier("combo");
    let with = |sku: &str, name: &str, category: &str, supplier: Option<SupplierId>| {
        build(ProductInput {
            supplier_id: Some(supplier),
            description: Some(format!("The {name} from the {category} shelf")),
            tags: Some(vec![format!("{category}-tag")]),
            ..input(sku, name, category, "3.00")
        })
    };
    let all = vec![
        with("CMB-1", "Gaming Laptop", "electronics", Some(s.id)),
        with("CMB-2", "Office Laptop", "electronics", None),
        with("CMB-3", "Laptop Bag", "bags", Some(s.id)),
        with("CMB-4", "Desk", "furniture", Some(s.id)),
    ];
    insert_all(&c, &all).await;

    let queries = vec![
        ProductQuery {
            category: Some("electronics".into()),
            ..query()
        },
        ProductQuery {
            category: Some("Electronics".into()),
            ..query()
        },
        ProductQuery {
            supplier_id: Some(s.id),
            ..query()
        },
        ProductQuery {
            supplier_id: Some(SupplierId::new()),
            ..query()
        },
        ProductQuery {
            category: Some("electronics".into()),
            supplier_id: Some(s.id),
            text: Some("laptop".into()),
            ..query()
        },
        ProductQuery {
            text: Some("laptop".into()),
            ..query()
        },
        ProductQuery {
            text: Some("furniture".into()),
            ..query()
        },
    ];
    for q in &queries {
        assert_like_reference(&c, &all, q).await;
    }
}

#[tokio::test]
async fn regex_search_is_case_insensitive_substring_over_name_description_and_tags() {
    let (_db, c) = catalog().await;
    if c.search_mode() != Some(SearchMode::Regex) {
        eprintln!("skipped: this server searches with $text, which matches whole words");
        return;
    }
    let laptop = build(ProductInput {
        description: Some("Ships with a CHARGER".into()),
        tags: Some(vec!["Gaming".into(), "portable".into()]),
        ..input("TXT-1", "Gaming Laptop", "electronics", "1.00")
    });
    let literal = product("TXT-2", "Regex .* (literal) [a-z]+ $1", "misc", "1.00");
    let umlaut = product("TXT-3", "Überzieher", "clothes", "1.00");
    let all = vec![laptop.clone(), literal.clone(), umlaut.clone()];
    insert_all(&c, &all).await;

    let cases = [
        ("LAPTOP", vec![laptop.id]),
        ("apto", vec![laptop.id]),
        ("charger", vec![laptop.id]),
        ("RTAB", vec![laptop.id]),
        (".*", vec![literal.id]),
        ("(literal)", vec![literal.id]),
        ("[a-z]+", vec![literal.id]),
        ("$1", vec![literal.id]),
        ("a.e", vec![]),
        ("überZIEHER", vec![umlaut.id]),
        ("\\", vec![]),
    ];
    for (text, want) in cases {
        let q = ProductQuery {
            text: Some(text.into()),
            ..query()
        };
        assert_eq!(ids(&c, &q).await, want, "q = {text:?}");
        assert_like_reference(&c, &all, &q).await;
    }
}

/// Values that would be operators if they reached MongoDB as JSON are compared as the
/// literal text they are: against ordinary products they match nothing, and against a
/// product that literally carries that text they match exactly it.
#[tokio::test]
async fn operator_lookalikes_in_client_values_match_literally() {
    let (_db, c) = catalog().await;
    let gt = r#"{"$gt": ""}"#;
    let ne = r#"{"$ne": null}"#;
    let where_js = "$where: function() { return true; }";
    let ordinary = build(ProductInput {
        attributes: Some(json!({"color": "red", "display": {"size": "15.6in"}})),
        tags: Some(vec!["sale".into()]),
        ..input("INJ-1", "Ordinary", "electronics", "10.00")
    });
    insert_all(&c, std::slice::from_ref(&ordinary)).await;

    let hostile_queries = |value: &str| {
        vec![
            ProductQuery {
                category: Some(value.into()),
                ..query()
            },
            ProductQuery {
                text: Some(value.into()),
                ..query()
            },
            ProductQuery {
                attributes: vec![attr("color", value)],
                ..query()
            },
            ProductQuery {
                attributes: vec![attr("display.size", value)],
                ..query()
            },
        ]
    };
    for value in [
        gt,
        ne,
        where_js,
        "'; return true; var x='",
        "this.price > 0",
    ] {
        for q in hostile_queries(value) {
            let page = Catalog::list(&c, &q).await.expect("lists, never errors");
            assert_eq!(page.total, 0, "{q:?} matched {:?}", page.items);
        }
    }

    // The same text stored literally is found literally.
    let literal = build(ProductInput {
        description: Some(where_js.into()),
        attributes: Some(json!({"color": gt, "display": {"size": gt}})),
        ..input("INJ-2", gt, gt, "10.00")
    });
    Catalog::insert(&c, &literal).await.expect("inserts");
    for q in hostile_queries(gt) {
        if q.text.is_some() && c.search_mode() == Some(SearchMode::Text) {
            continue; // $text tokenises into words; the literal match is a regex property.
        }
        assert_eq!(ids(&c, &q).await, vec![literal.id], "{q:?}");
    }
    if c.search_mode() == Some(SearchMode::Regex) {
        let q = ProductQuery {
            text: Some(where_js.into()),
            ..query()
        };
        assert_eq!(ids(&c, &q).await, vec![literal.id]);
    }
    assert_eq!(Catalog::list(&c, &query()).await.expect("lists").total, 2);
}

#[tokio::test]
async fn suppliers_crud_list_and_count_by_supplier() {
    let (_db, c) = catalog().await;
    let mut all = Vec::new();
    for name in ["alpha", "beta", "gamma"] {
        let s = supplier(name);
        Suppliers::insert(&c, &s).await.expect("inserts");
        all.push(s);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let [alpha, beta, gamma] = [all[0].clone(), all[1].clone(), all[2].clone()];

    assert!(matches!(
        Suppliers::insert(&c, &alpha).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        Suppliers::get(&c, beta.id).await.expect("gets"),
        Some(beta.clone())
    );
    assert_eq!(
        Suppliers::get(&c, SupplierId::new()).await.expect("gets"),
        None
    );

    let page = Suppliers::list(&c, PageRequest::default())
        .await
        .expect("lists");
    assert_eq!(page.items, all, "oldest first");
    assert_eq!(page.total, 3);
    let page = Suppliers::list(&c, PageRequest::new(Some(1), Some(1)).expect("page"))
        .await
        .expect("lists");
    assert_eq!((page.items, page.total), (vec![beta.clone()], 3));

    let renamed = emporium_domain::model::SupplierPatch {
        name: Some(emporium_domain::model::Name::parse("Beta GmbH").expect("name")),
        contact: Some(emporium_domain::model::Contact::default()),
        ..Default::default()
    }
    .apply_to(&beta);
    Suppliers::replace(&c, &renamed).await.expect("replaces");
    assert_eq!(
        Suppliers::get(&c, beta.id).await.expect("gets"),
        Some(renamed)
    );
    assert!(matches!(
        Suppliers::replace(&c, &supplier("ghost")).await,
        Err(Error::NotFound("supplier"))
    ));

    let supplied = |sku: &str, s: Option<SupplierId>| {
        build(ProductInput {
            supplier_id: Some(s),
            ..input(sku, sku, "misc", "1.00")
        })
    };
    insert_all(
        &c,
        &[
            supplied("SUP-1", Some(alpha.id)),
            supplied("SUP-2", Some(alpha.id)),
            supplied("SUP-3", Some(beta.id)),
            supplied("SUP-4", None),
        ],
    )
    .await;
    assert_eq!(
        Catalog::count_by_supplier(&c, alpha.id)
            .await
            .expect("counts"),
        2
    );
    assert_eq!(
        Catalog::count_by_supplier(&c, beta.id)
            .await
            .expect("counts"),
        1
    );
    assert_eq!(
        Catalog::count_by_supplier(&c, gamma.id)
            .await
            .expect("counts"),
        0
    );

    assert!(Suppliers::delete(&c, gamma.id).await.expect("deletes"));
    assert!(!Suppliers::delete(&c, gamma.id).await.expect("deletes"));
    assert_eq!(Suppliers::get(&c, gamma.id).await.expect("gets"), None);
    assert_eq!(
        Suppliers::list(&c, PageRequest::default())
            .await
            .expect("lists")
            .total,
        2
    );
}

#[tokio::test]
async fn ping_answers_while_the_server_does() {
    let (_db, c) = catalog().await;
    Catalog::ping(&c).await.expect("pings");
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_within_seconds() {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let started = Instant::now();
    let result = MongoCatalog::connect(
        &format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
        "emporium_unreachable",
    )
    .await;
    assert!(
        matches!(&result, Err(Error::Unavailable(store)) if store == "mongodb"),
        "{result:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    let bad = MongoCatalog::connect("postgres://nope", "x").await;
    assert!(matches!(bad, Err(Error::Internal(_))), "{bad:?}");
}

#[tokio::test]
async fn every_operation_on_an_unreachable_server_is_unavailable() {
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut options = mongodb::options::ClientOptions::parse(format!(
        "mongodb://127.0.0.1:{port}/?directConnection=true"
    ))
    .await
    .expect("a valid URI");
    options.server_selection_timeout = Some(Duration::from_millis(200));
    let client = mongodb::Client::with_options(options).expect("a client");
    let c = MongoCatalog::from_database(client.database("emporium_unreachable"));
    let p = product("DOWN-1", "Down", "misc", "1.00");
    let s = supplier("down");

    let unavailable = |what: &str, e: Option<Error>| match e {
        Some(Error::Unavailable(store)) => assert_eq!(store, "mongodb", "{what}"),
        other => panic!("{what}: expected Unavailable, got {other:?}"),
    };
    unavailable("init", c.init().await.err());
    unavailable("insert", Catalog::insert(&c, &p).await.err());
    unavailable("get", Catalog::get(&c, p.id).await.err());
    unavailable("get_many", Catalog::get_many(&c, &[p.id]).await.err());
    unavailable("replace", Catalog::replace(&c, &p).await.err());
    unavailable("delete", Catalog::delete(&c, p.id).await.err());
    unavailable("list", Catalog::list(&c, &query()).await.err());
    unavailable("count", Catalog::count_by_supplier(&c, s.id).await.err());
    unavailable("ping", Catalog::ping(&c).await.err());
    unavailable("supplier insert", Suppliers::insert(&c, &s).await.err());
    unavailable("supplier get", Suppliers::get(&c, s.id).await.err());
    unavailable(
        "supplier list",
        Suppliers::list(&c, PageRequest::default()).await.err(),
    );
    unavailable("supplier replace", Suppliers::replace(&c, &s).await.err());
    unavailable("supplier delete", Suppliers::delete(&c, s.id).await.err());
}

/// The domain validates before the adapter writes, so a document the store's validator
/// refuses is a bug: `Internal`, not a client error.
#[tokio::test]
async fn a_document_the_store_refuses_is_internal() {
    let db = create().await.expect("a test MongoDB");
    let database = db.database().await.expect("a database");
    database
        .create_collection(schema::PRODUCTS)
        .validator(doc! { "$jsonSchema": { "required": ["never_written"] } })
        .await
        .expect("creates a stricter collection");
    let c = MongoCatalog::connect(&db.uri, &db.db)
        .await
        .expect("connects");
    let result = Catalog::insert(&c, &product("STRICT-1", "Strict", "misc", "1.00")).await;
    assert!(matches!(result, Err(Error::Internal(_))), "{result:?}");
}

/// Read routing: a catalog read with `secondaryPreferred` sees what the primary wrote
/// (on a one-member set it reads the primary), carries that read preference on its
/// handle, and keeps the search mode `init` decided; an unknown preference is refused.
#[tokio::test]
async fn a_browsing_catalog_reads_with_its_read_preference() {
    let (_db, c) = catalog().await;
    let browse = c
        .reading_from("secondaryPreferred")
        .expect("a read preference");
    assert!(
        matches!(
            browse.database().selection_criteria(),
            Some(mongodb::options::SelectionCriteria::ReadPreference(
                mongodb::options::ReadPreference::SecondaryPreferred { .. }
            ))
        ),
        "{:?}",
        browse.database().selection_criteria()
    );
    assert_eq!(browse.search_mode(), c.search_mode());
    let all = ProductQuery::default();
    let before = Catalog::list(&browse, &all).await.unwrap().total;
    let written = product("ROUTED-1", "Routed", "lighting", "9.00");
    Catalog::insert(&c, &written).await.unwrap();
    assert_eq!(
        Catalog::list(&browse, &all).await.unwrap().total,
        before + 1
    );
    assert!(matches!(
        c.reading_from("fastest"),
        Err(Error::Validation(_))
    ));
}

/// A fresh feed (no cursor stored) follows the catalog from when the catalog connected,
/// not from when its change stream happens to open: a product created in between is in
/// the feed. (A follower started late under load used to miss it.)
#[tokio::test]
async fn a_fresh_feed_starts_from_when_the_catalog_connected() {
    use emporium_domain::model::{EventKind, Seq};
    use emporium_domain::ports::{CatalogChanges, EventLog};
    let (_db, c) = catalog().await;
    let early = product("EARLY-1", "Early bird", "lighting", "4.00");
    Catalog::insert(&c, &early).await.unwrap();
    // Only now does the follower start.
    let log = std::sync::Arc::new(emporium_memory::MemoryEventLog::default());
    let (follower, reader) = (c.clone(), log.clone());
    let following = tokio::spawn(async move { follower.follow(reader.as_ref()).await });
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        log.relay().await.unwrap();
        let replay = log.read_after(Seq(0), 100).await.unwrap();
        if replay
            .events
            .iter()
            .any(|e| e.event.kind == EventKind::ProductCreated && e.event.id == early.id.as_uuid())
        {
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", replay.events);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    following.abort();
}
