//! A MongoDB wire-protocol server of a test's own, which the test can stop and start again.
//!
//! Outage tests take the catalog store down. The shared server of [`super::mongo`] serves
//! every other test in the process, so it must never go down: such a test starts a
//! [`PrivateMongo`] instead, a `secantusdb` server (from the same project-local virtualenv)
//! on a free port with its storage in a temporary folder. [`PrivateMongo::stop`] stops the
//! server the way a server shuts down; [`PrivateMongo::start`] starts it again on the same
//! port with the same storage, so clients reconnect to the same address and find their data.
//!
//! Like the shared server it runs under the `sh` watchdog, so it is stopped and its folder
//! removed even when the test process dies without running `Drop`.

use super::mongo::{installed_secantusdb, short_timeout_client, Watched};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::sync::Mutex;

/// How often the watchdog looks for a stop request (seconds): a test waits for a stop, so
/// it should not wait long.
const POLL: &str = "0.1";

/// A private `secantusdb` server; dropping it stops the server and deletes its storage.
#[derive(Debug)]
#[non_exhaustive]
pub struct PrivateMongo {
    /// A URI the `mongodb` driver accepts; the same across restarts.
    pub uri: String,
    /// The port it listens on, the same across restarts.
    pub port: u16,
    exe: PathBuf,
    dir: PathBuf,
    /// The running server; `None` while stopped.
    server: Mutex<Option<Watched>>,
}

impl PrivateMongo {
    /// Starts a new server with empty storage and waits until it answers.
    pub async fn launch() -> Result<PrivateMongo> {
        let exe = installed_secantusdb().await?;
        let port = super::mongo::free_port()?;
        let dir = std::env::temp_dir().join(format!(
            "emporium-private-mongo-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("data"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let mongo = PrivateMongo {
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            port,
            exe,
            dir,
            server: Mutex::new(None),
        };
        // On failure, `Drop` removes the folder.
        mongo.start().await?;
        Ok(mongo)
    }

    /// Starts the server again on the same port with the same storage, and waits until it
    /// answers. An error when it is running already.
    pub async fn start(&self) -> Result<()> {
        if self.is_running() {
            bail!(
                "the private MongoDB server at {} is running already",
                self.uri
            );
        }
        let server = Watched::start(
            &self.exe,
            self.port,
            &self.dir,
            &self.dir.join("data"),
            POLL,
        )
        .await?;
        *self.lock() = Some(server);
        Ok(())
    }

    /// Stops the server (SIGTERM: it closes its storage cleanly; it takes a few seconds)
    /// and waits until it is gone, so connections are refused when this returns. An error
    /// when it is stopped already.
    pub async fn stop(&self) -> Result<()> {
        let Some(server) = self.lock().take() else {
            bail!("the private MongoDB server at {} is not running", self.uri);
        };
        server.stop().await
    }

    /// True between a successful [`PrivateMongo::start`] and the next [`PrivateMongo::stop`].
    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// A driver client with short timeouts, bound to the calling runtime.
    pub async fn client(&self) -> Result<mongodb::Client> {
        short_timeout_client(&self.uri).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Watched>> {
        self.server
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for PrivateMongo {
    fn drop(&mut self) {
        if let Some(server) = self.lock().take() {
            if let Err(e) = server.stop_blocking() {
                eprintln!("warning: stopping the private MongoDB server failed: {e:#}");
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("warning: removing {} failed: {e}", self.dir.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, Document};

    /// Data written before a stop is there after the start, on the same URI; while
    /// stopped, the server does not answer; `Drop` removes everything.
    #[tokio::test]
    async fn stops_and_starts_again_on_the_same_port_and_storage() {
        let mongo = PrivateMongo::launch().await.expect("launch");
        let dir = mongo.dir.clone();
        let kept = |client: &mongodb::Client| client.database("t").collection::<Document>("kept");
        let client = mongo.client().await.expect("client");
        kept(&client)
            .insert_one(doc! {"n": 42})
            .await
            .expect("write");

        mongo.stop().await.expect("stop");
        assert!(!mongo.is_running());
        assert!(super::super::mongo::ping(&client).await.is_err(), "stopped");
        assert!(mongo.stop().await.is_err(), "stopping twice is an error");

        mongo.start().await.expect("start");
        let client = mongo.client().await.expect("client");
        let found = kept(&client)
            .find_one(doc! {})
            .await
            .expect("read")
            .expect("the document survived");
        assert_eq!(found.get_i32("n").expect("n"), 42);
        assert!(mongo.start().await.is_err(), "starting twice is an error");
        drop(mongo);
        assert!(!dir.exists(), "Drop removes the folder");
    }
}
