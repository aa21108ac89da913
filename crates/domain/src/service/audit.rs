//! The audit log of admin calls: written for every call to an admin route, read by
//! operators.

use crate::error::Result;
use crate::model::{AuditEntry, Page, PageRequest};
use crate::ports::Stores;

/// Records and lists admin calls.
#[derive(Clone)]
pub struct AuditService {
    stores: Stores,
}

impl AuditService {
    pub fn new(stores: Stores) -> Self {
        AuditService { stores }
    }

    #[tracing::instrument(name = "admin.audit.record", skip_all, fields(status = entry.status))]
    pub async fn record(&self, entry: &AuditEntry) -> Result<()> {
        self.stores.admin_audit.record(entry).await
    }

    /// Newest first.
    pub async fn entries(&self, page: PageRequest) -> Result<Page<AuditEntry>> {
        self.stores.admin_audit.entries(page).await
    }
}
