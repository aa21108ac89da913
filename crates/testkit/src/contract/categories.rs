//! The category tree (ADR 0018): the tree is written whole with a compare-and-set on its
//! version, so of concurrent writers from one version exactly one lands; products'
//! membership is counted, moved and filtered on, descendants included.

use super::support::product;
use emporium_domain::model::{CategoryInput, CategoryTree, PageRequest, ProductQuery};
use emporium_domain::ports::Stores;
use emporium_domain::service::{CategoryService, ReportService};
use emporium_domain::Error;

fn input(name: &str, slug: &str, parent: Option<String>) -> CategoryInput {
    CategoryInput {
        name: Some(name.into()),
        slug: Some(slug.into()),
        parent_id: Some(parent),
    }
}

pub async fn category_tree_is_written_whole_with_compare_and_set(stores: &Stores) {
    let categories = stores.categories.as_ref();
    let empty = categories.tree().await.expect("tree");
    assert_eq!(empty, CategoryTree::default());
    let mut first = empty.clone();
    let root = first
        .add(input("Electronics", "electronics", None))
        .unwrap();
    first.version = 1;
    assert!(categories.save_tree(&first).await.expect("save"));
    assert_eq!(categories.tree().await.expect("tree"), first);
    // A second write from version 0 lost: nothing of it is stored.
    let mut stale = empty.clone();
    stale.add(input("Books", "books", None)).unwrap();
    stale.version = 1;
    assert!(!categories.save_tree(&stale).await.expect("save"));
    assert_eq!(categories.tree().await.expect("tree"), first);
    // Twelve writers from one version: exactly one lands.
    let writers = (0..12).map(|i| {
        let mut tree = first.clone();
        async move {
            tree.add(input("C", &format!("c{i}"), Some(root.id.to_string())))
                .unwrap();
            tree.version = 2;
            stores.categories.save_tree(&tree).await.expect("save")
        }
    });
    let landed = futures::future::join_all(writers).await;
    assert_eq!(landed.iter().filter(|l| **l).count(), 1, "{landed:?}");
    let now = categories.tree().await.expect("tree");
    assert_eq!((now.version, now.nodes.len()), (2, 2));
}

pub async fn category_service_keeps_sibling_slugs_unique_under_concurrency(stores: &Stores) {
    let service = CategoryService::new(stores.clone());
    let root = service
        .create(input("Home", "home", None))
        .await
        .expect("root");
    let parent = Some(root.node.id.to_string());
    // Sixteen different children at once all land (each write retries on a lost race)...
    let creations = (0..16).map(|i| {
        let (service, parent) = (service.clone(), parent.clone());
        async move {
            service
                .create(input("Kid", &format!("kid-{i}"), parent))
                .await
        }
    });
    let made = futures::future::join_all(creations).await;
    assert!(made.iter().all(Result::is_ok), "{made:?}");
    // ...and of sixteen with one slug, exactly one does; the rest are 409.
    let same = (0..16).map(|_| {
        let (service, parent) = (service.clone(), parent.clone());
        async move { service.create(input("Twin", "twin", parent)).await }
    });
    let results = futures::future::join_all(same).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, Error::Conflict(_))));
    let listed = service
        .list(PageRequest::new(Some(500), None).unwrap())
        .await
        .expect("list");
    assert_eq!(listed.total, 18);
    // Tree order: the root first, with its path.
    assert_eq!(listed.items[0].path, "home");
    assert!(listed.items[1..]
        .iter()
        .all(|v| v.path.starts_with("home/")));
}

pub async fn products_are_counted_moved_and_found_by_category_subtree(stores: &Stores) {
    let service = CategoryService::new(stores.clone());
    let electronics = service
        .create(input("Electronics", "electronics", None))
        .await
        .unwrap();
    let computers = service
        .create(input(
            "Computers",
            "computers",
            Some(electronics.node.id.to_string()),
        ))
        .await
        .unwrap();
    let laptops = service
        .create(input(
            "Laptops",
            "laptops",
            Some(computers.node.id.to_string()),
        ))
        .await
        .unwrap();
    let books = service.create(input("Books", "books", None)).await.unwrap();
    let mut laptop = product("Laptop", "misc", "999.00");
    laptop.categories = vec![laptops.node.id, books.node.id];
    let mut desktop = product("Desktop", "computers", "799.00");
    desktop.categories = Vec::new();
    let mut novel = product("Novel", "fiction", "12.00");
    novel.categories = vec![books.node.id];
    for p in [&laptop, &desktop, &novel] {
        stores.catalog.insert(p).await.expect("insert");
    }
    let counts: std::collections::HashMap<_, _> = stores
        .categories
        .product_counts()
        .await
        .expect("counts")
        .into_iter()
        .collect();
    assert_eq!(counts.get(&laptops.node.id), Some(&1));
    assert_eq!(counts.get(&books.node.id), Some(&2));
    assert_eq!(counts.get(&electronics.node.id), None);
    // `?category=electronics` finds the laptop (in a descendant) and the desktop (its
    // primary category is a descendant's slug), not the novel.
    let names = |query: ProductQuery| async move {
        let mut names: Vec<String> = stores
            .catalog
            .list(&query)
            .await
            .expect("list")
            .items
            .into_iter()
            .map(|p| p.name.into_inner())
            .collect();
        names.sort();
        names
    };
    let mut query = ProductQuery {
        category: Some("electronics".into()),
        ..Default::default()
    };
    service.scope(&mut query).await.unwrap();
    assert_eq!(names(query).await, ["Desktop", "Laptop"]);
    let mut query = ProductQuery {
        category: Some(books.node.id.to_string()),
        ..Default::default()
    };
    service.scope(&mut query).await.unwrap();
    assert_eq!(names(query).await, ["Laptop", "Novel"]);
    // A reference that names no category matches the primary category alone.
    let mut query = ProductQuery {
        category: Some("fiction".into()),
        ..Default::default()
    };
    service.scope(&mut query).await.unwrap();
    assert!(query.category_scope.is_none());
    assert_eq!(names(query).await, ["Novel"]);
    // Deleting a category in use: 409 and nothing changes; with reassign_to, products move.
    assert!(matches!(
        service.delete(books.node.id, None).await,
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        service.delete(computers.node.id, None).await,
        Err(Error::Conflict(_))
    ));
    let moved = service
        .delete(books.node.id, Some("laptops"))
        .await
        .expect("delete with reassign");
    assert_eq!(moved, 2);
    let novel_now = stores.catalog.get(novel.id).await.unwrap().unwrap();
    assert_eq!(novel_now.categories, vec![laptops.node.id]);
    let laptop_now = stores.catalog.get(laptop.id).await.unwrap().unwrap();
    assert_eq!(laptop_now.categories, vec![laptops.node.id]);
    assert!(matches!(
        service.get(books.node.id).await,
        Err(Error::NotFound(_))
    ));
    // The report follows the tree: nothing sold yet, so it is empty rather than failing.
    let report = ReportService::new(stores.clone())
        .sales_by_category_tree(Default::default(), PageRequest::default())
        .await
        .expect("report");
    assert_eq!(report.total, 0);
}
