//! A PostgreSQL cluster of a test's own, which the test can stop and start again.
//!
//! Outage tests take the ledger store down. The shared server of [`super::postgres`] serves
//! every other test, so it must never go down: such a test runs a [`PrivatePostgres`]
//! instead, a throw-away cluster made with `initdb` in a temporary folder and run with
//! `pg_ctl` on a free port (TCP on 127.0.0.1 only, its Unix socket inside the folder, trust
//! authentication for user `postgres`). [`PrivatePostgres::stop`] shuts it down,
//! [`PrivatePostgres::start`] starts it again on the same port and data, so clients
//! reconnect to the same URL and find their data.
//!
//! The server binaries are taken from `EMPORIUM_TEST_PG_BINDIR` when set, else from the
//! newest `/usr/lib/postgresql/<version>/bin` (Debian's layout), else from `PATH`.
//! PostgreSQL refuses to run as root, so as root every tool runs as user `postgres`
//! (`runuser -u postgres --`) and the folder is handed to that user.
//!
//! `pg_ctl` runs the server detached from the test process, so a small `sh` watchdog stops
//! it and removes the folder if the test process dies without running `Drop`.

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// Set it to the folder holding `initdb` and `pg_ctl` to use those.
pub const BINDIR_ENV: &str = "EMPORIUM_TEST_PG_BINDIR";
/// Where Debian installs each major version's binaries (`<version>/bin`).
const DEBIAN_LIB: &str = "/usr/lib/postgresql";
/// The pgBackRest stanza of a backup-ready private cluster.
pub const BACKUP_STANZA: &str = "emporium";
/// How long `pg_ctl` may wait for the server to start or stop (seconds).
const PG_CTL_WAIT: &str = "30";

/// Stops the cluster (immediate mode) and removes its folder once the parent pid is gone.
const WATCHDOG_SCRIPT: &str = r#"parent=$1 dir=$2
shift 2
while kill -0 "$parent" 2>/dev/null; do
    sleep 1
done
"$@" >/dev/null 2>&1
rm -rf "$dir"
"#;

/// How [`PrivatePostgres::stop_with`] shuts the server down (`pg_ctl stop -m <mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Roll back open transactions, close connections, checkpoint: a clean shutdown.
    Fast,
    /// Kill every server process at once, like a crash or a power cut; the next start
    /// runs crash recovery from the write-ahead log.
    Immediate,
}

impl StopMode {
    fn as_arg(self) -> &'static str {
        match self {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        }
    }
}

/// A private PostgreSQL cluster; dropping it stops the server and deletes its folder.
#[derive(Debug)]
#[non_exhaustive]
pub struct PrivatePostgres {
    /// URL of the cluster's `postgres` database; the same across restarts.
    pub url: String,
    /// The port it listens on, the same across restarts.
    pub port: u16,
    tools: Tools,
    dir: PathBuf,
    watchdog: Option<std::process::Child>,
}

impl PrivatePostgres {
    /// Creates a cluster in a fresh temporary folder and starts it on a free port.
    pub async fn launch() -> Result<PrivatePostgres> {
        let tools = Tools::find()?;
        let dir = std::env::temp_dir().join(format!(
            "emporium-private-pg-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("sock"))
            .with_context(|| format!("creating {}", dir.display()))?;
        let port = super::mongo::free_port()?;
        let mut pg = PrivatePostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            tools,
            dir,
            watchdog: None,
        };
        // From here on, `Drop` cleans up whatever fails.
        if pg.tools.as_postgres {
            pg.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&pg.dir),
            )
            .await
            .context("handing the cluster folder to user postgres")?;
        }
        let data = pg.data();
        pg.run(
            pg.tools
                .command("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--no-locale", "--no-sync"]),
        )
        .await
        .context("initdb")?;
        pg.watchdog = Some(pg.spawn_watchdog()?);
        pg.start().await?;
        Ok(pg)
    }

    /// A cluster ready for backups: WAL archived into a pgBackRest repository of its own
    /// (stanza [`BACKUP_STANZA`] created), and its port and socket written into its
    /// configuration, so `pg_ctl start` alone starts it the same way after a restore.
    pub async fn launch_backup_ready() -> Result<PrivatePostgres> {
        let pg = PrivatePostgres::launch().await?;
        let conf = pg.pgbackrest_config();
        let dir = pg.dir.display().to_string();
        std::fs::write(
            &conf,
            format!(
                "[global]\nrepo1-path={dir}/repo\nrepo1-retention-full=4\nlog-path={dir}/pgbackrest-log\n\
                 lock-path={dir}/pgbackrest-lock\nstart-fast=y\nlog-level-console=warn\n\
                 [{BACKUP_STANZA}]\npg1-path={data}\npg1-port={port}\npg1-socket-path={dir}/sock\n",
                data = pg.data().display(),
                port = pg.port,
            ),
        )
        .context("writing pgbackrest.conf")?;
        let settings = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{dir}/sock'\n\
             wal_level = replica\narchive_mode = on\n\
             archive_command = 'pgbackrest --config={conf} --stanza={BACKUP_STANZA} archive-push %p'\n",
            port = pg.port,
            conf = conf.display(),
        );
        std::fs::write(pg.data().join("postgresql.auto.conf"), settings)
            .context("writing postgresql.auto.conf")?;
        for sub in ["repo", "pgbackrest-log", "pgbackrest-lock"] {
            std::fs::create_dir_all(pg.dir.join(sub))?;
        }
        if pg.tools.as_postgres {
            pg.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&pg.dir),
            )
            .await?;
        }
        pg.stop().await?;
        pg.start().await?;
        let mut create = pg.tools.command_on_path("pgbackrest");
        create
            .arg(format!("--config={}", conf.display()))
            .arg(format!("--stanza={BACKUP_STANZA}"))
            .arg("stanza-create");
        pg.run(&mut create).await.context(
            "pgbackrest stanza-create (is pgbackrest installed? apt-get install -y pgbackrest)",
        )?;
        Ok(pg)
    }

    /// The pgBackRest configuration file of a [`PrivatePostgres::launch_backup_ready`] cluster.
    pub fn pgbackrest_config(&self) -> PathBuf {
        self.dir.join("pgbackrest.conf")
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data()
    }

    /// The folder holding `pg_ctl`; `None` when the tools are on `PATH`.
    pub fn bindir(&self) -> Option<PathBuf> {
        self.tools.bindir.clone()
    }

    /// The user the server's tools must run as (`postgres` when the tests run as root).
    pub fn run_as(&self) -> Option<String> {
        self.tools.as_postgres.then(|| "postgres".to_owned())
    }

    /// Starts the server on the same port and data and waits until it accepts
    /// connections. An error when it is running already.
    pub async fn start(&self) -> Result<()> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100",
            self.port,
            self.dir.join("sock").display()
        );
        let log = self.dir.join("server.log");
        self.run(
            self.tools
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", PG_CTL_WAIT, "-o", &options, "start"]),
        )
        .await
        .with_context(|| {
            format!(
                "starting the private PostgreSQL cluster; its log ends:\n{}",
                tail(&log, 20)
            )
        })
    }

    /// Shuts the server down cleanly ([`StopMode::Fast`]) and waits until it is gone, so
    /// connections are refused when this returns. An error when it is not running.
    pub async fn stop(&self) -> Result<()> {
        self.stop_with(StopMode::Fast).await
    }

    /// Shuts the server down in `mode` and waits until it is gone.
    pub async fn stop_with(&self, mode: StopMode) -> Result<()> {
        self.run(&mut self.stop_command(mode))
            .await
            .context("stopping the private PostgreSQL cluster")
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn stop_command(&self, mode: StopMode) -> Command {
        let mut command = self.tools.command("pg_ctl");
        command.arg("-D").arg(self.data()).args([
            "-m",
            mode.as_arg(),
            "-w",
            "-t",
            PG_CTL_WAIT,
            "stop",
        ]);
        command
    }

    fn spawn_watchdog(&self) -> Result<std::process::Child> {
        let stop = self.stop_command(StopMode::Immediate);
        let stop = stop.as_std();
        std::process::Command::new("sh")
            .args(["-c", WATCHDOG_SCRIPT, "emporium-pg-watchdog"])
            .arg(std::process::id().to_string())
            .arg(&self.dir)
            .arg(stop.get_program())
            .args(stop.get_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning the PostgreSQL watchdog with `sh`")
    }

    /// Runs `command` to completion; its output goes into the error when it fails.
    async fn run(&self, command: &mut Command) -> Result<()> {
        let program = command.as_std().get_program().to_owned();
        let output = command
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("running {}", program.to_string_lossy()))?;
        if !output.status.success() {
            bail!(
                "{} failed ({}):\n{}{}",
                program.to_string_lossy(),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for PrivatePostgres {
    /// Stops the server at once (its data is thrown away anyway) and removes the folder.
    /// Synchronous: `Drop` may run outside any runtime.
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if self.data().join("postmaster.pid").exists() {
            let mut stop = self.stop_command(StopMode::Immediate);
            let stopped = stop
                .as_std_mut()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if !matches!(stopped, Ok(status) if status.success()) {
                eprintln!(
                    "warning: could not stop the private PostgreSQL cluster in {}",
                    self.dir.display()
                );
            }
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("warning: removing {} failed: {e}", self.dir.display());
            }
        }
    }
}

/// Where the server binaries are and whom they run as.
#[derive(Debug, Clone)]
struct Tools {
    /// `None`: found on `PATH`.
    bindir: Option<PathBuf>,
    /// Run through `runuser -u postgres --`: the server refuses to run as root.
    as_postgres: bool,
}

impl Tools {
    fn find() -> Result<Tools> {
        let bindir = match std::env::var_os(BINDIR_ENV) {
            Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
            _ => newest_debian_bindir(Path::new(DEBIAN_LIB)),
        };
        if let Some(dir) = &bindir {
            if !dir.join("initdb").is_file() {
                bail!("no initdb in {}", dir.display());
            }
        }
        Ok(Tools {
            bindir,
            as_postgres: is_root(),
        })
    }

    /// `program` from `PATH`, as the server's user.
    fn command_on_path(&self, program: &str) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", program]);
            command
        } else {
            Command::new(program)
        }
    }

    fn command(&self, tool: &str) -> Command {
        let program: OsString = match &self.bindir {
            Some(dir) => dir.join(tool).into_os_string(),
            None => tool.into(),
        };
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

/// `<lib>/<version>/bin` of the highest version that has `initdb`.
fn newest_debian_bindir(lib: &Path) -> Option<PathBuf> {
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = version_key(&entry.file_name().to_string_lossy())?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// `"15"` → `[15]`, `"9.6"` → `[9, 6]`; `None` for a name that is not a version.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The owner of `/proc/self` is the process's effective user.
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The last `lines` lines of a log file, or a note that it cannot be read.
fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(log) => {
            let all: Vec<&str> = log.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_key("15").unwrap() > version_key("9.6").unwrap());
        assert!(version_key("16").unwrap() > version_key("15").unwrap());
        assert_eq!(version_key("main"), None);
    }

    #[test]
    fn picks_the_newest_version_with_initdb() {
        let lib = std::env::temp_dir().join(format!("emporium-pglib-{}", uuid::Uuid::new_v4()));
        for (version, with_initdb) in [("9.6", true), ("15", true), ("16", false)] {
            let bin = lib.join(version).join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            if with_initdb {
                std::fs::write(bin.join("initdb"), b"").unwrap();
            }
        }
        std::fs::create_dir_all(lib.join("common")).unwrap();
        assert_eq!(newest_debian_bindir(&lib), Some(lib.join("15").join("bin")));
        std::fs::remove_dir_all(&lib).unwrap();
    }

    /// The whole life of a cluster: data written before a stop is there after the start,
    /// on the same URL; while stopped, connecting is refused; `Drop` removes everything.
    #[tokio::test]
    async fn stops_and_starts_again_on_the_same_port_and_data() {
        use sqlx::{Connection, PgConnection};
        let pg = PrivatePostgres::launch().await.expect("launch");
        let dir = pg.dir.clone();
        let mut conn = PgConnection::connect(&pg.url).await.expect("connect");
        sqlx::raw_sql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
            .execute(&mut conn)
            .await
            .expect("write");
        drop(conn);

        pg.stop().await.expect("stop");
        assert!(PgConnection::connect(&pg.url).await.is_err(), "stopped");
        assert!(pg.stop().await.is_err(), "stopping twice is an error");

        pg.start().await.expect("start");
        let mut conn = PgConnection::connect(&pg.url).await.expect("reconnect");
        let (n,): (i32,) = sqlx::query_as("SELECT n FROM kept")
            .fetch_one(&mut conn)
            .await
            .expect("read");
        assert_eq!(n, 42);
        drop(conn);

        pg.stop_with(StopMode::Immediate).await.expect("crash");
        pg.start().await.expect("start after a crash");
        drop(pg);
        assert!(!dir.exists(), "Drop removes the folder");
    }
}
