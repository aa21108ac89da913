//! The `emporium` command.

use clap::{Parser, Subcommand};
use emporium_app::{config::Settings, startup::Application, telemetry};

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
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(&settings.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&settings).await?;
            tracing::info!(listen = %settings.listen, port = app.port(), "emporium is serving");
            app.run_until_stopped().await?;
            tracing::info!("emporium stopped");
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
