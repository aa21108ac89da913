//! MongoDB's side of backups: a logical export as `mongodump --oplog` writes it (ADR 0015).
//!
//! * **Base copy**: the newest optime `T0` is read from `local.oplog.rs`, then every
//!   collection of the catalog's database is exported: `<collection>.bson` (the documents,
//!   back to back, as mongodump writes them) and `<collection>.metadata.json` (its options,
//!   validator included, and its indexes). Writes go on meanwhile, so the export is fuzzy.
//! * **Consistent point**: the newest optime `T1`, read with the server's writes paused,
//!   and the documents per collection.
//! * **Seal**: the oplog entries of this database in `(T0, T1]` go into `oplog.bson`.
//! * **Restore**: each collection is emptied (never dropped: that would invalidate the
//!   feed's change stream) and given its exported options, or created, filled from the
//!   export, and the oplog slice is replayed over it. Replaying is idempotent (inserts
//!   as upserts, updates as `$set`/`$unset`, deletes by id), so the fuzzy export plus the
//!   slice is exactly the database at `T1`. Indexes are built last.

use async_trait::async_trait;
use emporium_domain::model::{BackupType, Mark, StoreManifest, Timestamp as At};
use emporium_domain::ports::StoreBackup;
use emporium_domain::{Error, Result};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document, RawDocumentBuf, Timestamp};
use mongodb::Database;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use tokio::io::AsyncWriteExt;

/// The file holding the oplog slice from the export's start to the consistent point.
pub const OPLOG_FILE: &str = "oplog.bson";
/// Where the oplog archive stopped, in the archive folder.
const ARCHIVE_STATE: &str = "last.json";
/// Documents per insert while restoring.
const RESTORE_BATCH: usize = 1000;

/// Backs the catalog's database up.
pub struct MongoBackup {
    db: Database,
    /// The optime the current export started at.
    start: Mutex<Option<Timestamp>>,
    /// One archiving pass at a time (the server's loop and a PITR may overlap).
    archiving: tokio::sync::Mutex<()>,
}

fn driver(e: mongodb::error::Error) -> Error {
    crate::error::from_driver(e)
}

fn io(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Unavailable(format!("backup storage: {what} {}: {e}", path.display()))
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::Internal(format!("mongodb backup: {what}"))
}

impl MongoBackup {
    pub fn new(db: Database) -> Self {
        MongoBackup {
            db,
            start: Mutex::new(None),
            archiving: tokio::sync::Mutex::new(()),
        }
    }

    fn oplog(&self) -> mongodb::Collection<Document> {
        self.db.client().database("local").collection("oplog.rs")
    }

    /// The newest entry's optime.
    pub(crate) async fn last_optime(&self) -> Result<Timestamp> {
        let newest = self
            .oplog()
            .find_one(doc! {})
            .sort(doc! {"$natural": -1})
            .await
            .map_err(driver)?
            .ok_or_else(|| bad("the oplog is empty: is the server a replica set member?"))?;
        newest.get_timestamp("ts").map_err(bad)
    }

    /// Every collection of the database (not `system.*`), with its `listCollections` entry.
    async fn collections(&self) -> Result<Vec<Document>> {
        let reply = self
            .db
            .run_command(doc! {"listCollections": 1, "filter": {"type": "collection"}})
            .await
            .map_err(driver)?;
        let batch = reply
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .map_err(bad)?;
        Ok(batch
            .iter()
            .filter_map(|c| c.as_document().cloned())
            .filter(|c| c.get_str("name").is_ok_and(|n| !n.starts_with("system.")))
            .collect())
    }

    pub(crate) async fn counts_now(&self) -> Result<BTreeMap<String, u64>> {
        let mut counts = BTreeMap::new();
        for spec in self.collections().await? {
            let name = spec.get_str("name").map_err(bad)?;
            let n = self
                .db
                .collection::<Document>(name)
                .count_documents(doc! {})
                .await
                .map_err(driver)?;
            counts.insert(name.to_owned(), n);
        }
        Ok(counts)
    }

    /// Writes `name`'s documents to `<name>.bson` and its options and indexes to
    /// `<name>.metadata.json`.
    async fn export(&self, dir: &Path, spec: &Document) -> Result<()> {
        let name = spec.get_str("name").map_err(bad)?;
        let indexes: Vec<Document> = self
            .db
            .run_command(doc! {"listIndexes": name})
            .await
            .map_err(driver)?
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .map_err(bad)?
            .iter()
            .filter_map(|i| i.as_document().cloned())
            .collect();
        let metadata = doc! {
            "options": spec.get_document("options").cloned().unwrap_or_default(),
            "indexes": indexes,
        };
        let meta_path = dir.join(format!("{name}.metadata.json"));
        let meta_json = serde_json::to_vec_pretty(&Bson::Document(metadata).into_relaxed_extjson())
            .map_err(bad)?;
        tokio::fs::write(&meta_path, meta_json)
            .await
            .map_err(|e| io("writing", &meta_path, e))?;

        let path = dir.join(format!("{name}.bson"));
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io("creating", &path, e))?;
        let mut out = tokio::io::BufWriter::new(file);
        let mut cursor = self
            .db
            .collection::<RawDocumentBuf>(name)
            .find(doc! {})
            .await
            .map_err(driver)?;
        while let Some(document) = cursor.try_next().await.map_err(driver)? {
            out.write_all(document.as_bytes())
                .await
                .map_err(|e| io("writing", &path, e))?;
        }
        out.flush().await.map_err(|e| io("writing", &path, e))
    }

    /// Empties `name` (or creates it) with the exported options, and loads its documents.
    async fn load(&self, dir: &Path, name: &str) -> Result<Vec<Document>> {
        let meta_path = dir.join(format!("{name}.metadata.json"));
        let meta: serde_json::Value = serde_json::from_slice(
            &tokio::fs::read(&meta_path)
                .await
                .map_err(|e| io("reading", &meta_path, e))?,
        )
        .map_err(bad)?;
        let meta = match Bson::try_from(meta).map_err(bad)? {
            Bson::Document(d) => d,
            _ => return Err(bad("metadata is not a document")),
        };
        let collection = self.db.collection::<RawDocumentBuf>(name);
        let options = meta.get_document("options").cloned().unwrap_or_default();
        let exists = !self
            .db
            .list_collection_names()
            .filter(doc! {"name": name})
            .await
            .map_err(driver)?
            .is_empty();
        if exists {
            // Emptied, not dropped: a drop invalidates the change streams that follow the
            // collection (the feed's, among them), and a follower resuming after the drop
            // meets the invalidation again. Deletes reach the feed as deletions instead.
            collection.delete_many(doc! {}).await.map_err(driver)?;
            collection.drop_indexes().await.map_err(driver)?;
            let mut modify = doc! {"collMod": name};
            for key in ["validator", "validationLevel", "validationAction"] {
                if let Some(value) = options.get(key) {
                    modify.insert(key, value.clone());
                }
            }
            if modify.len() > 1 {
                self.db.run_command(modify).await.map_err(driver)?;
            }
        } else {
            let mut create = doc! {"create": name};
            create.extend(options);
            self.db.run_command(create).await.map_err(driver)?;
        }
        let path = dir.join(format!("{name}.bson"));
        let mut batch = Vec::with_capacity(RESTORE_BATCH);
        for document in read_documents(&path).await? {
            batch.push(document);
            if batch.len() == RESTORE_BATCH {
                collection
                    .insert_many(std::mem::take(&mut batch))
                    .await
                    .map_err(driver)?;
            }
        }
        if !batch.is_empty() {
            collection.insert_many(batch).await.map_err(driver)?;
        }
        Ok(meta
            .get_array("indexes")
            .map(|all| {
                all.iter()
                    .filter_map(|i| i.as_document().cloned())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Applies one oplog entry of this database.
    async fn replay(&self, entry: &Document) -> Result<()> {
        let op = entry.get_str("op").map_err(bad)?;
        let ns = entry.get_str("ns").map_err(bad)?;
        let Some((_, name)) = ns.split_once('.') else {
            return Ok(());
        };
        let collection = self.db.collection::<Document>(name);
        let o = entry.get_document("o").map_err(bad)?;
        match op {
            "i" => {
                let id = o
                    .get("_id")
                    .cloned()
                    .ok_or_else(|| bad("an insert without _id"))?;
                collection
                    .replace_one(doc! {"_id": id}, o.clone())
                    .upsert(true)
                    .await
                    .map_err(driver)?;
            }
            "u" => {
                let target = entry.get_document("o2").map_err(bad)?.clone();
                if o.contains_key("$v") || o.keys().any(|k| k.starts_with('$')) {
                    let update = update_of(o)?;
                    if !update.is_empty() {
                        collection
                            .update_one(target, update)
                            .await
                            .map_err(driver)?;
                    }
                } else {
                    collection
                        .replace_one(target, o.clone())
                        .await
                        .map_err(driver)?;
                }
            }
            "d" => {
                collection.delete_one(o.clone()).await.map_err(driver)?;
            }
            "c" => self.replay_command(o).await?,
            // No-ops.
            _ => {}
        }
        Ok(())
    }

    /// Applies a command entry (`ns` is `<db>.$cmd`). A dropped collection is emptied,
    /// never dropped (a drop would invalidate the feed's change stream); indexes and
    /// options come from the export, so index commands need nothing here.
    async fn replay_command(&self, o: &Document) -> Result<()> {
        if let Ok(name) = o.get_str("create") {
            match self.db.create_collection(name).await {
                Ok(()) => {}
                // NamespaceExists: the export made it already.
                Err(e) if matches!(*e.kind, mongodb::error::ErrorKind::Command(ref c) if c.code == 48) =>
                    {}
                Err(e) => return Err(driver(e)),
            }
        } else if let Ok(name) = o.get_str("drop") {
            self.db
                .collection::<Document>(name)
                .delete_many(doc! {})
                .await
                .map_err(driver)?;
        } else if o.contains_key("dropDatabase") {
            for spec in self.collections().await? {
                let name = spec.get_str("name").map_err(bad)?;
                self.db
                    .collection::<Document>(name)
                    .delete_many(doc! {})
                    .await
                    .map_err(driver)?;
            }
        } else if !o.contains_key("createIndexes") && !o.contains_key("dropIndexes") {
            tracing::warn!(command = ?o.keys().next(), "an oplog command that recovery does not replay");
        }
        Ok(())
    }
}

/// The operations an oplog entry stands for: itself, or, for a transaction (MongoDB logs
/// one `c` entry in `admin.$cmd` whose `o.applyOps` lists the transaction's operations),
/// each operation, stamped with the transaction's optime. Nested `applyOps` are opened
/// too.
fn flattened(entry: Document) -> Vec<Document> {
    let ops = match (entry.get_str("op"), entry.get_document("o")) {
        (Ok("c"), Ok(o)) => o.get_array("applyOps").ok().cloned(),
        _ => None,
    };
    let Some(ops) = ops else {
        return vec![entry];
    };
    let ts = entry.get("ts").cloned();
    ops.into_iter()
        .filter_map(|op| match op {
            Bson::Document(mut op) => {
                if let Some(ts) = &ts {
                    op.insert("ts", ts.clone());
                }
                Some(op)
            }
            _ => None,
        })
        .flat_map(flattened)
        .collect()
}

/// Documents per exported collection at the consistent point: the export's `_id`s, with
/// the oplog slice's inserts added and its deletes taken away (updates change no count).
async fn counts_at_the_point(dir: &Path, prefix: &str) -> Result<BTreeMap<String, u64>> {
    let mut ids: BTreeMap<String, std::collections::HashSet<String>> = BTreeMap::new();
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(|e| io("listing", dir, e))?;
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| io("listing", dir, e))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(collection) = name.strip_suffix(".bson") else {
            continue;
        };
        if name == OPLOG_FILE {
            continue;
        }
        let mut set = std::collections::HashSet::new();
        for document in read_documents(&entry.path()).await? {
            let id = document
                .get("_id")
                .map_err(bad)?
                .ok_or_else(|| bad("a document without _id"))?;
            set.insert(format!(
                "{:?}",
                Bson::try_from(id.to_raw_bson()).map_err(bad)?
            ));
        }
        ids.insert(collection.to_owned(), set);
    }
    let path = dir.join(OPLOG_FILE);
    for raw in read_documents(&path).await? {
        let entry = raw.to_document().map_err(bad)?;
        let (Ok(op), Ok(ns)) = (entry.get_str("op"), entry.get_str("ns")) else {
            continue;
        };
        if op == "c" {
            let o = entry.get_document("o").map_err(bad)?;
            if let Ok(name) = o.get_str("create") {
                ids.entry(name.to_owned()).or_default();
            } else if let Ok(name) = o.get_str("drop") {
                ids.entry(name.to_owned()).or_default().clear();
            } else if o.contains_key("dropDatabase") {
                ids.values_mut().for_each(std::collections::HashSet::clear);
            }
            continue;
        }
        let Some(set) = ns.strip_prefix(prefix).and_then(|c| ids.get_mut(c)) else {
            continue;
        };
        let Some(id) = entry.get_document("o").ok().and_then(|o| o.get("_id")) else {
            continue;
        };
        let id = format!("{id:?}");
        match op {
            "i" => {
                set.insert(id);
            }
            "d" => {
                set.remove(&id);
            }
            _ => {}
        }
    }
    Ok(ids
        .into_iter()
        .map(|(c, set)| (c, set.len() as u64))
        .collect())
}

/// The documents of the mongodump-layout `.bson` file at `path`.
async fn read_documents(path: &Path) -> Result<Vec<RawDocumentBuf>> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| io("reading", path, e))?;
    split_documents(&bytes)
}

/// The documents of a mongodump `.bson` file.
fn split_documents(bytes: &[u8]) -> Result<Vec<RawDocumentBuf>> {
    let mut documents = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = bytes
            .get(at..at + 4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("a truncated document"))?;
        let end = at + len;
        let raw = bytes
            .get(at..end)
            .ok_or_else(|| bad("a truncated document"))?;
        documents.push(RawDocumentBuf::from_bytes(raw.to_vec()).map_err(bad)?);
        at = end;
    }
    Ok(documents)
}

/// The update an oplog `u` entry with an update description stands for: `$v: 2` diffs
/// (MongoDB's `u`/`i`/`d`/`s<field>` form, and the `updatedFields`/`removedFields` form),
/// or classic `$set`/`$unset` operators.
fn update_of(o: &Document) -> Result<Document> {
    let mut set = Document::new();
    let mut unset = Document::new();
    match o.get_document("diff") {
        Ok(diff) => diff_into(diff, "", &mut set, &mut unset)?,
        Err(_) => {
            for (op, fields) in o {
                match (op.as_str(), fields) {
                    ("$set", Bson::Document(f)) => set.extend(f.clone()),
                    ("$unset", Bson::Document(f)) => unset.extend(f.clone()),
                    ("$v", _) => {}
                    (other, _) => {
                        return Err(bad(format!("cannot replay update operator {other}")))
                    }
                }
            }
        }
    }
    let mut update = Document::new();
    if !set.is_empty() {
        update.insert("$set", set);
    }
    if !unset.is_empty() {
        update.insert("$unset", unset);
    }
    Ok(update)
}

fn diff_into(
    diff: &Document,
    prefix: &str,
    set: &mut Document,
    unset: &mut Document,
) -> Result<()> {
    for (key, value) in diff {
        match (key.as_str(), value) {
            ("updatedFields" | "u" | "i", Bson::Document(fields)) => {
                for (field, v) in fields {
                    set.insert(format!("{prefix}{field}"), v.clone());
                }
            }
            ("removedFields", Bson::Array(fields)) => {
                for field in fields.iter().filter_map(Bson::as_str) {
                    unset.insert(format!("{prefix}{field}"), "");
                }
            }
            ("d", Bson::Document(fields)) => {
                for (field, _) in fields {
                    unset.insert(format!("{prefix}{field}"), "");
                }
            }
            ("truncatedArrays", Bson::Array(a)) if a.is_empty() => {}
            ("a", _) => return Err(bad("cannot replay an array diff")),
            (sub, Bson::Document(inner)) if sub.starts_with('s') => {
                diff_into(inner, &format!("{prefix}{}.", &sub[1..]), set, unset)?;
            }
            (other, _) => return Err(bad(format!("cannot replay diff field {other}"))),
        }
    }
    Ok(())
}

#[async_trait]
impl StoreBackup for MongoBackup {
    fn store(&self) -> &'static str {
        "mongodb"
    }

    #[tracing::instrument(name = "backup.mongodb.base", skip_all)]
    async fn base(&self, dir: &Path, _kind: BackupType) -> Result<()> {
        let start = self.last_optime().await?;
        *self.start.lock().map_err(|_| bad("poisoned"))? = Some(start);
        for spec in self.collections().await? {
            self.export(dir, &spec).await?;
        }
        Ok(())
    }

    /// Only the optime: the counts as of it come from the export and the oplog slice, in
    /// `seal`, after the writes are let go again.
    async fn mark(&self, _label: &str) -> Result<Mark> {
        let at = self.last_optime().await?;
        Ok(Mark {
            position: json!({
                "optime": {"t": at.time, "i": at.increment},
                "time": chrono::DateTime::from_timestamp(at.time as i64, 0),
                "database": self.db.name(),
            }),
            counts: BTreeMap::new(),
        })
    }

    #[tracing::instrument(name = "backup.mongodb.seal", skip_all)]
    async fn seal(&self, dir: &Path, mark: &mut Mark) -> Result<(String, u64)> {
        let start = self
            .start
            .lock()
            .map_err(|_| bad("poisoned"))?
            .take()
            .ok_or_else(|| bad("sealed without a base copy"))?;
        let end = optime_of(&mark.position)?;
        let path = dir.join(OPLOG_FILE);
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| io("creating", &path, e))?;
        let mut out = tokio::io::BufWriter::new(file);
        let prefix = format!("{}.", self.db.name());
        let mut cursor = self
            .db
            .client()
            .database("local")
            .collection::<Document>("oplog.rs")
            .find(doc! {"ts": {"$gt": start, "$lte": end}})
            .sort(doc! {"$natural": 1})
            .await
            .map_err(driver)?;
        while let Some(entry) = cursor.try_next().await.map_err(driver)? {
            for entry in flattened(entry) {
                if !entry.get_str("ns").is_ok_and(|ns| ns.starts_with(&prefix)) {
                    continue;
                }
                let raw = RawDocumentBuf::from_document(&entry).map_err(bad)?;
                out.write_all(raw.as_bytes())
                    .await
                    .map_err(|e| io("writing", &path, e))?;
            }
        }
        out.flush().await.map_err(|e| io("writing", &path, e))?;
        mark.counts = counts_at_the_point(dir, &prefix).await?;
        Ok((
            "emporium-mongo export (mongodump layout, with the oplog to the point)".into(),
            0,
        ))
    }

    #[tracing::instrument(name = "restore.mongodb", skip_all)]
    async fn restore(&self, dir: &Path, part: &StoreManifest) -> Result<()> {
        let end = optime_of(&part.position)?;
        let mut indexes = Vec::new();
        for name in part.counts.keys() {
            if tokio::fs::try_exists(dir.join(format!("{name}.metadata.json")))
                .await
                .unwrap_or(false)
            {
                indexes.push((name.clone(), self.load(dir, name).await?));
            } else {
                // Created after the export started: the oplog slice creates and fills it,
                // over whatever it holds now.
                self.db
                    .collection::<Document>(name)
                    .delete_many(doc! {})
                    .await
                    .map_err(driver)?;
            }
        }
        let path = dir.join(OPLOG_FILE);
        for raw in read_documents(&path).await? {
            let entry = raw.to_document().map_err(bad)?;
            if entry.get_timestamp("ts").is_ok_and(|ts| ts > end) {
                break;
            }
            self.replay(&entry).await?;
        }
        for (name, specs) in indexes {
            let specs: Vec<Document> = specs
                .into_iter()
                .filter(|s| s.get_str("name") != Ok("_id_"))
                .map(|mut s| {
                    s.remove("v");
                    s.remove("ns");
                    s
                })
                .collect();
            if !specs.is_empty() {
                self.db
                    .run_command(doc! {"createIndexes": name.as_str(), "indexes": specs})
                    .await
                    .map_err(driver)?;
            }
        }
        Ok(())
    }

    async fn counts(&self) -> Result<BTreeMap<String, u64>> {
        self.counts_now().await
    }

    #[tracing::instrument(name = "archive.mongodb", skip_all)]
    async fn archive(&self, archive: &Path, since: &serde_json::Value) -> Result<()> {
        let _one_at_a_time = self.archiving.lock().await;
        let dir = archive.join(self.db.name());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io("creating", &dir, e))?;
        let state = dir.join(ARCHIVE_STATE);
        let mut archived = match read_archive_state(&state).await? {
            Some(archived) => archived,
            None => ArchiveState {
                optime: Optime::from(optime_of(since)?),
                gaps: Vec::new(),
            },
        };
        let last = archived.optime.timestamp();
        // The oplog is capped: when its oldest entry is newer than where the archive
        // stopped, the entries in between are lost. The gap is recorded (no recovery
        // crosses it: see `reaches`) and archiving goes on, so backups taken after it
        // keep their window.
        let oldest = self
            .oplog()
            .find_one(doc! {})
            .sort(doc! {"$natural": 1})
            .await
            .map_err(driver)?
            .and_then(|e| e.get_timestamp("ts").ok());
        if let Some(oldest) = oldest.filter(|oldest| *oldest > last) {
            tracing::error!(
                after = %archived.optime, before = %Optime::from(oldest),
                "the oplog no longer reaches back to where its archive stopped: the archive \
                 has a gap, and no point-in-time recovery can cross it"
            );
            archived.gaps.push(Gap {
                after: archived.optime,
                before: Optime::from(oldest),
            });
        }
        let prefix = format!("{}.", self.db.name());
        let mut cursor = self
            .oplog()
            .find(doc! {"ts": {"$gt": last}})
            .sort(doc! {"$natural": 1})
            .await
            .map_err(driver)?;
        let mut bytes = Vec::new();
        let (mut first, mut newest) = (None, last);
        while let Some(entry) = cursor.try_next().await.map_err(driver)? {
            let ts = entry.get_timestamp("ts").map_err(bad)?;
            newest = ts;
            for entry in flattened(entry) {
                if entry.get_str("ns").is_ok_and(|ns| ns.starts_with(&prefix)) {
                    first.get_or_insert(ts);
                    let raw = RawDocumentBuf::from_document(&entry).map_err(bad)?;
                    bytes.extend_from_slice(raw.as_bytes());
                }
            }
        }
        if let Some(first) = first {
            let path = dir.join(format!("{:010}-{:010}.bson", first.time, first.increment));
            write_then_rename(&path, bytes).await?;
        }
        archived.optime = Optime::from(newest);
        write_then_rename(&state, serde_json::to_vec(&archived).map_err(bad)?).await
    }

    async fn reaches(&self, archive: &Path, from: &serde_json::Value, target: At) -> Result<()> {
        let from = optime_of(from)?;
        let state = archive.join(self.db.name()).join(ARCHIVE_STATE);
        let Some(archived) = read_archive_state(&state).await? else {
            return Ok(());
        };
        let target_secs = u32::try_from(target.timestamp()).unwrap_or(u32::MAX);
        // The replay needs every entry in (from, target]; a gap loses (after, before).
        let crossed = archived
            .gaps
            .iter()
            .find(|gap| gap.before.timestamp() > from && gap.after.t <= target_secs);
        match crossed {
            None => Ok(()),
            Some(gap) => Err(Error::OutsideWindow {
                message: format!(
                    "MongoDB's oplog archive has a gap from {} to {} (the archiver fell \
                     further behind than the capped oplog keeps): recover to before it, or \
                     from a backup taken after it",
                    gap.after, gap.before
                ),
                from: None,
                // Optimes count whole seconds: the last safe target is the second before.
                to: gap.after.at().map(|at| at - chrono::Duration::seconds(1)),
            }),
        }
    }

    async fn recoverable_until(&self, archive: &Path) -> Result<Option<At>> {
        let state = archive.join(self.db.name()).join(ARCHIVE_STATE);
        if tokio::fs::metadata(&state).await.is_err() {
            return Ok(None);
        }
        // `archive` has just copied the oplog up to the moment it started; the caller
        // bounds the window by that moment.
        Ok(Some(chrono::Utc::now()))
    }

    #[tracing::instrument(name = "pitr.mongodb", skip_all, fields(%target))]
    async fn restore_to(
        &self,
        dir: &Path,
        part: &StoreManifest,
        archive: &Path,
        target: At,
    ) -> Result<()> {
        self.restore(dir, part).await?;
        let from = optime_of(&part.position)?;
        let target_ms = target.timestamp_millis();
        let folder = archive.join(self.db.name());
        let mut files = Vec::new();
        let mut entries = tokio::fs::read_dir(&folder)
            .await
            .map_err(|e| io("listing", &folder, e))?;
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|e| io("listing", &folder, e))?
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "bson") {
                files.push(path);
            }
        }
        files.sort();
        for path in files {
            for raw in read_documents(&path).await? {
                let entry = raw.to_document().map_err(bad)?;
                let ts = entry.get_timestamp("ts").map_err(bad)?;
                if ts <= from {
                    continue;
                }
                let at_ms = match entry.get_datetime("wall") {
                    Ok(wall) => wall.timestamp_millis(),
                    Err(_) => i64::from(ts.time) * 1000,
                };
                if at_ms > target_ms {
                    return Ok(());
                }
                self.replay(&entry).await?;
            }
        }
        Ok(())
    }
}

async fn write_then_rename(path: &Path, bytes: Vec<u8>) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| io("creating", &tmp, e))?;
    file.write_all(&bytes)
        .await
        .map_err(|e| io("writing", &tmp, e))?;
    // On disk before it is renamed into place: the archive's files and its state file
    // must not turn out empty after a power cut.
    file.sync_all().await.map_err(|e| io("syncing", &tmp, e))?;
    tokio::fs::rename(&tmp, path)
        .await
        .map_err(|e| io("renaming", &tmp, e))?;
    if let Some(parent) = path.parent() {
        let folder = tokio::fs::File::open(parent)
            .await
            .map_err(|e| io("opening", parent, e))?;
        folder
            .sync_all()
            .await
            .map_err(|e| io("syncing", parent, e))?;
    }
    Ok(())
}

/// An oplog position as the archive's state file writes it.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Optime {
    t: u32,
    i: u32,
}

impl Optime {
    fn timestamp(self) -> Timestamp {
        Timestamp {
            time: self.t,
            increment: self.i,
        }
    }

    fn at(self) -> Option<At> {
        chrono::DateTime::from_timestamp(i64::from(self.t), 0)
    }
}

impl From<Timestamp> for Optime {
    fn from(ts: Timestamp) -> Self {
        Optime {
            t: ts.time,
            i: ts.increment,
        }
    }
}

impl std::fmt::Display for Optime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at() {
            Some(at) => write!(f, "{} ({}.{})", at.to_rfc3339(), self.t, self.i),
            None => write!(f, "{}.{}", self.t, self.i),
        }
    }
}

/// Oplog entries lost between two archived ones: those after `after` and before `before`.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct Gap {
    after: Optime,
    before: Optime,
}

/// The archive's state file: where archiving stopped, and the gaps it met.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ArchiveState {
    optime: Optime,
    #[serde(default)]
    gaps: Vec<Gap>,
}

async fn read_archive_state(path: &Path) -> Result<Option<ArchiveState>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(bad)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("reading", path, e)),
    }
}

fn optime_of(position: &serde_json::Value) -> Result<Timestamp> {
    let time = position["optime"]["t"]
        .as_u64()
        .ok_or_else(|| bad("no optime in the manifest"))?;
    let increment = position["optime"]["i"]
        .as_u64()
        .ok_or_else(|| bad("no optime in the manifest"))?;
    Ok(Timestamp {
        time: time as u32,
        increment: increment as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::flattened;
    use mongodb::bson::{doc, Timestamp};

    #[test]
    fn a_transaction_is_replayed_as_its_operations_at_its_optime() {
        let ts = Timestamp {
            time: 1_700_000_000,
            increment: 4,
        };
        let entry = doc! {
            "op": "c", "ns": "admin.$cmd", "ts": ts,
            "o": {"applyOps": [
                {"op": "i", "ns": "shop.products", "o": {"_id": 1, "name": "lamp"}},
                {"op": "u", "ns": "shop.products", "o": {"$v": 2, "diff": {"u": {"name": "LAMP"}}}, "o2": {"_id": 1}},
                {"op": "c", "ns": "admin.$cmd", "o": {"applyOps": [
                    {"op": "d", "ns": "shop.reviews", "o": {"_id": 9}},
                ]}},
            ]},
        };
        let ops = flattened(entry);
        let kinds: Vec<(&str, &str)> = ops
            .iter()
            .map(|op| (op.get_str("op").unwrap(), op.get_str("ns").unwrap()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("i", "shop.products"),
                ("u", "shop.products"),
                ("d", "shop.reviews")
            ]
        );
        assert!(ops.iter().all(|op| op.get_timestamp("ts") == Ok(ts)));
        let plain = doc! {"op": "i", "ns": "shop.products", "o": {"_id": 2}};
        assert_eq!(flattened(plain.clone()), vec![plain]);
    }
}
