//! Bodies of the backup and restore routes, and the job every long operation answers with.

use chrono::{DateTime, Utc};
use emporium_domain::model::{BackupType, Job, JobKind, JobStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/admin/backup`; an empty body is a full backup.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct BackupBody {
    /// `full` (default) or `incremental`.
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<String>, pattern = "^(full|incremental)$")]
    pub backup_type: Option<BackupType>,
}

/// `POST /api/admin/restore`; an empty body restores the latest successful backup.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RestoreBody {
    /// The backup to restore (a backup job's id); the latest successful one by default.
    #[schema(value_type = Option<String>, format = Uuid,
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    pub backup_id: Option<Uuid>,
    /// Restore even while sagas are in flight; they are settled afterwards.
    #[serde(default)]
    pub force: Option<bool>,
}

/// `POST /api/admin/pitr`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PitrBody {
    /// The moment to recover both stores to (RFC 3339), inside the recoverable window.
    #[schema(value_type = String, format = DateTime)]
    pub to: Option<String>,
}

/// A backup, restore, snapshot or PITR job: an entry of the backup log.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    pub id: Uuid,
    #[schema(value_type = String, pattern = "^(backup|restore|snapshot|pitr)$")]
    pub kind: JobKind,
    #[schema(value_type = String, pattern = "^(running|succeeded|failed)$")]
    pub status: JobStatus,
    /// The admin token's name that started it (`cli` from the command line).
    pub actor: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<u64>,
    pub size_bytes: Option<u64>,
    /// Each store's position (`postgres`: LSN, restore point, time; `mongodb`: optime).
    #[schema(value_type = Object)]
    pub positions: BTreeMap<String, Value>,
    /// Counts against the manifest, checksums, saga recovery and reconcile (restores).
    #[schema(value_type = Option<Object>)]
    pub verification: Option<Value>,
    pub error: Option<String>,
    /// What was asked: the backup type, the backup restored, the PITR target.
    #[schema(value_type = Object)]
    pub request: Value,
    /// The step under way, while the job runs.
    pub step: Option<String>,
}

impl From<Job> for JobResponse {
    fn from(job: Job) -> Self {
        JobResponse {
            id: job.id.as_uuid(),
            kind: job.kind,
            status: job.status,
            actor: job.actor,
            started_at: job.started_at,
            finished_at: job.finished_at,
            duration_ms: job.duration_ms,
            size_bytes: job.size_bytes,
            positions: job.positions,
            verification: job.verification,
            error: job.error,
            request: job.request,
            step: job.step,
        }
    }
}

/// A page of the backup log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<JobResponse>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}
