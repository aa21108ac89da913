//! `MongoBackup` against a real wire-protocol server: an export taken while writes go on,
//! made exact at the consistent point by its oplog slice.

use emporium_domain::model::{BackupType, StoreManifest};
use emporium_domain::ports::StoreBackup;
use emporium_mongo::MongoBackup;
use emporium_testkit::harness::mongo::create;
use mongodb::bson::{doc, Document};

/// Writes between the export's start and the mark (inserts, an update, a delete) are not
/// all in the export; the counts as of the mark and the restored collection still are
/// exactly what the database held at the mark, and nothing written after it.
#[tokio::test]
async fn the_oplog_slice_makes_a_fuzzy_export_exact() {
    let db = create().await.expect("a test MongoDB");
    let client = mongodb::Client::with_uri_str(&db.uri)
        .await
        .expect("client");
    let database = client.database(&db.db);
    let things = database.collection::<Document>("things");
    things
        .insert_many((0..50).map(|i| doc! {"_id": i, "n": i}))
        .await
        .expect("seed");
    let backup = MongoBackup::new(database.clone());
    let dir = std::env::temp_dir().join(format!("emporium-mongo-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    backup.base(&dir, BackupType::Full).await.expect("export");
    // After the export: only the oplog slice knows these.
    things
        .insert_one(doc! {"_id": 100, "n": 100})
        .await
        .unwrap();
    things.delete_one(doc! {"_id": 3}).await.unwrap();
    things
        .update_one(doc! {"_id": 7}, doc! {"$set": {"n": 700, "extra": "yes"}})
        .await
        .unwrap();
    let mut mark = backup.mark("test").await.expect("mark");
    backup.seal(&dir, &mut mark).await.expect("seal");
    assert_eq!(mark.counts.get("things"), Some(&50), "{:?}", mark.counts);

    // After the point: undone by the restore.
    things.insert_one(doc! {"_id": 200}).await.unwrap();
    things.delete_one(doc! {"_id": 8}).await.unwrap();
    things
        .update_one(doc! {"_id": 7}, doc! {"$set": {"n": 7000}})
        .await
        .unwrap();

    let part = StoreManifest {
        position: mark.position.clone(),
        counts: mark.counts.clone(),
        files: Vec::new(),
        size_bytes: 0,
        tool: String::new(),
    };
    backup.restore(&dir, &part).await.expect("restore");
    assert_eq!(backup.counts().await.unwrap().get("things"), Some(&50));
    let get = |id: i32| {
        let things = things.clone();
        async move { things.find_one(doc! {"_id": id}).await.unwrap() }
    };
    assert!(
        get(100).await.is_some(),
        "an insert in the slice is restored"
    );
    assert!(get(3).await.is_none(), "a delete in the slice is restored");
    assert_eq!(
        get(7).await.unwrap(),
        doc! {"_id": 7, "n": 700, "extra": "yes"}
    );
    assert!(
        get(200).await.is_none(),
        "an insert after the point is gone"
    );
    assert!(get(8).await.is_some(), "a delete after the point is undone");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes running *while* the export reads (inserts, updates, deletes, over more documents
/// than one batch): the restored collection equals, document for document, what the
/// collection held at the mark.
#[tokio::test]
async fn writes_during_the_export_are_restored_as_of_the_mark() {
    let db = create().await.expect("a test MongoDB");
    let client = mongodb::Client::with_uri_str(&db.uri)
        .await
        .expect("client");
    let database = client.database(&db.db);
    let things = database.collection::<Document>("things");
    things
        .insert_many((0..3_000).map(|i| doc! {"_id": i, "n": i}))
        .await
        .expect("seed");
    let backup = MongoBackup::new(database.clone());
    let dir = std::env::temp_dir().join(format!("emporium-mongo-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();

    let writer = {
        let things = things.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                things
                    .update_one(
                        doc! {"_id": 2_999 - i},
                        doc! {"$set": {"n": -i, "touched": true}},
                    )
                    .await
                    .unwrap();
                things.delete_one(doc! {"_id": i * 7}).await.unwrap();
                things
                    .insert_one(doc! {"_id": 10_000 + i, "n": i})
                    .await
                    .unwrap();
            }
        })
    };
    backup.base(&dir, BackupType::Full).await.expect("export");
    writer.await.unwrap();
    let mut mark = backup.mark("test").await.expect("mark");
    let at_mark: Vec<Document> = all(&things).await;
    backup.seal(&dir, &mut mark).await.expect("seal");
    assert_eq!(
        mark.counts.get("things").copied(),
        Some(at_mark.len() as u64)
    );

    things.delete_many(doc! {"n": {"$lt": 100}}).await.unwrap();
    things.insert_one(doc! {"_id": -1}).await.unwrap();
    let part = StoreManifest {
        position: mark.position.clone(),
        counts: mark.counts.clone(),
        files: Vec::new(),
        size_bytes: 0,
        tool: String::new(),
    };
    backup.restore(&dir, &part).await.expect("restore");
    assert_eq!(all(&things).await, at_mark);
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn all(collection: &mongodb::Collection<Document>) -> Vec<Document> {
    use futures::TryStreamExt;
    collection
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// When the capped oplog has moved past where the archive stopped, the archive records
/// the gap and goes on; a recovery that would cross the gap is refused up front as
/// outside the window, and one from a backup taken after it is not.
#[tokio::test]
async fn an_oplog_gap_is_recorded_and_no_recovery_crosses_it() {
    let db = create().await.expect("a test MongoDB");
    let client = mongodb::Client::with_uri_str(&db.uri)
        .await
        .expect("client");
    let database = client.database(&db.db);
    database
        .collection::<Document>("things")
        .insert_one(doc! {"_id": 1})
        .await
        .unwrap();
    let backup = MongoBackup::new(database.clone());
    let archive =
        std::env::temp_dir().join(format!("emporium-mongo-archive-{}", uuid::Uuid::new_v4()));
    // An archive that stopped long before the oldest entry the oplog still holds.
    let stale = serde_json::json!({"optime": {"t": 1_000, "i": 1}});
    backup
        .archive(&archive, &stale)
        .await
        .expect("archiving goes on");
    let now = chrono::Utc::now();
    match backup.reaches(&archive, &stale, now).await {
        Err(emporium_domain::Error::OutsideWindow { message, .. }) => {
            assert!(message.contains("gap"), "{message}")
        }
        other => panic!("a recovery across the gap was not refused: {other:?}"),
    }
    let dir = std::env::temp_dir().join(format!("emporium-mongo-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    backup.base(&dir, BackupType::Full).await.expect("export");
    let mut mark = backup.mark("test").await.expect("mark");
    backup.seal(&dir, &mut mark).await.expect("seal");
    backup
        .reaches(&archive, &mark.position, chrono::Utc::now())
        .await
        .expect("a backup after the gap recovers");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&archive).unwrap();
}

/// Collections created and dropped between the export's start and the mark: the restore
/// holds the created one with its documents, and the dropped one empty, as the database
/// was at the mark; the counts as of the mark say the same.
#[tokio::test]
async fn created_and_dropped_collections_in_the_slice_are_replayed() {
    let db = create().await.expect("a test MongoDB");
    let client = mongodb::Client::with_uri_str(&db.uri)
        .await
        .expect("client");
    let database = client.database(&db.db);
    let doomed = database.collection::<Document>("doomed");
    doomed
        .insert_many((0..5).map(|i| doc! {"_id": i}))
        .await
        .expect("seed");
    let backup = MongoBackup::new(database.clone());
    let dir = std::env::temp_dir().join(format!("emporium-mongo-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    backup.base(&dir, BackupType::Full).await.expect("export");

    doomed.drop().await.expect("dropped");
    database.create_collection("fresh").await.expect("created");
    let fresh = database.collection::<Document>("fresh");
    fresh
        .insert_many([doc! {"_id": "a"}, doc! {"_id": "b"}])
        .await
        .unwrap();
    let mut mark = backup.mark("test").await.expect("mark");
    backup.seal(&dir, &mut mark).await.expect("seal");
    assert_eq!(mark.counts.get("doomed"), Some(&0), "{:?}", mark.counts);
    assert_eq!(mark.counts.get("fresh"), Some(&2), "{:?}", mark.counts);

    // After the point: the dropped collection comes back with other documents.
    doomed.insert_one(doc! {"_id": 99}).await.unwrap();
    let part = StoreManifest {
        position: mark.position.clone(),
        counts: mark.counts.clone(),
        files: Vec::new(),
        size_bytes: 0,
        tool: String::new(),
    };
    backup.restore(&dir, &part).await.expect("restore");
    assert_eq!(doomed.count_documents(doc! {}).await.unwrap(), 0);
    assert_eq!(
        all(&fresh).await,
        vec![doc! {"_id": "a"}, doc! {"_id": "b"}]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
