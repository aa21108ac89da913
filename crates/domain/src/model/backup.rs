//! Backups and recoveries: the jobs that make and use them, and the manifest that says what
//! a backup holds.
//!
//! One backup covers both stores and names **one consistent point**: the moment, taken with
//! the server's writes paused, at which each store's position was recorded (PostgreSQL's
//! restore point and LSN, MongoDB's optime, or the memory set's snapshot). Restoring a
//! backup brings every store back to its position at that point (ADR 0015).

use super::{JobId, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Backup,
    Restore,
    Snapshot,
    Pitr,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Succeeded,
    Failed,
}

/// A full backup copies everything; an incremental one what changed since the last backup
/// (where the store's tool can tell: pgBackRest can, a logical export cannot and is full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    #[default]
    Full,
    Incremental,
}

/// One entry of the backup log: a job, running or finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub kind: JobKind,
    pub status: JobStatus,
    /// The admin token's name (or `cli`) that started it.
    pub actor: Option<String>,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub duration_ms: Option<u64>,
    /// Bytes written (backup) or read (restore).
    pub size_bytes: Option<u64>,
    /// Each store's position: at the backup's consistent point, or the one restored to.
    pub positions: BTreeMap<String, Value>,
    /// What was checked afterwards: counts against the manifest, checksums, reconcile.
    pub verification: Option<Value>,
    pub error: Option<String>,
    /// What the job was asked: the backup type, the backup restored, the PITR target.
    pub request: Value,
    /// The current step, while it runs.
    pub step: Option<String>,
    /// The process running it, `host:pid`: a job left `running` by a process that is gone
    /// was interrupted ([`Job::interrupted`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
}

/// `host:pid` of this process.
fn this_runner() -> String {
    format!("{}:{}", this_host(), std::process::id())
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

impl Job {
    pub fn start(kind: JobKind, actor: Option<String>, request: Value) -> Job {
        Job {
            id: JobId::new(),
            kind,
            status: JobStatus::Running,
            actor,
            started_at: super::now(),
            finished_at: None,
            duration_ms: None,
            size_bytes: None,
            positions: BTreeMap::new(),
            verification: None,
            error: None,
            request,
            step: None,
            runner: Some(this_runner()),
        }
    }

    /// Whether this job says it runs, but the process running it on this host is gone
    /// (Linux: no `/proc/<pid>`). Jobs of other hosts, and of this process, are not judged.
    pub fn interrupted(&self) -> bool {
        if self.status != JobStatus::Running {
            return false;
        }
        let Some((host, pid)) = self.runner.as_deref().and_then(|r| r.rsplit_once(':')) else {
            return false;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            return false;
        };
        host == this_host()
            && pid != std::process::id()
            && !std::path::Path::new("/proc").join(pid.to_string()).exists()
    }

    /// Marks the job finished: succeeded without an error, failed with one.
    pub fn finish(&mut self, error: Option<String>) {
        let finished = super::now();
        self.status = match error {
            None => JobStatus::Succeeded,
            Some(_) => JobStatus::Failed,
        };
        self.error = error;
        self.step = None;
        self.finished_at = Some(finished);
        self.duration_ms = Some((finished - self.started_at).num_milliseconds().max(0) as u64);
    }
}

/// One file of a backup, relative to the backup's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// What one store's part of a backup holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoreManifest {
    /// Where the store was at the consistent point (LSN, optime, ...), in the store's terms.
    pub position: Value,
    /// Rows or documents per table or collection at the consistent point.
    pub counts: BTreeMap<String, u64>,
    /// The files in the backup directory, each with its checksum.
    pub files: Vec<BackupFile>,
    /// Bytes this store's part takes, including what its own tool keeps elsewhere.
    pub size_bytes: u64,
    /// The tool and version that wrote it.
    pub tool: String,
}

/// A backup: its consistent point and each store's part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: JobId,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub started_at: Timestamp,
    /// The consistent point: when the positions were taken, with writes paused.
    pub point: Timestamp,
    pub duration_ms: u64,
    pub stores: BTreeMap<String, StoreManifest>,
}

impl Manifest {
    pub fn size_bytes(&self) -> u64 {
        self.stores.values().map(|s| s.size_bytes).sum()
    }

    pub fn positions(&self) -> BTreeMap<String, Value> {
        self.stores
            .iter()
            .map(|(name, part)| (name.clone(), part.position.clone()))
            .collect()
    }
}

/// What a store's backup adapter knows right after the consistent point.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub position: Value,
    pub counts: BTreeMap<String, u64>,
}
