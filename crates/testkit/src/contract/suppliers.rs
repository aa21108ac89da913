//! The supplier port: create, read, replace, list and delete.

use super::support::{page, supplier};
use emporium_domain::model::Region;
use emporium_domain::ports::Stores;
use emporium_domain::Error;

pub async fn suppliers_crud(stores: &Stores) {
    let mut s = supplier("Initech");
    stores.suppliers.insert(&s).await.unwrap();
    assert_eq!(stores.suppliers.get(s.id).await.unwrap(), Some(s.clone()));
    s.region = Region::parse("APAC").unwrap();
    s.contact.phone = Some("+44 20 7946 0000".into());
    stores.suppliers.replace(&s).await.unwrap();
    assert_eq!(stores.suppliers.get(s.id).await.unwrap(), Some(s.clone()));
    let listed = stores.suppliers.list(page(500, 0)).await.unwrap();
    assert!(listed.items.contains(&s));
    let missing = supplier("Nowhere");
    let many = stores
        .suppliers
        .get_many(&[missing.id, s.id])
        .await
        .unwrap();
    assert_eq!(many, vec![s.clone()], "those that exist, in one call");
    assert!(matches!(
        stores.suppliers.replace(&supplier("Nobody")).await,
        Err(Error::NotFound(_))
    ));
    assert!(stores.suppliers.delete(s.id).await.unwrap());
    assert!(!stores.suppliers.delete(s.id).await.unwrap());
    assert_eq!(stores.suppliers.get(s.id).await.unwrap(), None);
}
