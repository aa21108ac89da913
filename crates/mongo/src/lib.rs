//! # Emporium MongoDB adapter
//!
//! [`MongoCatalog`] implements the [`Catalog`] and [`Suppliers`] ports on the official
//! `mongodb` driver. It is the reference for how Emporium talks to a document store:
//!
//! * **Typed filters only.** Queries are built from the typed values of a
//!   [`ProductQuery`](emporium_domain::model::ProductQuery), never from client JSON, so a
//!   client value such as `{"$gt": ""}` is compared as the literal text it is (see
//!   [`query`]).
//! * **Exact money.** Prices are stored as BSON `Decimal128`, converted through the decimal's
//!   text form, never through `f64` (see [`codec`]).
//! * **Ids are UUIDs.** `_id` is the entity's UUID as BSON binary subtype 4 (the standard
//!   UUID representation), so `_id` order is the UUID's byte order, which the domain's ids
//!   (UUID v7) share with creation time.
//! * **Degrades, never lies.** [`MongoCatalog::init`] creates the text index where the server
//!   supports one and otherwise falls back to a case-insensitive `$regex` search, logging
//!   which [`SearchMode`] it runs in.
//!
//! Errors map onto the domain's: a duplicate key is `Conflict`, an unreachable server is
//! `Unavailable("mongodb")`, anything else `Internal` (see [`error`]).
//!
//! [`Catalog`]: emporium_domain::ports::Catalog
//! [`Suppliers`]: emporium_domain::ports::Suppliers

mod backup;
mod carts;
mod catalog;
mod categories;
mod changes;
pub mod codec;
mod customers;
pub mod error;
mod load;
mod order_queue;
pub mod query;
mod reviews;
pub mod schema;
mod snapshot;
mod suppliers;
mod topology;

pub use backup::{MongoBackup, OPLOG_FILE};
pub use carts::CARTS;
pub use categories::CATEGORIES;
pub use changes::{PRODUCT_CHANGES, SUPPLIER_CHANGES};
pub use customers::CUSTOMERS;
pub use order_queue::ORDER_QUEUE;
pub use query::SearchMode;
pub use reviews::REVIEWS;
pub use snapshot::{MongoSnapshot, SNAPSHOT_ARCHIVE, SNAPSHOT_DATA};
pub use topology::MongoTopology;

use emporium_domain::{Error, Result};
use mongodb::bson::{doc, Document};
use mongodb::{options::ClientOptions, Client, Collection, Database};
use std::sync::{
    atomic::{AtomicU8, Ordering},
    Arc,
};
use std::time::Duration;

/// How long the driver looks for a usable server before an operation fails. Short, so a
/// down server turns into `Unavailable` (HTTP 503) within seconds instead of the driver's
/// default 30 s; a URI that sets `serverSelectionTimeoutMS` wins.
pub const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_millis(2_500);
/// How long opening one TCP connection may take (a URI's `connectTimeoutMS` wins).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The catalog and supplier stores on one MongoDB database.
///
/// Cheap to clone: clones share the driver's connection pool and the search mode.
#[derive(Clone)]
pub struct MongoCatalog {
    db: Database,
    search: SearchModeCell,
    commands: CommandTimings,
    /// The cluster time when this catalog connected: where a change stream with no stored
    /// cursor starts, so no change made after the server connected is missed however late
    /// its follower gets going (a stream opened "now" would miss them).
    connected_at: Arc<std::sync::OnceLock<mongodb::bson::Timestamp>>,
}

/// Told of every command the catalog's client runs: `find products`, `update customers`
/// (the command and its collection, never its values), how long it took, and whether it
/// succeeded (issue 12: latency per store operation).
pub type CommandObserver = Arc<dyn Fn(&str, std::time::Duration, bool) + Send + Sync>;

/// Where the client's command events go: set once by [`MongoCatalog::observe_commands`]
/// (the events start at connect, before the server's metrics exist).
#[derive(Clone, Default)]
struct CommandTimings {
    observer: Arc<std::sync::OnceLock<CommandObserver>>,
    /// Started commands by request id, until they end: the name, and the `store.call`
    /// span that covers it (a child of the span the command was started in).
    started: Arc<std::sync::Mutex<std::collections::HashMap<i32, (String, tracing::Span)>>>,
}

impl CommandTimings {
    fn handler(&self) -> mongodb::event::EventHandler<mongodb::event::command::CommandEvent> {
        use mongodb::event::command::CommandEvent;
        let timings = self.clone();
        mongodb::event::EventHandler::callback(move |event: CommandEvent| {
            let Ok(mut started) = timings.started.lock() else {
                return;
            };
            let ended = match event {
                CommandEvent::Started(e) => {
                    let name = match e.command.get_str(&e.command_name) {
                        Ok(collection) => format!("{} {collection}", e.command_name),
                        Err(_) => e.command_name.clone(),
                    };
                    // The driver sends the event on the caller's task, inside its span.
                    let span = tracing::info_span!(
                        "store.call",
                        store = "mongodb",
                        operation = name.as_str()
                    );
                    started.insert(e.request_id, (name, span));
                    None
                }
                CommandEvent::Succeeded(e) => Some((
                    started.remove(&e.request_id),
                    e.command_name,
                    e.duration,
                    true,
                )),
                CommandEvent::Failed(e) => Some((
                    started.remove(&e.request_id),
                    e.command_name,
                    e.duration,
                    false,
                )),
                _ => None,
            };
            drop(started);
            if let Some((begun, command, duration, ok)) = ended {
                // Dropping the span ends it.
                let name = begun.map(|(name, _span)| name).unwrap_or(command);
                if let Some(observer) = timings.observer.get() {
                    observer(&name, duration, ok);
                }
            }
        })
    }
}

impl std::fmt::Debug for MongoCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoCatalog")
            .field("db", &self.db.name())
            .field("search", &self.search.get())
            .finish()
    }
}

impl MongoCatalog {
    /// Connects to `uri`, uses database `db`, and checks that the server answers.
    ///
    /// The connection is verified with a `ping` so that a wrong address fails here, at
    /// start-up, as `Unavailable("mongodb")`, within [`SERVER_SELECTION_TIMEOUT`].
    /// A URI that does not parse is `Internal` (a configuration error, not an outage).
    pub async fn connect(uri: &str, db: &str) -> Result<MongoCatalog> {
        let mut options = ClientOptions::parse(uri).await.map_err(|e| match *e.kind {
            mongodb::error::ErrorKind::DnsResolve { .. } => error::unavailable(),
            _ => Error::Internal(format!("invalid MongoDB URI: {e}")),
        })?;
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.app_name.get_or_insert_with(|| "emporium".into());
        let commands = CommandTimings::default();
        options.command_event_handler = Some(commands.handler());
        let client = Client::with_options(options).map_err(error::from_driver)?;
        let mut catalog = MongoCatalog::from_database(client.database(db));
        catalog.commands = commands;
        let reply = catalog
            .db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(error::from_driver)?;
        if let Ok(at) = reply.get_timestamp("operationTime") {
            let _ = catalog.connected_at.set(at);
        } else if let Ok(Some(newest)) = catalog
            .db
            .client()
            .database("local")
            .collection::<mongodb::bson::Document>("oplog.rs")
            .find_one(doc! {})
            .sort(doc! {"$natural": -1})
            .await
        {
            if let Ok(at) = newest.get_timestamp("ts") {
                let _ = catalog.connected_at.set(at);
            }
        }
        Ok(catalog)
    }

    /// The same catalog read with `read_preference` (`secondaryPreferred`, ...): for reads
    /// where an answer as stale as the replication lag is harmless (browsing). Shares the
    /// client, and the search mode `init` decided.
    pub fn reading_from(&self, read_preference: &str) -> Result<MongoCatalog> {
        use mongodb::options::{ReadPreference, ReadPreferenceOptions, SelectionCriteria};
        let options = ReadPreferenceOptions::default();
        let preference = match read_preference {
            "primary" => ReadPreference::Primary,
            "primaryPreferred" => ReadPreference::PrimaryPreferred { options: Some(options) },
            "secondaryPreferred" => ReadPreference::SecondaryPreferred { options: Some(options) },
            "secondary" => ReadPreference::Secondary { options: Some(options) },
            "nearest" => ReadPreference::Nearest { options: Some(options) },
            other => {
                return Err(Error::invalid(
                    "read_preference",
                    format!("`{other}` is not primary, primaryPreferred, secondaryPreferred, secondary or nearest"),
                ))
            }
        };
        let db = self.db.client().database_with_options(
            self.db.name(),
            mongodb::options::DatabaseOptions::builder()
                .selection_criteria(SelectionCriteria::ReadPreference(preference))
                .build(),
        );
        Ok(MongoCatalog {
            db,
            search: self.search.clone(),
            commands: self.commands.clone(),
            connected_at: self.connected_at.clone(),
        })
    }

    /// Reports every command of this catalog's client to `observer` from now on (a
    /// catalog made by [`MongoCatalog::connect`]; one built on a handle the caller owns
    /// reports nothing). The first observer stays.
    pub fn observe_commands(&self, observer: CommandObserver) {
        let _ = self.commands.observer.set(observer);
    }

    /// Wraps a database handle the caller already has (its client's timeouts apply).
    /// Nothing is checked or created: call [`MongoCatalog::init`] before serving.
    pub fn from_database(db: Database) -> MongoCatalog {
        MongoCatalog {
            db,
            commands: CommandTimings::default(),
            connected_at: Arc::default(),
            search: SearchModeCell::default(),
        }
    }

    /// The database this catalog works on.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Creates the collections, their validators and indexes; safe to run on every start.
    ///
    /// Also decides how free-text search runs: with a text index and `$text` where the
    /// server can build one, else with `$regex` (see [`SearchMode`]). The choice is logged.
    #[tracing::instrument(skip_all, fields(db = %self.db.name()))]
    pub async fn init(&self) -> Result<SearchMode> {
        let mode = schema::init(&self.db).await?;
        self.search.set(mode);
        tracing::info!(
            search_mode = ?mode,
            "mongodb catalog ready; free-text search uses {}",
            mode.describe()
        );
        Ok(mode)
    }

    /// The search mode [`MongoCatalog::init`] settled on; `None` before it ran. Until then
    /// `q` is searched with `$regex`, which needs no index.
    pub fn search_mode(&self) -> Option<SearchMode> {
        self.search.get()
    }

    pub(crate) fn effective_search_mode(&self) -> SearchMode {
        self.search.get().unwrap_or(SearchMode::Regex)
    }

    pub(crate) fn products(&self) -> Collection<Document> {
        self.db.collection(schema::PRODUCTS)
    }

    pub(crate) fn suppliers(&self) -> Collection<Document> {
        self.db.collection(schema::SUPPLIERS)
    }

    pub(crate) async fn run_ping(&self) -> Result<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(drop)
            .map_err(error::from_driver)
    }
}

/// One page of `collection`'s documents matching `filter` in `sort` order, each decoded,
/// with the total count of matches, the two read concurrently: the listing of every
/// collection that pages like the API (products, suppliers, customers).
pub(crate) async fn find_page<T>(
    collection: &Collection<Document>,
    filter: Document,
    sort: Document,
    page: emporium_domain::model::PageRequest,
    decode: impl Fn(&Document) -> Result<T>,
) -> Result<emporium_domain::model::Page<T>> {
    use futures::TryStreamExt;
    let find = async {
        let cursor = collection
            .find(filter.clone())
            .sort(sort)
            .skip(page.offset)
            .limit(i64::from(page.limit))
            .await
            .map_err(error::from_driver)?;
        let docs: Vec<Document> = cursor.try_collect().await.map_err(error::from_driver)?;
        docs.iter().map(&decode).collect::<Result<Vec<T>>>()
    };
    let count = async {
        collection
            .count_documents(filter.clone())
            .await
            .map_err(error::from_driver)
    };
    let (items, total) = tokio::try_join!(find, count)?;
    Ok(emporium_domain::model::Page {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    })
}

/// The search mode shared by every clone of a catalog: 0 until `init` decides it. An
/// atomic rather than a lock: it is read on every search and written once per `init`.
#[derive(Clone, Default)]
struct SearchModeCell(Arc<AtomicU8>);

impl SearchModeCell {
    const TEXT: u8 = 1;
    const REGEX: u8 = 2;

    fn get(&self) -> Option<SearchMode> {
        match self.0.load(Ordering::Acquire) {
            Self::TEXT => Some(SearchMode::Text),
            Self::REGEX => Some(SearchMode::Regex),
            _ => None,
        }
    }

    fn set(&self, mode: SearchMode) {
        let value = match mode {
            SearchMode::Text => Self::TEXT,
            SearchMode::Regex => Self::REGEX,
        };
        self.0.store(value, Ordering::Release);
    }
}
