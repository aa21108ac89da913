//! Fresh PostgreSQL databases for tests.
//!
//! Tests share one server (from `EMPORIUM_TEST_POSTGRES_URL`, by default the local one with
//! trust authentication) and each gets a database of its own with a random name, so tests
//! run in parallel without seeing each other's rows. The database is dropped when the
//! [`TestPostgres`] guard drops, even when the test panicked.

use anyhow::{anyhow, Context};
use sqlx::{postgres::PgConnectOptions, ConnectOptions, Connection, PgConnection};
use std::{str::FromStr, time::Duration};

/// The environment variable naming the server tests create their databases on.
pub const URL_ENV: &str = "EMPORIUM_TEST_POSTGRES_URL";

/// The server used when [`URL_ENV`] is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// How long creating or dropping a database may wait for the server. A test against a
/// server that does not answer should fail with a message, not hang.
const SERVER_TIMEOUT: Duration = Duration::from_secs(10);

/// A database that exists for the lifetime of this value.
#[derive(Debug)]
pub struct TestPostgres {
    /// Connection URL of the test database.
    pub url: String,
    /// Name of the test database (`emporium_test_<uuid>`).
    pub name: String,
    /// URL of the maintenance database the test database was created from (and is dropped from).
    admin_url: String,
}

impl TestPostgres {
    /// Creates an empty database on the test server and returns its URL.
    ///
    /// Fails with instructions when the server cannot be reached.
    pub async fn create() -> anyhow::Result<TestPostgres> {
        let admin_url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let name = format!("emporium_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&admin_url, &name)?;

        let mut admin = connect(&admin_url).await?;
        tokio::time::timeout(
            SERVER_TIMEOUT,
            sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&name))).execute(&mut admin),
        )
        .await
        .context("timed out creating the test database")?
        .with_context(|| format!("could not create test database {name}"))?;
        // Closing politely is a courtesy; the database exists either way.
        let _ = admin.close().await;

        Ok(TestPostgres {
            url,
            name,
            admin_url,
        })
    }

    /// A fresh database cloned from a template that `prepare` built once (migrations, say):
    /// `CREATE DATABASE ... TEMPLATE` copies files instead of replaying every migration per
    /// test. `key` names the template's content (a digest of the migrations): a template is
    /// built once per key and server and kept there for later runs, published under its
    /// name only once complete, and built by one process at a time (an advisory lock).
    pub async fn from_template<F, Fut>(key: &str, prepare: F) -> anyhow::Result<TestPostgres>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let admin_url = std::env::var(URL_ENV).unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let template = format!("emporium_template_{key}");
        {
            let mut built = BUILT_TEMPLATES.lock().await;
            if !built.contains(&template) {
                build_template(&admin_url, &template, prepare).await?;
                built.insert(template.clone());
            }
        }
        let name = format!("emporium_test_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(&admin_url, &name)?;
        let mut admin = connect(&admin_url).await?;
        let sql = format!(
            "CREATE DATABASE {} TEMPLATE {}",
            quote_ident(&name),
            quote_ident(&template)
        );
        tokio::time::timeout(SERVER_TIMEOUT, sqlx::query(&sql).execute(&mut admin))
            .await
            .context("timed out cloning the template database")?
            .with_context(|| format!("could not clone {template} into {name}"))?;
        let _ = admin.close().await;
        Ok(TestPostgres {
            url,
            name,
            admin_url,
        })
    }

    /// Drops the database, ending any session still connected to it (PostgreSQL 13+).
    async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
        let mut admin = connect(admin_url).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
        tokio::time::timeout(SERVER_TIMEOUT, sqlx::query(&sql).execute(&mut admin))
            .await
            .context("timed out dropping the test database")??;
        let _ = admin.close().await;
        Ok(())
    }
}

impl Drop for TestPostgres {
    /// `Drop` is synchronous and may run inside (or outside) a tokio runtime, where blocking
    /// on a future would panic; so the drop runs on a thread of its own with its own
    /// current-thread runtime, and this waits for it.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(TestPostgres::drop_database(&admin_url, &name))
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: could not drop test database {}: {e:#}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

/// Templates this process knows to exist (each test may run on its own runtime, so the lock
/// is one that any runtime can wait on).
static BUILT_TEMPLATES: tokio::sync::Mutex<std::collections::BTreeSet<String>> =
    tokio::sync::Mutex::const_new(std::collections::BTreeSet::new());

/// Builds `template` unless the server has it: `prepare` runs on a scratch database, which
/// is then renamed, so a template that exists is always complete.
async fn build_template<F, Fut>(admin_url: &str, template: &str, prepare: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut admin = connect(admin_url).await?;
    // One builder per server at a time, whatever the process.
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(template)
        .execute(&mut admin)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(template)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let scratch = format!(
            "{template}_building_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&scratch)))
            .execute(&mut admin)
            .await?;
        let prepared = prepare(with_database(admin_url, &scratch)?).await;
        // Nothing may stay connected to a database that is renamed or copied.
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&scratch)
            .execute(&mut admin)
            .await?;
        match prepared {
            Ok(()) => {
                sqlx::query(&format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(&scratch),
                    quote_ident(template)
                ))
                .execute(&mut admin)
                .await?;
            }
            Err(e) => {
                let _ = sqlx::query(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&scratch)
                ))
                .execute(&mut admin)
                .await;
                return Err(e.context(format!("preparing the template {template}")));
            }
        }
    }
    sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(template)
        .execute(&mut admin)
        .await?;
    let _ = admin.close().await;
    Ok(())
}

/// One connection to the server, with an explanation of how to start it when it is down.
async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("{URL_ENV} is not a valid PostgreSQL URL"))?;
    let attempt = tokio::time::timeout(SERVER_TIMEOUT, options.connect()).await;
    let failure = match attempt {
        Ok(Ok(connection)) => return Ok(connection),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {SERVER_TIMEOUT:?}"),
    };
    Err(anyhow!(
        "cannot reach the PostgreSQL test server at {} ({failure}). Start the local one with \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, or point \
         {URL_ENV} at a server where the user may create databases.",
        redact(url)
    ))
}

/// `url` with its database (the path) replaced by `database`; the query string is kept.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| anyhow!("{URL_ENV} must be a URL such as {DEFAULT_URL}"))?;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// `url` without its password, fit for an error message.
fn redact(url: &str) -> String {
    let Some(authority_start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[authority_start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _password)) => {
                format!("{}{user}:***{}", &url[..authority_start], &rest[at..])
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A quoted SQL identifier. Database names cannot be bound as parameters.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1").unwrap(),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t2").unwrap(),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t3").unwrap(),
            "postgres://h:5432/t3"
        );
        assert!(with_database("not a url", "t").is_err());
    }

    #[test]
    fn hides_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
