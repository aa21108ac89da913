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
    /// A streaming standby of `postgres_url` (`EMPORIUM_POSTGRES_STANDBY_URL`): reports
    /// read from it, up to the catch-up interval (1 s) plus the replication lag behind.
    pub postgres_standby_url: Option<String>,
    /// Where browsing reads the catalog from (`EMPORIUM_MONGODB_BROWSE_READ_PREFERENCE`:
    /// `primary` (default), `primaryPreferred`, `secondaryPreferred`, `secondary` or
    /// `nearest`): product listings, where an answer as stale as the replication lag is
    /// harmless. Prices at order time, carts and writes always read the primary.
    pub mongodb_browse_read_preference: String,
    /// MongoDB for the catalog and suppliers (`EMPORIUM_MONGODB_URI`).
    pub mongodb_uri: Option<String>,
    /// MongoDB database name (`EMPORIUM_MONGODB_DB`, default `emporium`).
    pub mongodb_db: String,
    /// Admin tokens for `/api/admin/*` (`EMPORIUM_ADMIN_TOKENS`): comma-separated
    /// `name:scope:token` entries, scope `read` or `write`. Admin routes are off without any.
    pub admin_tokens: Option<String>,
    /// One more admin token, `write`, named `admin` (`EMPORIUM_ADMIN_TOKEN`; the older way).
    pub admin_token: Option<String>,
    /// Where backups, their manifests and the backup log are kept (`EMPORIUM_BACKUP_DIR`,
    /// default `emporium-backups`). Keep it off the databases' disks.
    pub backup_dir: String,
    /// The pgBackRest stanza of the PostgreSQL cluster (`EMPORIUM_BACKUP_PGBACKREST_STANZA`).
    /// PostgreSQL is backed up only with it: `scripts/dev-services.sh up --private` sets it.
    pub backup_pgbackrest_stanza: Option<String>,
    /// pgBackRest's configuration file (`EMPORIUM_BACKUP_PGBACKREST_CONFIG`; default
    /// `/etc/pgbackrest.conf`).
    pub backup_pgbackrest_config: Option<String>,
    /// The cluster's data directory, for `pg_ctl` during a restore (`EMPORIUM_BACKUP_PG_DATA`).
    pub backup_pg_data: Option<String>,
    /// MongoDB's data directory (`EMPORIUM_BACKUP_MONGODB_DATA`), for snapshots of a
    /// `mongod` on this host; asked of the server (`getCmdLineOpts`) when unset.
    pub backup_mongodb_data: Option<String>,
    /// The folder with `pg_ctl` (`EMPORIUM_BACKUP_PG_BINDIR`; default: `PATH`).
    pub backup_pg_bindir: Option<String>,
    /// The operating-system user pgBackRest and `pg_ctl` run as (`EMPORIUM_BACKUP_RUN_AS`,
    /// e.g. `postgres` when emporium runs as root).
    pub backup_run_as: Option<String>,
    /// Run database migrations at start-up (`EMPORIUM_MIGRATE_ON_START`, default true).
    pub migrate_on_start: bool,
    /// `text` (default) or `json` log lines (`EMPORIUM_LOG_FORMAT`).
    pub log_format: String,
    /// `pessimistic` (default: `SELECT ... FOR UPDATE`) or `optimistic` (version column,
    /// bounded retry) stock reservations on PostgreSQL (`EMPORIUM_LOCKING`).
    pub locking: String,
    /// PostgreSQL pool size (`EMPORIUM_POSTGRES_MAX_CONNECTIONS`; default: twice the CPU
    /// cores, at least 4; see [`Settings::postgres_pool_size`]).
    pub postgres_max_connections: Option<u32>,
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
    /// On SIGTERM, how long requests and background passes under way may take to finish
    /// (`EMPORIUM_SHUTDOWN_DRAIN_SECS`, default 10).
    pub shutdown_drain_secs: u64,
    /// How long a starting process waits for a store that is down (unreachable, or
    /// restarting) before giving up (`EMPORIUM_STARTUP_WAIT_SECS`, default 120). A server
    /// restarted during a store outage comes up when the store does, without a supervisor
    /// loop; a wrong URL or credentials fail at once.
    pub startup_wait_secs: u64,
    /// Queue orders while PostgreSQL is unreachable, as if every placement carried
    /// `Prefer: respond-async` (`EMPORIUM_ORDERS_QUEUE_WHEN_LEDGER_DOWN`, default false:
    /// 503 unless the client asks).
    pub orders_queue_when_ledger_down: bool,
    /// Seconds a cart lives after its last change (`EMPORIUM_CART_TTL`, default 604800,
    /// 7 days).
    pub cart_ttl: u64,
    /// The payment gateway's base URL, a Stripe-style API (`EMPORIUM_GATEWAY_URL`). A server
    /// with a database needs one (or, in tests only, `EMPORIUM_TEST_GATEWAY=true`).
    pub gateway_url: Option<String>,
    /// The gateway's secret API key (`EMPORIUM_GATEWAY_API_KEY`), required with the URL.
    pub gateway_api_key: Option<String>,
    /// Each gateway request's timeout (`EMPORIUM_GATEWAY_TIMEOUT_MS`, default 3000).
    pub gateway_timeout_ms: u64,
    /// Attempts per gateway call, the same idempotency key each time
    /// (`EMPORIUM_GATEWAY_ATTEMPTS`, default 3).
    pub gateway_attempts: u32,

    // --- Test only: never set in production. ---
    /// The in-process test gateway (`tok_visa` approves, `tok_chargeDeclined` declines)
    /// instead of a real one (`EMPORIUM_TEST_GATEWAY`). Without a database it is the
    /// default, for demos; with one it must be asked for.
    pub test_gateway: bool,
    /// Test payment gateway journal: answers survive a restart (`EMPORIUM_TEST_GATEWAY_JOURNAL`;
    /// implies `EMPORIUM_TEST_GATEWAY`).
    pub test_gateway_journal: Option<String>,
    /// Test payment gateway: how long each authorization takes (`EMPORIUM_TEST_GATEWAY_LATENCY_MS`).
    pub test_gateway_latency_ms: u64,
    /// Test-only fail point to stop at (`EMPORIUM_FAILPOINT`); never set in production.
    pub failpoint: Option<String>,
}

/// Which payment gateway the settings name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayChoice {
    /// A real gateway over HTTP.
    Http {
        url: String,
        api_key: String,
        timeout: std::time::Duration,
        attempts: u32,
    },
    /// The in-process test gateway, asked for (tests) or by default without a database (demo).
    Test {
        journal: Option<String>,
        latency: std::time::Duration,
    },
}

impl Settings {
    /// The payment gateway to use, or why none can be: a server that keeps orders in a
    /// database takes real money, so the test gateway is never its silent default.
    pub fn gateway(&self) -> anyhow::Result<GatewayChoice> {
        let test = GatewayChoice::Test {
            journal: self.test_gateway_journal.clone(),
            latency: std::time::Duration::from_millis(self.test_gateway_latency_ms),
        };
        match (&self.gateway_url, &self.gateway_api_key) {
            (Some(_), _) if self.test_gateway || self.test_gateway_journal.is_some() => {
                anyhow::bail!(
                    "both EMPORIUM_GATEWAY_URL and the test gateway (EMPORIUM_TEST_GATEWAY*) \
                     are set; choose one"
                )
            }
            (Some(url), Some(api_key)) => Ok(GatewayChoice::Http {
                url: url.clone(),
                api_key: api_key.clone(),
                timeout: std::time::Duration::from_millis(self.gateway_timeout_ms.max(1)),
                attempts: self.gateway_attempts.max(1),
            }),
            (Some(_), None) => anyhow::bail!(
                "EMPORIUM_GATEWAY_URL is set without EMPORIUM_GATEWAY_API_KEY, the gateway's \
                 secret key"
            ),
            (None, _) if self.test_gateway || self.test_gateway_journal.is_some() => Ok(test),
            (None, _) if self.postgres_url.is_none() => Ok(test),
            (None, _) => anyhow::bail!(
                "no payment gateway configured: with EMPORIUM_POSTGRES_URL set, orders are kept \
                 and paid for real, so set EMPORIUM_GATEWAY_URL and EMPORIUM_GATEWAY_API_KEY \
                 (a Stripe-style API; `emporium-gateway-simulator` plays one for staging), or \
                 EMPORIUM_TEST_GATEWAY=true in tests"
            ),
        }
    }

    /// Loads the file (when it exists) and the environment.
    pub fn load(file: Option<&str>) -> anyhow::Result<Settings> {
        let source = match file {
            Some(path) => config::File::with_name(path).required(true),
            None => config::File::with_name("emporium").required(false),
        };
        let settings = Self::defaults()?
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

    fn defaults() -> anyhow::Result<config::ConfigBuilder<config::builder::DefaultState>> {
        Ok(config::Config::builder()
            .set_default("listen", "127.0.0.1:8080")?
            .set_default("mongodb_db", "emporium")?
            .set_default("mongodb_browse_read_preference", "primary")?
            .set_default("backup_dir", "emporium-backups")?
            .set_default("migrate_on_start", true)?
            .set_default("log_format", "text")?
            .set_default("locking", "pessimistic")?
            .set_default("reservation_ttl_secs", 900)?
            .set_default("recovery_interval_secs", 10)?
            .set_default("recovery_stale_after_secs", 60)?
            .set_default("reconcile_interval_secs", 3600)?
            .set_default("shutdown_drain_secs", 10)?
            .set_default("startup_wait_secs", 120)?
            .set_default("orders_queue_when_ledger_down", false)?
            .set_default("cart_ttl", 604_800)?
            .set_default("gateway_timeout_ms", 3000)?
            .set_default("gateway_attempts", 3)?
            .set_default("test_gateway", false)?
            .set_default("test_gateway_latency_ms", 0)?)
    }

    /// The PostgreSQL pool size: the configured one, or twice the CPU cores (at least 4).
    /// More connections than the server has cores to run them only adds contention: on a
    /// hot SKU, a lock holder descheduled among extra backends holds everyone up (measured
    /// in `benches/RESULTS.md`).
    pub fn postgres_pool_size(&self) -> u32 {
        self.postgres_max_connections
            .filter(|n| *n > 0)
            .unwrap_or_else(|| {
                let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
                (2 * cores).max(4)
            })
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
            &mut self.postgres_standby_url,
            &mut self.mongodb_uri,
            &mut self.admin_token,
            &mut self.admin_tokens,
            &mut self.gateway_url,
            &mut self.gateway_api_key,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults with `pairs` set, as a file or the environment would set them.
    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let mut builder = Settings::defaults().unwrap();
        for (key, value) in pairs {
            builder = builder.set_override(*key, *value).unwrap();
        }
        builder
            .build()
            .unwrap()
            .try_deserialize::<Settings>()
            .unwrap()
            .without_blanks()
    }

    #[test]
    fn the_pool_follows_the_cores_unless_set() {
        let auto = settings(&[]).postgres_pool_size();
        assert!(auto >= 4 && auto.is_multiple_of(2), "{auto}");
        assert_eq!(
            settings(&[("postgres_max_connections", "7")]).postgres_pool_size(),
            7
        );
    }

    #[test]
    fn without_a_database_the_demo_runs_on_the_test_gateway() {
        assert!(matches!(
            settings(&[]).gateway().unwrap(),
            GatewayChoice::Test { journal: None, .. }
        ));
    }

    #[test]
    fn with_a_database_a_gateway_must_be_named() {
        let pg = ("postgres_url", "postgres://db/emporium");
        let refused = settings(&[pg]).gateway().unwrap_err().to_string();
        assert!(refused.contains("EMPORIUM_GATEWAY_URL"), "{refused}");
        assert!(matches!(
            settings(&[pg, ("test_gateway", "true")]).gateway().unwrap(),
            GatewayChoice::Test { .. }
        ));
        assert_eq!(
            settings(&[
                pg,
                ("gateway_url", "https://pay.example"),
                ("gateway_api_key", "sk_live_x"),
                ("gateway_timeout_ms", "1500"),
            ])
            .gateway()
            .unwrap(),
            GatewayChoice::Http {
                url: "https://pay.example".into(),
                api_key: "sk_live_x".into(),
                timeout: std::time::Duration::from_millis(1500),
                attempts: 3,
            }
        );
    }

    #[test]
    fn a_half_or_doubly_named_gateway_is_refused() {
        let url = ("gateway_url", "https://pay.example");
        let no_key = settings(&[url]).gateway().unwrap_err().to_string();
        assert!(no_key.contains("EMPORIUM_GATEWAY_API_KEY"), "{no_key}");
        let both = settings(&[url, ("gateway_api_key", "k"), ("test_gateway", "true")])
            .gateway()
            .unwrap_err()
            .to_string();
        assert!(both.contains("choose one"), "{both}");
    }
}
