use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use agora::platform::metrics::Metrics;
use agora::platform::queue::{DatabaseQueue, QueueBackend};
use agora::platform::telemetry;
use agora::{app, Application, Settings};

/// Agora: accounts, shop, mail, notifications and locations in one self-hosted binary.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Directory with optional default.toml and {AGORA_ENV}.toml overlays.
    #[arg(
        long,
        env = "AGORA_CONFIG_DIR",
        default_value = "config",
        global = true
    )]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON) of this build.
    Openapi,
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Inspect the durable queue and replay dead letters.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
}

#[derive(Subcommand)]
enum QueueCommand {
    /// Backlog per consumer group, as JSON.
    Stats,
    /// Dead-lettered deliveries, newest first, as JSON.
    DeadLetters {
        /// Only this consumer group.
        #[arg(long)]
        consumer: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
        #[arg(long, default_value_t = 0)]
        offset: u64,
    },
    /// Put a dead delivery back in line with a fresh set of attempts.
    Replay {
        /// The `delivery_id` shown by `dead-letters`.
        delivery_id: uuid::Uuid,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective settings, secrets masked.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", app::openapi().to_pretty_json()?);
        return Ok(());
    }
    let settings = Settings::load(&cli.config_dir)?;
    if let Command::Config {
        command: ConfigCommand::Check,
    } = command
    {
        println!("# configuration is valid; effective settings (secrets masked):");
        print!("{}", settings.to_masked_toml());
        return Ok(());
    }
    telemetry::init(&settings.log);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        match command {
            Command::Migrate => {
                let mut settings = settings;
                settings.database.migrate_on_start = false;
                let db = agora::platform::db::Db::connect(&settings).await?;
                db.migrate().await.context("applying migrations")?;
                tracing::info!(database = db.backend().as_str(), "migrations applied");
                db.close().await;
                Ok(())
            }
            Command::Queue { command } => queue_command(&settings, command).await,
            _ => {
                let app = Application::builder(settings)
                    .handle_os_signals(true)
                    .build()
                    .await?;
                app.run().await
            }
        }
    })
}

async fn queue_command(settings: &Settings, command: QueueCommand) -> anyhow::Result<()> {
    let db = app::connect_database(settings).await?;
    let queue = DatabaseQueue::new(db.clone(), settings.queue.clone(), Metrics::new().queue);
    let result = match command {
        QueueCommand::Stats => {
            let stats = queue.stats().await?;
            println!("{}", serde_json::to_string_pretty(&stats)?);
            Ok(())
        }
        QueueCommand::DeadLetters {
            consumer,
            limit,
            offset,
        } => {
            let (items, total) = queue
                .dead_letters(consumer.as_deref(), limit, offset)
                .await?;
            let page = serde_json::json!({ "data": items, "total": total });
            println!("{}", serde_json::to_string_pretty(&page)?);
            Ok(())
        }
        QueueCommand::Replay { delivery_id } => {
            if queue.replay(delivery_id).await? {
                println!("replayed {delivery_id}");
                Ok(())
            } else {
                Err(anyhow::anyhow!("no dead delivery {delivery_id}"))
            }
        }
    };
    db.close().await;
    result
}
