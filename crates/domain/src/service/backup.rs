//! Backup and restore across both stores, one job at a time (ADR 0015).
//!
//! A backup is worth something only if every store comes back to the same moment. The
//! service makes that moment, the **consistent point**, by pausing the server's writes
//! (the [`WriteGate`]) for as long as it takes every store to record its position (a
//! PostgreSQL restore point, a MongoDB optime, a memory snapshot): milliseconds. The slow
//! parts, the base copies before and the archiving after, run with writes flowing.
//!
//! A restore puts the server in maintenance (writes get 503 `maintenance`, reads go on),
//! restores every store to its position at the point, compares the counts with the
//! manifest, settles the sagas the point cut in half, and runs the reconciliation. All
//! of it goes into the job's entry in the backup log, which lives outside what a restore
//! rolls back.

use super::{ReconciliationService, RecoveryService};
use crate::error::{Error, Result};
use crate::model::{
    BackupType, Job, JobId, JobKind, Manifest, Page, PageRequest, SagaState, StoreManifest,
    Timestamp,
};
use crate::ports::{BackupRepository, JobLog, StoreBackup, StoreSnapshot, Stores};
use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, OwnedRwLockReadGuard, RwLock};

/// The longest a recovery request waits for every store's log to be archived up to now
/// (the end of its window) before answering 503: the request waits for it, the job does not.
pub const WINDOW_WAIT: Duration = Duration::from_secs(15);

/// The longest the consistent point waits for writes in flight to finish.
pub const PAUSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Every write the server takes passes this gate. A backup closes it for the instant of
/// its consistent point (writes wait); a restore closes it for its whole run (writes are
/// refused with [`Error::Maintenance`]).
#[derive(Default)]
pub struct WriteGate {
    lock: Arc<RwLock<()>>,
    maintenance: AtomicBool,
    replacing: AtomicBool,
}

/// Held by a write for its whole run.
pub type WritePass = OwnedRwLockReadGuard<()>;

impl WriteGate {
    /// Lets a write in, after any pause under way; refuses it during maintenance.
    pub async fn admit(&self) -> Result<WritePass> {
        if self.in_maintenance() {
            return Err(Error::Maintenance);
        }
        let pass = self.lock.clone().read_owned().await;
        if self.in_maintenance() {
            return Err(Error::Maintenance);
        }
        Ok(pass)
    }

    pub fn in_maintenance(&self) -> bool {
        self.maintenance.load(Ordering::SeqCst)
    }

    /// True while a restore replaces the stores' contents and the caches that copy them:
    /// a read then could see a store half loaded (a product missing that exists both
    /// before and after), so reads are refused too, as [`Error::Maintenance`].
    pub fn replacing(&self) -> bool {
        self.replacing.load(Ordering::SeqCst)
    }

    /// Refuses reads until the returned guard is dropped (see [`Self::replacing`]).
    fn replace(self: &Arc<Self>) -> Replacing {
        self.replacing.store(true, Ordering::SeqCst);
        Replacing(self.clone())
    }

    /// Waits for the writes in flight to finish and holds new ones back until the guard
    /// is dropped.
    async fn pause(&self) -> Result<tokio::sync::OwnedRwLockWriteGuard<()>> {
        tokio::time::timeout(PAUSE_TIMEOUT, self.lock.clone().write_owned())
            .await
            .map_err(|_| {
                Error::Unavailable(format!(
                    "writes in flight did not finish within {} s",
                    PAUSE_TIMEOUT.as_secs()
                ))
            })
    }

    /// Refuses new writes and waits for those in flight; maintenance lasts until the
    /// returned guard is dropped.
    async fn maintenance(self: &Arc<Self>) -> Result<Maintenance> {
        self.maintenance.store(true, Ordering::SeqCst);
        let guard = Maintenance(self.clone());
        drop(self.pause().await?);
        Ok(guard)
    }
}

struct Maintenance(Arc<WriteGate>);

struct Replacing(Arc<WriteGate>);

impl Drop for Replacing {
    fn drop(&mut self) {
        self.0.replacing.store(false, Ordering::SeqCst);
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.0.maintenance.store(false, Ordering::SeqCst);
    }
}

/// Told when a restore has put the stores back, before the server leaves maintenance:
/// whatever holds a copy of the stores' contents (a cache, the search index) renews it.
#[async_trait]
pub trait RestoreListener: Send + Sync + 'static {
    async fn restored(&self) -> Result<()>;
}

/// What a job is asked to do.
#[derive(Debug, Clone)]
pub enum JobRequest {
    /// Back every store up to one consistent point.
    Backup(BackupType),
    /// Restore every store to a backup's point.
    Restore(RestoreRequest),
    /// Recover every store to one moment.
    Pitr(Timestamp),
    /// Copy every store's data directory to one consistent point (ADR 0024).
    Snapshot,
}

/// A request once checked: what the job works from.
enum Plan {
    Backup(BackupType),
    Restore(Manifest),
    Pitr(Manifest, Timestamp),
    Snapshot,
}

/// The two jobs that copy every store to one consistent point, with writes paused only
/// for the point itself: a backup (each store's backup tool) and a snapshot (each store's
/// data directory).
#[derive(Clone, Copy)]
enum Copying {
    Backup(BackupType),
    Snapshot,
}

/// One store's part in a [`Copying`] job.
enum Part<'a> {
    Backup(&'a dyn StoreBackup, BackupType),
    Snapshot(&'a dyn StoreSnapshot),
}

impl Part<'_> {
    fn store(&self) -> &'static str {
        match self {
            Part::Backup(store, _) => store.store(),
            Part::Snapshot(store) => store.store(),
        }
    }

    async fn base(&self, dir: &std::path::Path) -> Result<()> {
        match self {
            Part::Backup(store, kind) => store.base(dir, *kind).await,
            Part::Snapshot(store) => store.begin(dir).await,
        }
    }

    async fn mark(&self, dir: &std::path::Path, label: &str) -> Result<crate::model::Mark> {
        match self {
            Part::Backup(store, _) => store.mark(label).await,
            Part::Snapshot(store) => store.point(dir, label).await,
        }
    }

    /// The tool and the bytes kept outside the job's directory.
    async fn seal(
        &self,
        dir: &std::path::Path,
        mark: &mut crate::model::Mark,
    ) -> Result<(String, u64)> {
        match self {
            Part::Backup(store, _) => store.seal(dir, mark).await,
            Part::Snapshot(store) => Ok((store.complete(dir, mark).await?, 0)),
        }
    }

    async fn abandon(&self) {
        match self {
            Part::Backup(store, _) => store.abandon().await,
            Part::Snapshot(store) => store.abandon().await,
        }
    }
}

/// How a restore may be asked for.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    /// The backup to restore; the latest successful one when `None`.
    pub backup_id: Option<JobId>,
    /// Restore even while sagas are in flight (they are settled afterwards).
    pub force: bool,
}

struct Inner {
    stores: Vec<Arc<dyn StoreBackup>>,
    snapshots: Vec<Arc<dyn StoreSnapshot>>,
    repository: Arc<dyn BackupRepository>,
    log: Arc<dyn JobLog>,
    gate: Arc<WriteGate>,
    ledger: Stores,
    listeners: Vec<Arc<dyn RestoreListener>>,
    running: Mutex<Option<JobId>>,
    progress: watch::Sender<Option<Job>>,
}

/// Starts and runs backup and restore jobs; see the module documentation.
#[derive(Clone)]
pub struct BackupService {
    inner: Arc<Inner>,
}

/// Frees the one-job slot when the job ends, however it ends.
struct Slot(Arc<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut running) = self.0.running.lock() {
            *running = None;
        }
    }
}

impl BackupService {
    pub fn new(
        stores: Vec<Arc<dyn StoreBackup>>,
        repository: Arc<dyn BackupRepository>,
        log: Arc<dyn JobLog>,
        gate: Arc<WriteGate>,
        ledger: Stores,
    ) -> Self {
        BackupService {
            inner: Arc::new(Inner {
                stores,
                snapshots: Vec::new(),
                repository,
                log,
                gate,
                ledger,
                listeners: Vec::new(),
                running: Mutex::new(None),
                progress: watch::channel(None).0,
            }),
        }
    }

    /// Adds a listener told after every restore. Only before the service is shared.
    pub fn with_listener(mut self, listener: Arc<dyn RestoreListener>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.listeners.push(listener);
        }
        self
    }

    /// Sets the stores a snapshot copies. Only before the service is shared; without them
    /// a snapshot is refused.
    pub fn with_snapshots(mut self, snapshots: Vec<Arc<dyn StoreSnapshot>>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.snapshots = snapshots;
        }
        self
    }

    pub fn gate(&self) -> &Arc<WriteGate> {
        &self.inner.gate
    }

    /// The job under way, each time it moves on (for progress bars).
    pub fn watch(&self) -> watch::Receiver<Option<Job>> {
        self.inner.progress.subscribe()
    }

    pub async fn job(&self, id: JobId) -> Result<Job> {
        self.inner.log.get(id).await?.ok_or(Error::NotFound("job"))
    }

    pub async fn jobs(&self, page: PageRequest) -> Result<Page<Job>> {
        self.inner.log.list(page).await
    }

    /// Starts a job, after the checks that change nothing (for a restore: the backup
    /// exists, is intact and no saga is in flight unless forced; for a recovery: the
    /// target lies in the window); the job runs on after this returns.
    pub async fn start(&self, actor: Option<String>, request: JobRequest) -> Result<Job> {
        let (job, slot, plan) = self.prepare(actor, request).await?;
        let (service, running) = (self.clone(), job.clone());
        tokio::spawn(async move {
            let _slot = slot;
            service.execute(running, plan).await
        });
        Ok(job)
    }

    /// Runs a job to its end (the CLI's way), after the same checks: the finished job.
    pub async fn run(&self, actor: Option<String>, request: JobRequest) -> Result<Job> {
        let (job, _slot, plan) = self.prepare(actor, request).await?;
        Ok(self.execute(job, plan).await)
    }

    /// Checks `request`, then claims the one-job slot and logs the job as running.
    async fn prepare(
        &self,
        actor: Option<String>,
        request: JobRequest,
    ) -> Result<(Job, Slot, Plan)> {
        self.not_busy()?;
        let (kind, asked, plan) = match request {
            JobRequest::Backup(kind) => {
                (JobKind::Backup, json!({ "type": kind }), Plan::Backup(kind))
            }
            JobRequest::Restore(restore) => {
                let manifest = self.restorable(&restore).await?;
                let asked = json!({ "backup_id": manifest.id, "force": restore.force });
                (JobKind::Restore, asked, Plan::Restore(manifest))
            }
            JobRequest::Pitr(to) => {
                let base = self.pitr_base(to).await?;
                let asked = json!({ "to": to, "backup_id": base.id });
                (JobKind::Pitr, asked, Plan::Pitr(base, to))
            }
            JobRequest::Snapshot => {
                self.snapshottable().await?;
                (JobKind::Snapshot, json!({}), Plan::Snapshot)
            }
        };
        let (job, slot) = self.claim(kind, actor, asked).await?;
        Ok((job, slot, plan))
    }

    async fn execute(&self, job: Job, plan: Plan) -> Job {
        match plan {
            Plan::Backup(kind) => self.run_copy(job, Copying::Backup(kind)).await,
            Plan::Snapshot => self.run_copy(job, Copying::Snapshot).await,
            Plan::Restore(manifest) => self.run_restore(job, manifest).await,
            Plan::Pitr(base, to) => self.run_pitr(job, base, to).await,
        }
    }

    /// Marks as failed every job the log says is running whose process on this host is
    /// gone (killed mid-job): otherwise it would say `running` forever, and nobody would
    /// check the stores it was changing. Called when a server or the CLI starts; returns
    /// how many it settled.
    pub async fn settle_interrupted(&self) -> Result<usize> {
        let mut settled = 0;
        let mut offset = 0;
        loop {
            let page = self
                .inner
                .log
                .list(PageRequest { limit: 500, offset })
                .await?;
            for mut job in page.items.iter().filter(|j| j.interrupted()).cloned() {
                tracing::warn!(job = %job.id, kind = ?job.kind, runner = ?job.runner, step = ?job.step,
                    "a job was interrupted: its process is gone");
                let step = job.step.clone().unwrap_or_default();
                job.finish(Some(format!(
                    "interrupted: the process running it ({}) stopped during \"{step}\"; \
                     check the stores (emporium reconcile) and run the job again",
                    job.runner.as_deref().unwrap_or("?")
                )));
                self.inner.log.save(&job).await?;
                settled += 1;
            }
            if page.items.len() < 500 {
                return Ok(settled);
            }
            offset += 500;
        }
    }

    /// Copies each store's log into the archive, from the oldest backup on; the server
    /// calls it every few seconds. Nothing to do before the first backup.
    pub async fn archive_logs(&self) -> Result<()> {
        let manifests = self.inner.repository.manifests().await?;
        let Some(oldest) = manifests.first() else {
            return Ok(());
        };
        for store in &self.inner.stores {
            let Some(part) = oldest.stores.get(store.store()) else {
                continue;
            };
            let archive = self.inner.repository.archive_dir(store.store()).await?;
            store.archive(&archive, &part.position).await?;
        }
        Ok(())
    }

    /// The backup to start a recovery to `to` from: the newest one at or before `to`
    /// among those taken since the last restore (a recovery never crosses one).
    async fn pitr_base(&self, to: Timestamp) -> Result<Manifest> {
        let outside = |message: String, from, until| Error::OutsideWindow {
            message,
            from,
            to: until,
        };
        let last_restore = self.last_restore().await?;
        let manifests: Vec<Manifest> = self
            .inner
            .repository
            .manifests()
            .await?
            .into_iter()
            .filter(|m| last_restore.is_none_or(|at| m.point > at))
            // A backup taken before a store was configured cannot bring that store back.
            .filter(|m| {
                self.inner
                    .stores
                    .iter()
                    .all(|store| m.stores.contains_key(store.store()))
            })
            .collect();
        let from = manifests.first().map(|m| m.point);
        if to > crate::model::now() {
            return Err(outside(
                format!("{to} is in the future"),
                from,
                Some(crate::model::now()),
            ));
        }
        let Some(from) = from else {
            return Err(outside(
                "no backup to recover from (since the last restore): take one first".into(),
                None,
                None,
            ));
        };
        // Every log is archived up to this moment (the window's end at most), then each
        // store says until when it can recover.
        let mut until = crate::model::now();
        let behind = |e| {
            Error::Unavailable(format!(
                "the stores' logs are not archived up to now within {} s ({e}): check archiving, then ask again",
                WINDOW_WAIT.as_secs()
            ))
        };
        tokio::time::timeout(WINDOW_WAIT, self.archive_logs())
            .await
            .map_err(behind)??;
        for store in &self.inner.stores {
            let archive = self.inner.repository.archive_dir(store.store()).await?;
            let recoverable = tokio::time::timeout(WINDOW_WAIT, store.recoverable_until(&archive))
                .await
                .map_err(behind)??;
            match recoverable {
                Some(at) => until = until.min(at),
                None => {
                    return Err(outside(
                        format!(
                            "{} keeps no log: it can go back to whole backups only (POST /api/admin/restore)",
                            store.store()
                        ),
                        None,
                        None,
                    ))
                }
            }
        }
        if to < from || to > until {
            return Err(outside(
                format!("{to} is outside the recoverable window"),
                Some(from),
                Some(until),
            ));
        }
        let base = manifests
            .into_iter()
            .rev()
            .find(|m| m.point <= to)
            .ok_or_else(|| Error::Internal("no backup at or before the target".into()))?;
        for store in &self.inner.stores {
            let archive = self.inner.repository.archive_dir(store.store()).await?;
            store
                .reaches(&archive, &base.stores[store.store()].position, to)
                .await?;
        }
        let damaged = self.inner.repository.damaged(&base).await?;
        if !damaged.is_empty() {
            return Err(Error::invalid(
                "to",
                format!(
                    "backup {} is damaged: {} do not match the manifest's checksums",
                    base.id,
                    damaged.join(", ")
                ),
            ));
        }
        Ok(base)
    }

    /// When the last restore or recovery started, whatever its outcome: one that failed
    /// half way may have changed the stores as much as one that succeeded.
    async fn last_restore(&self) -> Result<Option<Timestamp>> {
        let mut offset = 0;
        loop {
            let page = self
                .inner
                .log
                .list(PageRequest { limit: 500, offset })
                .await?;
            if let Some(job) = page
                .items
                .iter()
                .find(|j| matches!(j.kind, JobKind::Restore | JobKind::Pitr))
            {
                return Ok(Some(job.started_at));
            }
            if page.items.len() < 500 {
                return Ok(None);
            }
            offset += 500;
        }
    }

    /// A job is running: [`Error::JobRunning`] (checked again, atomically, by `claim`).
    fn not_busy(&self) -> Result<()> {
        match *self
            .inner
            .running
            .lock()
            .map_err(|_| Error::Internal("job slot poisoned".into()))?
        {
            Some(job_id) => Err(Error::JobRunning { job_id }),
            None => Ok(()),
        }
    }

    async fn claim(
        &self,
        kind: JobKind,
        actor: Option<String>,
        request: Value,
    ) -> Result<(Job, Slot)> {
        let job = Job::start(kind, actor, request);
        {
            let mut running = self
                .inner
                .running
                .lock()
                .map_err(|_| Error::Internal("job slot poisoned".into()))?;
            if let Some(job_id) = *running {
                return Err(Error::JobRunning { job_id });
            }
            *running = Some(job.id);
        }
        let slot = Slot(self.inner.clone());
        self.inner.log.save(&job).await?;
        Ok((job, slot))
    }

    /// Every store can be snapshotted here (its data directory is on this host).
    async fn snapshottable(&self) -> Result<()> {
        if self.inner.snapshots.is_empty() {
            return Err(Error::Conflict(
                "snapshots are not configured on this server".into(),
            ));
        }
        for store in &self.inner.snapshots {
            store.ready().await?;
        }
        Ok(())
    }

    async fn restorable(&self, request: &RestoreRequest) -> Result<Manifest> {
        let repository = &self.inner.repository;
        let manifest = match request.backup_id {
            Some(id) => repository
                .manifest(id)
                .await?
                .ok_or(Error::NotFound("backup"))?,
            None => repository
                .latest()
                .await?
                .ok_or(Error::NotFound("backup"))?,
        };
        for store in &self.inner.stores {
            if !manifest.stores.contains_key(store.store()) {
                return Err(Error::invalid(
                    "backup_id",
                    format!("backup {} holds no copy of {}", manifest.id, store.store()),
                ));
            }
        }
        let damaged = repository.damaged(&manifest).await?;
        if !damaged.is_empty() {
            return Err(Error::invalid(
                "backup_id",
                format!(
                    "backup {} is damaged: {} do not match the manifest's checksums",
                    manifest.id,
                    damaged.join(", ")
                ),
            ));
        }
        if !request.force {
            for state in [SagaState::Running, SagaState::Compensating] {
                if let Some(saga) = self.inner.ledger.saga_log.in_state(state, 1).await?.first() {
                    return Err(Error::Conflict(format!(
                        "saga {} is in flight; wait for it, or pass force (it is settled after the restore)",
                        saga.id
                    )));
                }
            }
        }
        Ok(manifest)
    }

    /// Saves the job and tells watchers; a failure to save is logged, not fatal (the job
    /// goes on, and its end is saved again).
    async fn update(&self, job: &Job) {
        if let Err(e) = self.inner.log.save(job).await {
            tracing::error!(job = %job.id, error = %e, "could not write the backup log");
        }
        self.inner.progress.send_replace(Some(job.clone()));
    }

    async fn step(&self, job: &mut Job, step: String) {
        tracing::info!(job = %job.id, kind = ?job.kind, step, "job step");
        job.step = Some(step);
        self.update(job).await;
    }

    async fn finish(&self, mut job: Job, outcome: Result<()>) -> Job {
        let error = outcome.err().map(|e| e.to_string());
        match &error {
            None => tracing::info!(job = %job.id, kind = ?job.kind, "job succeeded"),
            Some(error) => tracing::error!(job = %job.id, kind = ?job.kind, error, "job failed"),
        }
        job.finish(error);
        self.update(&job).await;
        job
    }

    fn parts(&self, copying: Copying) -> Vec<Part<'_>> {
        match copying {
            Copying::Backup(kind) => self
                .inner
                .stores
                .iter()
                .map(|s| Part::Backup(s.as_ref(), kind))
                .collect(),
            Copying::Snapshot => self
                .inner
                .snapshots
                .iter()
                .map(|s| Part::Snapshot(s.as_ref()))
                .collect(),
        }
    }

    #[tracing::instrument(name = "copy", skip(self, job, copying), fields(job = %job.id, kind = ?job.kind))]
    async fn run_copy(&self, mut job: Job, copying: Copying) -> Job {
        let outcome = self.copy_steps(&mut job, copying).await;
        if outcome.is_err() {
            for part in self.parts(copying) {
                part.abandon().await;
            }
        }
        self.finish(job, outcome).await
    }

    /// A backup or a snapshot: every store's slow part with writes flowing, then every
    /// store's mark with writes paused (the consistent point), then every store's seal.
    async fn copy_steps(&self, job: &mut Job, copying: Copying) -> Result<()> {
        let inner = &self.inner;
        let parts = self.parts(copying);
        let count = parts.len();
        let what = match copying {
            Copying::Backup(_) => "base copy",
            Copying::Snapshot => "copying the data directory",
        };
        let mut dirs = Vec::with_capacity(count);
        for (i, part) in parts.iter().enumerate() {
            self.step(
                job,
                format!("{}/{}: {what} of {}", i + 1, count * 2 + 1, part.store()),
            )
            .await;
            let dir = match copying {
                Copying::Backup(_) => inner.repository.store_dir(job.id, part.store()).await?,
                Copying::Snapshot => inner.repository.snapshot_dir(job.id, part.store()).await?,
            };
            part.base(&dir).await?;
            dirs.push(dir);
        }
        self.step(
            job,
            format!("{}/{}: consistent point", count + 1, count * 2 + 1),
        )
        .await;
        let label = format!("emporium-{}", job.id);
        let waited = std::time::Instant::now();
        let (marks, point, paused_for) = {
            let _paused = inner.gate.pause().await?;
            let paused = std::time::Instant::now();
            let mut marks = Vec::with_capacity(count);
            for (part, dir) in parts.iter().zip(&dirs) {
                marks.push(part.mark(dir, &label).await?);
            }
            (marks, crate::model::now(), paused.elapsed())
        };
        // How long writes were held: waiting for those in flight, then the marks.
        job.verification = Some(json!({
            "pause": {
                "waiting_for_writes_ms": (waited.elapsed() - paused_for).as_secs_f64() * 1000.0,
                "marks_ms": paused_for.as_secs_f64() * 1000.0,
            }
        }));
        let mut stores = BTreeMap::new();
        for (i, (part, (dir, mut mark))) in parts.iter().zip(dirs.iter().zip(marks)).enumerate() {
            self.step(
                job,
                format!(
                    "{}/{}: sealing {}",
                    count + 2 + i,
                    count * 2 + 1,
                    part.store()
                ),
            )
            .await;
            let (tool, external) = part.seal(dir, &mut mark).await?;
            let files = match copying {
                Copying::Backup(_) => inner.repository.files(job.id, part.store()).await?,
                Copying::Snapshot => {
                    inner
                        .repository
                        .snapshot_files(job.id, part.store())
                        .await?
                }
            };
            let size_bytes = files.iter().map(|f| f.size).sum::<u64>() + external;
            job.positions
                .insert(part.store().to_owned(), mark.position.clone());
            stores.insert(
                part.store().to_owned(),
                StoreManifest {
                    position: mark.position,
                    counts: mark.counts,
                    files,
                    size_bytes,
                    tool,
                },
            );
        }
        let manifest = Manifest {
            id: job.id,
            backup_type: match copying {
                Copying::Backup(kind) => kind,
                Copying::Snapshot => BackupType::Full,
            },
            started_at: job.started_at,
            point,
            duration_ms: (crate::model::now() - job.started_at)
                .num_milliseconds()
                .max(0) as u64,
            stores,
        };
        job.size_bytes = Some(manifest.size_bytes());
        match copying {
            Copying::Backup(_) => inner.repository.save_manifest(&manifest).await,
            Copying::Snapshot => inner.repository.save_snapshot_manifest(&manifest).await,
        }
    }

    #[tracing::instrument(name = "pitr", skip(self, job, base), fields(job = %job.id, backup = %base.id, %to))]
    async fn run_pitr(&self, mut job: Job, base: Manifest, to: Timestamp) -> Job {
        let outcome = self.pitr_steps(&mut job, &base, to).await;
        self.finish(job, outcome).await
    }

    async fn pitr_steps(&self, job: &mut Job, base: &Manifest, to: Timestamp) -> Result<()> {
        let inner = &self.inner;
        let total = inner.stores.len() + 3;
        self.step(
            job,
            format!("1/{total}: maintenance, waiting for writes in flight"),
        )
        .await;
        let _maintenance = inner.gate.maintenance().await?;
        let mut before = BTreeMap::new();
        for store in &inner.stores {
            before.insert(store.store(), store.counts().await?);
        }
        job.positions = base.positions();
        let replacing = inner.gate.replace();
        for (i, store) in inner.stores.iter().enumerate() {
            self.step(
                job,
                format!("{}/{total}: recovering {} to {to}", i + 2, store.store()),
            )
            .await;
            let dir = inner.repository.store_dir(base.id, store.store()).await?;
            let archive = inner.repository.archive_dir(store.store()).await?;
            store
                .restore_to(&dir, &base.stores[store.store()], &archive, to)
                .await?;
            job.positions.insert(
                store.store().to_owned(),
                json!({ "recovered_to": to, "from_backup": base.stores[store.store()].position }),
            );
        }
        self.step(job, format!("{}/{total}: verifying", total - 1))
            .await;
        let mut counts = serde_json::Map::new();
        for store in &inner.stores {
            let after = store.counts().await?;
            let lost: BTreeMap<&String, i64> = before[store.store()]
                .iter()
                .map(|(name, n)| {
                    (
                        name,
                        *n as i64 - after.get(name).copied().unwrap_or(0) as i64,
                    )
                })
                .collect();
            counts.insert(
                store.store().to_owned(),
                json!({ "before": before[store.store()], "after": after, "rolled_back": lost }),
            );
        }
        let settled = self.settle(job, replacing, total).await?;
        let rto_ms = (crate::model::now() - job.started_at)
            .num_milliseconds()
            .max(0);
        job.verification = Some(json!({
            "checksums": "ok",
            "rpo": {
                "target": to,
                "rolled_back_ms": (job.started_at - to).num_milliseconds(),
                "counts": counts,
            },
            "rto_ms": rto_ms,
            "recovery": settled.recovery,
            "reconcile": settled.reconcile,
        }));
        if !settled.clean {
            return Err(Error::Internal(
                "recovered, but reconcile reports problems (see verification)".into(),
            ));
        }
        Ok(())
    }

    #[tracing::instrument(name = "restore", skip(self, job, manifest), fields(job = %job.id, backup = %manifest.id))]
    async fn run_restore(&self, mut job: Job, manifest: Manifest) -> Job {
        let outcome = self.restore_steps(&mut job, &manifest).await;
        self.finish(job, outcome).await
    }

    async fn restore_steps(&self, job: &mut Job, manifest: &Manifest) -> Result<()> {
        let inner = &self.inner;
        let total = inner.stores.len() + 3;
        self.step(
            job,
            format!("1/{total}: maintenance, waiting for writes in flight"),
        )
        .await;
        let _maintenance = inner.gate.maintenance().await?;
        job.positions = manifest.positions();
        job.size_bytes = Some(manifest.size_bytes());
        let replacing = inner.gate.replace();
        for (i, store) in inner.stores.iter().enumerate() {
            self.step(
                job,
                format!("{}/{total}: restoring {}", i + 2, store.store()),
            )
            .await;
            let dir = inner
                .repository
                .store_dir(manifest.id, store.store())
                .await?;
            let part = &manifest.stores[store.store()];
            store.restore(&dir, part).await?;
        }
        self.step(job, format!("{}/{total}: verifying", total - 1))
            .await;
        let mut counts = serde_json::Map::new();
        let mut mismatches = Vec::new();
        for store in &inner.stores {
            let expected = &manifest.stores[store.store()].counts;
            let found = store.counts().await?;
            for (name, want) in expected {
                let got = found.get(name).copied().unwrap_or(0);
                if got != *want {
                    mismatches.push(format!(
                        "{}.{name}: {got} found, {want} expected",
                        store.store()
                    ));
                }
            }
            counts.insert(
                store.store().to_owned(),
                json!({ "expected": expected, "found": found }),
            );
        }
        let settled = self.settle(job, replacing, total).await?;
        job.verification = Some(json!({
            "checksums": "ok",
            "counts": counts,
            "counts_match": mismatches.is_empty(),
            "recovery": settled.recovery,
            "reconcile": settled.reconcile,
        }));
        if !mismatches.is_empty() {
            return Err(Error::Internal(format!(
                "restored, but the counts differ from the manifest: {}",
                mismatches.join("; ")
            )));
        }
        if !settled.clean {
            return Err(Error::Internal(
                "restored, but reconcile reports problems (see verification)".into(),
            ));
        }
        Ok(())
    }

    /// The tail every restore and recovery shares, once the stores hold what they were
    /// put back to: whatever keeps a copy of them renews it, reads are let in again, the
    /// sagas the point cut in half are settled (as after a crash: no saga of this process
    /// runs across a restore) and reconcile checks the result.
    async fn settle(&self, job: &mut Job, replacing: Replacing, total: usize) -> Result<Settled> {
        let inner = &self.inner;
        for listener in &inner.listeners {
            listener.restored().await?;
        }
        drop(replacing);
        self.step(job, format!("{total}/{total}: settling sagas, reconciling"))
            .await;
        let recovery = RecoveryService::new(inner.ledger.clone())
            .recover(Duration::ZERO)
            .await?;
        let reconcile = ReconciliationService::new(inner.ledger.clone())
            .check()
            .await?;
        let clean = reconcile.is_clean();
        Ok(Settled {
            recovery: serde_json::to_value(&recovery).unwrap_or(Value::Null),
            reconcile: json!({
                "clean": clean,
                "summary": serde_json::to_value(reconcile.summary).unwrap_or(Value::Null),
            }),
            clean,
        })
    }
}

/// What [`BackupService::settle`] found, for the job's verification.
struct Settled {
    recovery: Value,
    reconcile: Value,
    clean: bool,
}
