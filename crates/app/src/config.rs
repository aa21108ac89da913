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

    /// An empty variable (`EMPORIUM_POSTGRES_URL=`) means "not configured".
    fn without_blanks(mut self) -> Self {
        for field in [
            &mut self.postgres_url,
            &mut self.mongodb_uri,
            &mut self.admin_token,
        ] {
            if field.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *field = None;
            }
        }
        self
    }
}
