//! Configuration: an optional `emporium.toml` (or the file given with `--config`), then
//! `EMPORIUM_*` environment variables, which win.

use serde::Deserialize;

/// Everything `emporium` can be told.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Address to listen on (`EMPORIUM_LISTEN`, default `127.0.0.1:8080`).
    pub listen: String,
    /// PostgreSQL for inventory, orders, payments and the saga log (`EMPORIUM_POSTGRES_URL`).
    pub postgres_url: Option<String>,
    /// MongoDB for the catalog and suppliers (`EMPORIUM_MONGODB_URI`).
    pub mongodb_uri: Option<String>,
    /// MongoDB database name (`EMPORIUM_MONGODB_DB`, default `emporium`).
    pub mongodb_db: String,
    /// Bearer token for `/api/admin/*` (`EMPORIUM_ADMIN_TOKEN`); admin routes are closed without it.
    pub admin_token: Option<String>,
    /// Run database migrations at start-up (`EMPORIUM_MIGRATE_ON_START`, default true).
    pub migrate_on_start: bool,
    /// `text` (default) or `json` log lines (`EMPORIUM_LOG_FORMAT`).
    pub log_format: String,
    /// `pessimistic` (default: `SELECT ... FOR UPDATE`) or `optimistic` (version column,
    /// bounded retry) stock reservations on PostgreSQL (`EMPORIUM_LOCKING`).
    pub locking: String,
    /// PostgreSQL pool size (`EMPORIUM_POSTGRES_MAX_CONNECTIONS`, default 10).
    pub postgres_max_connections: u32,
    /// Pending orders older than this release their reservation
    /// (`EMPORIUM_RESERVATION_TTL_SECS`, default 900).
    pub reservation_ttl_secs: u64,
    /// How often recovery looks for unfinished sagas (`EMPORIUM_RECOVERY_INTERVAL_SECS`, default 10).
    pub recovery_interval_secs: u64,
    /// Sagas untouched for this long count as abandoned (`EMPORIUM_RECOVERY_STALE_AFTER_SECS`,
    /// default 60; a live saga waits at most 10 s for the payment gateway).
    pub recovery_stale_after_secs: u64,
    /// How often the server checks the stores against each other and logs what disagrees
    /// (`EMPORIUM_RECONCILE_INTERVAL_SECS`, default 3600; 0 turns the check off). It never
    /// repairs: that is `emporium reconcile --fix`.
    pub reconcile_interval_secs: u64,
    /// Test payment gateway journal: answers survive a restart (`EMPORIUM_TEST_GATEWAY_JOURNAL`).
    pub test_gateway_journal: Option<String>,
    /// Test-only fail point to stop at (`EMPORIUM_FAILPOINT`); never set in production.
    pub failpoint: Option<String>,
}

impl Settings {
    /// Loads the file (when it exists) and the environment.
    pub fn load(file: Option<&str>) -> anyhow::Result<Settings> {
        let source = match file {
            Some(path) => config::File::with_name(path).required(true),
            None => config::File::with_name("emporium").required(false),
        };
        let settings = config::Config::builder()
            .set_default("listen", "127.0.0.1:8080")?
            .set_default("mongodb_db", "emporium")?
            .set_default("migrate_on_start", true)?
            .set_default("log_format", "text")?
            .set_default("locking", "pessimistic")?
            .set_default("postgres_max_connections", 10)?
            .set_default("reservation_ttl_secs", 900)?
            .set_default("recovery_interval_secs", 10)?
            .set_default("recovery_stale_after_secs", 60)?
            .set_default("reconcile_interval_secs", 3600)?
            .add_source(source)
            .add_source(
                config::Environment::with_prefix("EMPORIUM")
                    .prefix_separator("_")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize::<Settings>()?;
        Ok(settings.without_blanks())
    }

    /// The period of the background reconciliation check; `None` when it is off.
    pub fn reconcile_interval(&self) -> Option<std::time::Duration> {
        (self.reconcile_interval_secs > 0)
            .then(|| std::time::Duration::from_secs(self.reconcile_interval_secs))
    }

    /// An empty variable (`EMPORIUM_POSTGRES_URL=`) means "not configured".
    fn without_blanks(mut self) -> Self {
        for field in [
            &mut self.postgres_url,
            &mut self.mongodb_uri,
            &mut self.admin_token,
            &mut self.test_gateway_journal,
            &mut self.failpoint,
        ] {
            if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *field = None;
            }
        }
        self
    }
}
