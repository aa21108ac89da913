//! The admin audit log in memory.

use crate::lock;
use async_trait::async_trait;
use emporium_domain::model::{AuditEntry, Page, PageRequest};
use emporium_domain::ports::AdminAudit;
use emporium_domain::Result;
use std::sync::Mutex;

/// Entries in the order they were recorded.
#[derive(Default)]
pub struct MemoryAdminAudit {
    entries: Mutex<Vec<AuditEntry>>,
}

#[async_trait]
impl AdminAudit for MemoryAdminAudit {
    async fn record(&self, entry: &AuditEntry) -> Result<()> {
        let mut entries = lock(&self.entries);
        if !entries.iter().any(|e| e.id == entry.id) {
            entries.push(entry.clone());
        }
        Ok(())
    }

    async fn entries(&self, page: PageRequest) -> Result<Page<AuditEntry>> {
        let mut all = lock(&self.entries).clone();
        all.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        Ok(page.slice(&all))
    }
}
