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
                emporium_app::backend::connect_postgres(url, &settings, true).await?;
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
