//! Fresh MongoDB databases for tests.
//!
//! [`create`] hands every test its own database (`emporium_test_<uuid>`) on a server shared
//! by the whole test process, and [`TestMongo`]'s `Drop` removes that database again.
//!
//! The server is, in this order:
//! 1. the one at `EMPORIUM_TEST_MONGODB_URI`, when that variable is set (a real MongoDB in
//!    CI or on a developer's machine), or
//! 2. a `secantusdb` wire-protocol server (PyPI) started once per test process on a free
//!    port, from the project-local virtualenv `<workspace>/.venv-mongo`, which is created
//!    on first use. Its storage is a temporary directory.
//!
//! A `static` never drops, so the started server cannot be stopped from Rust when the
//! tests finish. It is started through a small `sh` watchdog instead, which polls the test
//! process's pid and, once that is gone, stops the server and removes its storage. No test
//! run leaves a server behind, however it ends. [`super::private_mongo`] runs servers a test
//! can stop and start under the same watchdog.

use anyhow::{bail, Context, Result};
use mongodb::{bson::doc, options::ClientOptions, Client};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Set it to use an existing server instead of starting one.
pub const URI_ENV: &str = "EMPORIUM_TEST_MONGODB_URI";
/// The virtualenv holding `secantusdb`, relative to the workspace root (also used by
/// `scripts/dev-services.sh`).
pub const VENV_DIR: &str = ".venv-mongo";
/// How long a started server may take to answer a `ping`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Ports can be taken between choosing and binding; try a few.
const START_ATTEMPTS: usize = 3;

/// One test's database. Dropping it drops the database, which is why only [`create`] builds
/// one (`non_exhaustive`).
#[derive(Debug)]
#[non_exhaustive]
pub struct TestMongo {
    /// A URI the `mongodb` driver accepts (`mongodb://127.0.0.1:<port>/?directConnection=true`
    /// for a started server).
    pub uri: String,
    /// This test's database, unique to it.
    pub db: String,
}

impl TestMongo {
    /// A driver client for this server with short timeouts, bound to the calling runtime.
    pub async fn client(&self) -> Result<Client> {
        short_timeout_client(&self.uri).await
    }

    /// This test's database through a fresh [`TestMongo::client`].
    pub async fn database(&self) -> Result<mongodb::Database> {
        Ok(self.client().await?.database(&self.db))
    }
}

impl Drop for TestMongo {
    /// `Drop` is synchronous and may run inside (or after) the test's runtime, so the
    /// database is dropped on a fresh thread with its own runtime and client. Errors are
    /// ignored: a leftover database on a throw-away server harms nobody.
    fn drop(&mut self) {
        let uri = self.uri.clone();
        let db = std::mem::take(&mut self.db);
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(client) = short_timeout_client(&uri).await {
                    let _ = client.database(&db).drop().await;
                }
            });
        });
        let _ = worker.join();
    }
}

/// A fresh, uniquely named database on the shared test server.
pub async fn create() -> Result<TestMongo> {
    let uri = SERVER
        .get_or_init(|| async { server_uri().await.map_err(|e| format!("{e:#}")) })
        .await
        .clone()
        .map_err(anyhow::Error::msg)?;
    Ok(TestMongo {
        uri,
        db: format!("emporium_test_{}", uuid::Uuid::new_v4().simple()),
    })
}

/// The URI of this process's server, decided once. A failure is kept too, so that every
/// test reports it at once instead of each trying (and waiting) again.
static SERVER: OnceCell<Result<String, String>> = OnceCell::const_new();

async fn server_uri() -> Result<String> {
    match std::env::var(URI_ENV) {
        Ok(uri) if !uri.trim().is_empty() => {
            let client = short_timeout_client(&uri).await?;
            ping(&client)
                .await
                .with_context(|| format!("{URI_ENV} is set, but that server does not answer"))?;
            Ok(uri)
        }
        _ => start_local_server().await,
    }
}

pub(super) async fn short_timeout_client(uri: &str) -> Result<Client> {
    let mut options = ClientOptions::parse(uri)
        .await
        .with_context(|| format!("`{uri}` is not a MongoDB URI"))?;
    options
        .server_selection_timeout
        .get_or_insert(Duration::from_secs(2));
    options
        .connect_timeout
        .get_or_insert(Duration::from_secs(2));
    Ok(Client::with_options(options)?)
}

pub(super) async fn ping(client: &Client) -> Result<()> {
    client
        .database("admin")
        .run_command(doc! { "ping": 1 })
        .await?;
    Ok(())
}

/// `crates/testkit/../..`, canonicalised so that paths in logs and errors read plainly.
fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

async fn start_local_server() -> Result<String> {
    let exe = installed_secantusdb().await?;
    let mut last_error = None;
    for _ in 0..START_ATTEMPTS {
        match start_shared_server(&exe).await {
            Ok(uri) => return Ok(uri),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("secantusdb was never started")))
}

/// [`ensure_secantusdb`] for the workspace, off the async runtime's threads.
pub(super) async fn installed_secantusdb() -> Result<PathBuf> {
    let root = workspace_root();
    tokio::task::spawn_blocking(move || ensure_secantusdb(&root))
        .await
        .context("the secantusdb installer panicked")?
}

/// Installs `secantusdb` into `<root>/.venv-mongo` unless it is there, and returns the
/// server executable. `flock` on a file inside the venv folder serialises concurrent test
/// processes (and `scripts/dev-services.sh`), and is released by the kernel if an
/// installer dies.
fn ensure_secantusdb(root: &Path) -> Result<PathBuf> {
    let venv = root.join(VENV_DIR);
    let exe = venv.join("bin").join("secantusd-py");
    if exe.is_file() {
        return Ok(exe);
    }
    std::fs::create_dir_all(&venv).with_context(|| format!("creating {}", venv.display()))?;
    let output = Command::new("flock")
        .arg(venv.join(".install.lock"))
        .args(["sh", "-c", INSTALL_SCRIPT, "install-secantusdb"])
        .arg(&venv)
        .stdin(Stdio::null())
        .output()
        .context("running `flock` (util-linux) to install secantusdb")?;
    if !output.status.success() || !exe.is_file() {
        bail!(
            "installing secantusdb into {} failed ({}); it needs python3 with venv \
             (`apt-get install -y python3-venv`) and access to PyPI:\n{}",
            venv.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(exe)
}

/// Run under the lock: checks again, since another process may have installed meanwhile.
const INSTALL_SCRIPT: &str = r#"set -eu
venv=$1
if [ ! -x "$venv/bin/secantusd-py" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check secantusdb
fi
"#;

/// Starts the server in the background and stops it once the parent pid is gone, or when
/// the harness creates `$dir/stop` (checked every `$poll` seconds). The storage folder
/// (with the server's log) is removed when the parent is gone; while the parent lives, it
/// is left for the harness to read the log from, or to start the server on again.
const WATCHDOG_SCRIPT: &str = r#"parent=$1 dir=$2 poll=$3
shift 3
"$@" >>"$dir/server.log" 2>&1 &
server=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null && [ ! -e "$dir/stop" ]; do
    sleep "$poll"
done
kill "$server" 2>/dev/null || true
i=0
while kill -0 "$server" 2>/dev/null && [ "$i" -lt 20 ]; do
    sleep 0.5
    i=$((i + 1))
done
kill -9 "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
if ! kill -0 "$parent" 2>/dev/null; then
    rm -rf "$dir"
fi
"#;

/// How often the shared server's watchdog looks at the test process (seconds).
const SHARED_POLL: &str = "1";

/// Starts the shared server on a free port with its storage in a fresh temporary folder,
/// and returns its URI. The watchdog keeps it running until the test process is gone; the
/// folder goes away at once when the server does not come up.
async fn start_shared_server(exe: &Path) -> Result<String> {
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!(
        "emporium-test-mongo-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    match Watched::start(exe, port, &dir, &data, SHARED_POLL).await {
        Ok(server) => {
            tracing::info!(uri = %server.uri, "started a secantusdb test server");
            // Dropping the handle leaves the watchdog (and so the server) running.
            Ok(server.uri)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

/// One run of a secantusdb server, owned by a `sh` watchdog ([`WATCHDOG_SCRIPT`]) that
/// stops it when the test process is gone or when asked to through `<dir>/stop`.
#[derive(Debug)]
pub(super) struct Watched {
    pub(super) uri: String,
    dir: PathBuf,
    watchdog: Child,
}

impl Watched {
    /// Starts `exe` on `port` with its storage at `data` (created when missing, reopened
    /// intact otherwise), logging to `<dir>/server.log`, and waits until it answers. On
    /// failure the server is stopped and the log's end is in the error; `dir` is left.
    pub(super) async fn start(
        exe: &Path,
        port: u16,
        dir: &Path,
        data: &Path,
        poll: &str,
    ) -> Result<Watched> {
        // A stop request left from an earlier run would stop this one at once.
        match std::fs::remove_file(dir.join("stop")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).context("removing an old stop request");
            }
            _ => {}
        }
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT, "emporium-mongo-watchdog"])
            .arg(std::process::id().to_string())
            .arg(dir)
            .arg(poll)
            .arg(exe)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--storage-path",
            ])
            .arg(data)
            // Never hold the test's stdout/stderr open: a pipe reader (cargo, CI, `| tee`)
            // would otherwise wait for the watchdog to finish.
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the secantusdb watchdog with `sh`")?;
        let mut server = Watched {
            uri: format!("mongodb://127.0.0.1:{port}/?directConnection=true"),
            dir: dir.to_owned(),
            watchdog,
        };
        match server.wait_ready().await {
            Ok(()) => Ok(server),
            Err(e) => Err(server.give_up(e)),
        }
    }

    /// Polls with `ping` until the server answers, it dies, or [`READY_TIMEOUT`] passes.
    async fn wait_ready(&mut self) -> Result<()> {
        let mut options = ClientOptions::parse(&self.uri).await?;
        options.server_selection_timeout = Some(Duration::from_millis(300));
        options.connect_timeout = Some(Duration::from_millis(300));
        let client = Client::with_options(options)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if ping(&client).await.is_ok() {
                return Ok(());
            }
            if let Some(status) = self.watchdog.try_wait()? {
                bail!("secantusdb exited before answering ({status})");
            }
            if Instant::now() >= deadline {
                bail!("secantusdb did not answer within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the watchdog to stop the server (SIGTERM, SIGKILL after 10 s) and waits until
    /// it has, so the port is free and the storage closed when this returns.
    pub(super) async fn stop(mut self) -> Result<()> {
        self.request_stop()?;
        while self.watchdog.try_wait()?.is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.clear_stop_request()
    }

    /// [`Watched::stop`] for `Drop`: blocks the calling thread.
    pub(super) fn stop_blocking(mut self) -> Result<()> {
        self.request_stop()?;
        self.watchdog.wait()?;
        self.clear_stop_request()
    }

    fn request_stop(&self) -> Result<()> {
        std::fs::write(self.dir.join("stop"), b"").context("asking the watchdog to stop")
    }

    fn clear_stop_request(&self) -> Result<()> {
        std::fs::remove_file(self.dir.join("stop")).context("removing the stop request")
    }

    /// Stops what was started and adds the end of the server's log to `error`.
    fn give_up(self, error: anyhow::Error) -> anyhow::Error {
        let log_path = self.dir.join("server.log");
        let uri = self.uri.clone();
        if let Err(e) = self.stop_blocking() {
            tracing::warn!(error = %e, "stopping a secantusdb server that did not come up");
        }
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        error.context(format!(
            "starting secantusdb at {uri} failed; its log ends:\n{}",
            tail.join("\n")
        ))
    }
}

/// A port nothing listens on right now (the OS picks it; it can be taken again before the
/// server binds it, hence [`START_ATTEMPTS`]).
pub(super) fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding a free local port")?;
    Ok(listener.local_addr()?.port())
}
