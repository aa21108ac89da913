//! The admin audit log ([`AdminAudit`]): entries are kept, listed newest first and paged.

use emporium_domain::model::{AuditEntry, PageRequest};
use emporium_domain::ports::Stores;

pub async fn admin_audit_keeps_entries_newest_first(stores: &Stores) {
    let audit = &stores.admin_audit;
    let first = AuditEntry::new(Some("ops".into()), "POST", "/api/admin/backup", 202);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = AuditEntry::new(None, "GET", "/api/admin/sagas", 401);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let third = AuditEntry::new(Some("viewer".into()), "POST", "/api/admin/restore", 403);
    for entry in [&first, &second, &third] {
        audit.record(entry).await.expect("record");
    }
    audit
        .record(&second)
        .await
        .expect("recording again is harmless");

    let all = audit
        .entries(PageRequest::default())
        .await
        .expect("entries");
    assert_eq!(all.total, 3);
    assert_eq!(
        all.items,
        vec![third.clone(), second.clone(), first.clone()]
    );
    let page = audit
        .entries(PageRequest::new(Some(1), Some(1)).unwrap())
        .await
        .unwrap();
    assert_eq!((page.total, page.items), (3, vec![second]));
    let beyond = audit
        .entries(PageRequest::new(Some(5), Some(10)).unwrap())
        .await
        .unwrap();
    assert_eq!((beyond.total, beyond.items.len()), (3, 0));
}
