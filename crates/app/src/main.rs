//! The `emporium` command.

use clap::{Parser, Subcommand};
use emporium_app::{config::Settings, startup::Application, telemetry};
use emporium_domain::service::JobRequest;

/// Emporium: an e-commerce backend with its catalog in MongoDB and its money in PostgreSQL.
#[derive(Parser)]
#[command(name = "emporium", version, about)]
struct Cli {
    /// Configuration file (default: `emporium.toml` in the working directory, if present).
    #[arg(long, global = true)]
    config: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API (the default).
    Serve,
    /// Apply PostgreSQL migrations and create MongoDB collections, validators and indexes.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Compare the catalog, the inventory, the orders and their payments; print what
    /// disagrees as JSON. Exit code 0 when nothing remains to be done, 1 when findings
    /// remain, 2 when the check could not run.
    Reconcile {
        /// Also repair what is safe to repair (and report what was left, and why).
        #[arg(long)]
        fix: bool,
    },
    /// Back both stores up to one consistent point, into EMPORIUM_BACKUP_DIR (what
    /// `POST /api/admin/backup` does). Prints the backup's log entry; exit code 0 when it
    /// succeeded. With a server running, prefer the route: only the process taking the
    /// backup pauses its writes for the consistent point.
    Backup {
        /// `full` or `incremental` (where the store's tool can: pgBackRest).
        #[arg(long = "type", default_value = "full", value_parser = ["full", "incremental"])]
        backup_type: String,
    },
    /// Restore both stores to a backup's consistent point (the latest successful backup by
    /// default), then verify counts and run reconcile. Stop the server first, or use
    /// `POST /api/admin/restore`, which also renews its caches and search index.
    Restore {
        /// The backup to restore (its id in the backup log).
        #[arg(long)]
        backup_id: Option<uuid::Uuid>,
        /// Restore even while sagas are in flight; they are settled afterwards.
        #[arg(long)]
        force: bool,
    },
    /// Recover both stores to one moment (RFC 3339): the newest backup before it, then
    /// each store's archived log replayed up to it (what `POST /api/admin/pitr` does).
    /// Stop the server first, or use the route.
    Pitr {
        /// The moment to recover to, e.g. `2026-12-05T10:41:07Z`.
        #[arg(long)]
        to: chrono::DateTime<chrono::FixedOffset>,
    },
    /// Copy every store's data directory to one consistent point, into
    /// EMPORIUM_BACKUP_DIR/snapshots (what `POST /api/admin/snapshot` does): for stores on
    /// this host. RUNBOOK.md says how to start from one. Prints the snapshot's log entry.
    Snapshot,
    /// The seed's chaos engine (issue 13, RUNBOOK.md): a TCP fault proxy on `--listen` in
    /// front of the store EMPORIUM_POSTGRES_URL or EMPORIUM_MONGODB_URI names, putting a
    /// fault in for `--for` every `--every` (a random pause in the range). Point the app at
    /// the address it prints. Runs until Ctrl-C, and takes its fault out on the way.
    Chaos(ChaosArgs),
    /// Fill empty stores with a realistic shop (ADR 0023): suppliers, categories,
    /// warehouses, products with attributes, variants and stock, customers, a year of
    /// orders with payments, and reviews. The same `--seed` gives the same data. Loads
    /// with the stores' bulk paths (COPY, insert_many); refuses stores that hold data.
    Seed {
        #[arg(long, default_value_t = 1_000)]
        products: u32,
        #[arg(long, default_value_t = 1_000)]
        customers: u32,
        #[arg(long, default_value_t = 10_000)]
        orders: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The end of the generated order history (RFC 3339); a fixed date by default,
        /// so the seed alone decides every record.
        #[arg(long, default_value = emporium_seed::DEFAULT_END)]
        end: chrono::DateTime<chrono::FixedOffset>,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    let telemetry = telemetry::init(&settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&settings).await?;
            tracing::info!(listen = %settings.listen, port = app.port(), "emporium is serving");
            app.run_until_stopped().await?;
            tracing::info!("emporium stopped");
            telemetry.shutdown();
        }
        Command::Migrate => {
            let mut done = false;
            if let Some(url) = &settings.postgres_url {
                emporium_app::backend::connect_postgres(
                    url,
                    &settings,
                    true,
                    emporium_postgres::FeedWakeup::Notify,
                )
                .await?;
                println!("PostgreSQL: migrations applied");
                done = true;
            }
            if let Some(uri) = &settings.mongodb_uri {
                emporium_app::backend::connect_mongo(uri, &settings.mongodb_db, true).await?;
                println!("MongoDB: collections, validators and indexes in place");
                done = true;
            }
            if !done {
                anyhow::bail!(
                    "nothing to migrate: set EMPORIUM_POSTGRES_URL and/or EMPORIUM_MONGODB_URI"
                );
            }
        }
        Command::Reconcile { fix } => {
            let code = reconcile(&settings, fix).await;
            std::process::exit(code);
        }
        Command::Backup { backup_type } => {
            let kind = if backup_type == "incremental" {
                emporium_domain::model::BackupType::Incremental
            } else {
                emporium_domain::model::BackupType::Full
            };
            std::process::exit(run_job(&settings, JobRequest::Backup(kind)).await);
        }
        Command::Restore { backup_id, force } => {
            let request = emporium_domain::service::RestoreRequest {
                backup_id: backup_id.map(emporium_domain::model::JobId::from_uuid),
                force,
            };
            std::process::exit(run_job(&settings, JobRequest::Restore(request)).await);
        }
        Command::Chaos(args) => {
            std::process::exit(run_chaos(&settings, args).await);
        }
        Command::Snapshot => {
            std::process::exit(run_job(&settings, JobRequest::Snapshot).await);
        }
        Command::Pitr { to } => {
            let to = to.with_timezone(&chrono::Utc);
            std::process::exit(run_job(&settings, JobRequest::Pitr(to)).await);
        }
        Command::Seed {
            products,
            customers,
            orders,
            seed,
            end,
        } => {
            let plan = emporium_seed::SeedPlan {
                products,
                customers,
                orders,
                seed,
                end: end.with_timezone(&chrono::Utc),
            };
            std::process::exit(run_seed(&settings, plan).await);
        }
        Command::Openapi => {
            use utoipa::OpenApi;
            println!(
                "{}",
                emporium_app::http::openapi::ApiDoc::openapi().to_pretty_json()?
            );
        }
    }
    Ok(())
}

/// `emporium seed`: progress bars on stderr, the report as JSON on stdout. Exit code 0
/// when everything was written, 1 when the seed stopped (a store refused or failed), 2
/// when it could not start.
async fn run_seed(settings: &Settings, plan: emporium_seed::SeedPlan) -> i32 {
    // A seed needs the schema (migrations are idempotent), and charges nothing: the
    // payments it writes are history, so no gateway is needed.
    let settings = Settings {
        migrate_on_start: true,
        test_gateway: settings.test_gateway || settings.gateway_url.is_none(),
        ..settings.clone()
    };
    let backend = match emporium_app::backend::Backend::from_settings(
        &settings,
        emporium_postgres::FeedWakeup::Notify,
    )
    .await
    {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    if settings.postgres_url.is_none() || settings.mongodb_uri.is_none() {
        eprintln!(
            "warning: a store is in memory (set EMPORIUM_POSTGRES_URL and EMPORIUM_MONGODB_URI): \
             what is seeded there is gone when this command exits; useful only to time the generator"
        );
    }
    let targets = emporium_app::seed::targets(&backend);
    let bars = emporium_app::seed::Bars::new();
    match emporium_seed::seed(&plan, &targets, &bars).await {
        Ok(report) => {
            use std::io::Write;
            let json = emporium_app::seed::report_json(&plan, &report);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&json).unwrap_or_default()
            );
            let _ = out.flush();
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// `emporium reconcile [--fix]`: the report on stdout (logs go to stderr), and the exit code.
async fn reconcile(settings: &Settings, fix: bool) -> i32 {
    match run_reconciliation(settings, fix).await {
        Ok(report) => {
            use std::io::Write;
            let printed = serde_json::to_string_pretty(&report)
                .map_err(anyhow::Error::from)
                .and_then(|json| {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{json}")?;
                    out.flush()?;
                    Ok(())
                });
            match printed {
                Ok(()) if report.is_clean() => 0,
                Ok(()) => 1,
                Err(e) => {
                    eprintln!("error: could not print the report: {e:#}");
                    2
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            2
        }
    }
}

async fn run_reconciliation(
    settings: &Settings,
    fix: bool,
) -> anyhow::Result<emporium_domain::service::ReconciliationReport> {
    // Both stores must be the real ones: against an empty in-memory stand-in, every record
    // of the other store would look orphaned, and `--fix` would act on that.
    if settings.postgres_url.is_none() || settings.mongodb_uri.is_none() {
        anyhow::bail!(
            "reconcile compares PostgreSQL with MongoDB: set both EMPORIUM_POSTGRES_URL and \
             EMPORIUM_MONGODB_URI"
        );
    }
    // A data repair tool does not change the schema; `emporium migrate` does.
    let settings = Settings {
        migrate_on_start: false,
        ..settings.clone()
    };
    let backend = emporium_app::backend::Backend::from_settings(
        &settings,
        emporium_postgres::FeedWakeup::Notify,
    )
    .await?;
    let service = emporium_domain::service::ReconciliationService::new(backend.stores);
    Ok(if fix {
        service.fix().await?
    } else {
        service.check().await?
    })
}

/// Runs a backup or restore job in this process with a progress bar on stderr; prints the
/// finished job as JSON on stdout. Exit code 0 when it succeeded, 1 when it failed, 2 when
/// it could not start.
async fn run_job(settings: &Settings, request: JobRequest) -> i32 {
    let settings = Settings {
        migrate_on_start: false,
        ..settings.clone()
    };
    let backend = match emporium_app::backend::Backend::from_settings(
        &settings,
        emporium_postgres::FeedWakeup::Notify,
    )
    .await
    {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let service =
        emporium_app::backups::service(&backend, std::path::Path::new(&settings.backup_dir));
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    let mut progress = service.watch();
    let shown = bar.clone();
    let watcher = tokio::spawn(async move {
        while progress.changed().await.is_ok() {
            let step = progress.borrow().as_ref().and_then(|j| j.step.clone());
            if let Some(step) = step {
                // Steps read `k/n: what`.
                if let Some((k, n)) = step.split_once(':').and_then(|(c, _)| c.split_once('/')) {
                    if let (Ok(k), Ok(n)) = (k.trim().parse::<u64>(), n.trim().parse::<u64>()) {
                        shown.set_length(n);
                        shown.set_position(k.saturating_sub(1));
                    }
                }
                shown.set_message(step);
            }
        }
    });
    if let Err(e) = service.settle_interrupted().await {
        eprintln!("warning: could not check the backup log for interrupted jobs: {e}");
    }
    let outcome = service.run(Some("cli".into()), request).await;
    watcher.abort();
    match outcome {
        Ok(job) => {
            let ok = job.status == emporium_domain::model::JobStatus::Succeeded;
            if ok {
                bar.set_position(bar.length().unwrap_or(1));
                bar.finish_with_message("done");
            } else {
                bar.abandon_with_message("failed");
            }
            // Like `reconcile`: a closed stdout (`| head`) is not worth a panic.
            if let Ok(json) = serde_json::to_string_pretty(&job) {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{json}");
                let _ = out.flush();
            }
            if ok {
                0
            } else {
                1
            }
        }
        Err(e) => {
            bar.abandon();
            eprintln!("error: {e}");
            2
        }
    }
}

/// `emporium chaos`: see [`Command::Chaos`].
#[derive(clap::Args)]
struct ChaosArgs {
    /// The store to put faults in front of.
    #[arg(long, value_parser = ["postgres", "mongodb"])]
    target: String,
    /// Where the proxy listens (port 0: a free one, printed).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Latency to add, e.g. `100ms` (the default fault).
    #[arg(long, default_value = "100ms")]
    latency: String,
    /// Latency jitter, e.g. `20ms`.
    #[arg(long, default_value = "0ms")]
    jitter: String,
    /// Another fault instead of latency.
    #[arg(long, value_parser = ["bandwidth", "reset", "black-hole", "half-open"])]
    fault: Option<String>,
    /// For `--fault bandwidth`; at least 328 (noxious 1.0.4's bandwidth fault breaks below).
    #[arg(long, default_value_t = 512,
          value_parser = clap::value_parser!(u64).range(emporium_chaos::MIN_KILOBYTES_PER_SECOND..))]
    kilobytes_per_second: u64,
    /// The chance, per connection, that the fault applies (0 to 1).
    #[arg(long, default_value_t = 1.0)]
    probability: f32,
    /// The pause between faults, e.g. `2m..5m`, or one duration.
    #[arg(long, default_value = "2m..5m")]
    every: String,
    /// How long each fault lasts, e.g. `30s`.
    #[arg(long = "for", default_value = "30s")]
    length: String,
}

/// `host:port` of a store URL: after the user (`@`) or the scheme, before the path or
/// the options; the first host of a MongoDB seed list.
fn upstream_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = rest.split(['/', '?']).next()?.split(',').next()?;
    Some(if host.contains(':') {
        host.to_owned()
    } else {
        format!(
            "{host}:{}",
            if url.starts_with("mongodb") {
                27017
            } else {
                5432
            }
        )
    })
}

async fn run_chaos(settings: &Settings, args: ChaosArgs) -> i32 {
    use emporium_chaos::{parse_duration, Fault, FaultProxy, Schedule};
    let url = match args.target.as_str() {
        "postgres" => settings.postgres_url.clone(),
        _ => settings.mongodb_uri.clone(),
    };
    let Some(upstream) = url.as_deref().and_then(upstream_of) else {
        eprintln!(
            "error: no {} URL to put faults in front of (EMPORIUM_POSTGRES_URL or EMPORIUM_MONGODB_URI)",
            args.target
        );
        return 2;
    };
    let fault = match args.fault.as_deref() {
        None => match (parse_duration(&args.latency), parse_duration(&args.jitter)) {
            (Ok(latency), Ok(jitter)) => Fault::Latency { latency, jitter },
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                return 2;
            }
        },
        Some("bandwidth") => Fault::Bandwidth {
            kilobytes_per_second: args.kilobytes_per_second,
        },
        Some("reset") => Fault::Reset,
        Some("black-hole") => Fault::BlackHole,
        Some(_) => Fault::HalfOpen,
    };
    let schedule = match Schedule::parse(&args.every, &args.length) {
        Ok(schedule) => schedule,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let proxy = match FaultProxy::start(&args.target, &args.listen, &upstream).await {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let host = args.listen.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
    println!(
        "emporium chaos: {host}:{} -> {upstream}, {fault:?} with probability {} for {:?} every {:?}..{:?}; point the app's {} URL at {host}:{}",
        proxy.port(),
        args.probability,
        schedule.length,
        schedule.every_min,
        schedule.every_max,
        args.target,
        proxy.port()
    );
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match emporium_chaos::run_schedule(&proxy, fault, args.probability, schedule, stop).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::upstream_of;

    #[test]
    fn the_chaos_upstream_is_the_stores_host_and_port() {
        assert_eq!(
            upstream_of("postgres://postgres@127.0.0.1:5432/emporium").as_deref(),
            Some("127.0.0.1:5432")
        );
        assert_eq!(
            upstream_of("postgres://user:pw@db.internal/emporium").as_deref(),
            Some("db.internal:5432")
        );
        assert_eq!(
            upstream_of("mongodb://mongo1:27017,mongo2:27017/?replicaSet=rs0").as_deref(),
            Some("mongo1:27017")
        );
        assert_eq!(
            upstream_of("mongodb://127.0.0.1:27999/?directConnection=true").as_deref(),
            Some("127.0.0.1:27999")
        );
        assert_eq!(upstream_of("nonsense"), None);
    }
}
