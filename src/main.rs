use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use agora::platform::backup;
use agora::platform::metrics::Metrics;

mod healthcheck;

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
    /// Ask a running server whether it is ready (`GET /readyz`); exit 0 when it answers 200.
    /// For container health checks: needs no curl or wget in the image.
    Healthcheck {
        /// Where to ask; by default this configuration's port on the loopback address.
        #[arg(long)]
        url: Option<String>,
        #[arg(long, default_value_t = 5)]
        timeout_secs: u64,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Accounts administration.
    #[cfg(feature = "auth")]
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Token signing keys.
    #[cfg(feature = "auth")]
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Copy the database (with the queue's pending messages), the signing keys and the
    /// uploads into a new directory, while the server runs.
    Backup {
        /// Where to write the backup: a directory that does not exist yet, or is empty.
        dir: PathBuf,
    },
    /// Restore a backup into an empty database and data directory; then start the server.
    Restore {
        /// A directory `agora backup` wrote.
        dir: PathBuf,
    },
    /// Inspect the durable queue and replay dead letters.
    Queue {
        #[command(subcommand)]
        command: QueueCommand,
    },
}

#[cfg(feature = "auth")]
#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator account (verified, active).
    Create {
        #[arg(long)]
        email: String,
        /// File holding the password (first line); `-` reads standard input.
        #[arg(long)]
        password_file: PathBuf,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
}

#[cfg(feature = "auth")]
#[derive(Subcommand)]
enum AuthCommand {
    /// Add a new Ed25519 signing key to the keys directory. Restart the replicas to sign with
    /// it; tokens signed with older keys stay valid while those keys are kept.
    RotateKey,
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

/// glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB); after
/// that, request bodies and attachments of a few MiB come from arenas that keep their pages
/// once freed, and a burst of uploads left the process hundreds of MiB larger for good. With a
/// fixed threshold, blocks of 1 MiB and more go back to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_blocks_to_the_system() {
    // SAFETY: a plain setting of the allocator, made before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_blocks_to_the_system() {}

fn main() -> ExitCode {
    return_large_blocks_to_the_system();
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
        println!("{}", serde_json::to_string_pretty(&app::openapi())?);
        return Ok(());
    }
    let settings = Settings::load(&cli.config_dir)?;
    let problems = agora::domains::check_settings(&settings);
    if !problems.is_empty() {
        anyhow::bail!("configuration: {}", problems.join("; "));
    }
    if let Command::Healthcheck { url, timeout_secs } = &command {
        let url = url.clone().unwrap_or_else(|| {
            healthcheck::readyz_url(&settings.server.host, settings.server.port)
        });
        let status = healthcheck::probe(&url, std::time::Duration::from_secs(*timeout_secs))?;
        println!("{url}: {status}");
        return if status == 200 {
            Ok(())
        } else {
            Err(anyhow::anyhow!("{url} answered {status}"))
        };
    }
    if let Command::Config {
        command: ConfigCommand::Check,
    } = command
    {
        println!("# configuration is valid; effective settings (secrets masked):");
        print!("{}", settings.to_masked_toml());
        return Ok(());
    }
    let tracing = telemetry::init(&settings.log, &settings.telemetry);
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        match command {
            Command::Migrate => {
                let mut settings = settings;
                settings.database.migrate_on_start = false;
                let db = agora::platform::db::Db::connect(&settings).await?;
                let domains: Vec<_> = agora::domains::enabled().iter().map(|d| d.name).collect();
                db.migrate(&agora::platform::http::health::migration_owners(&domains))
                    .await
                    .context("applying migrations")?;
                tracing::info!(
                    database = db.backend().as_str(),
                    ?domains,
                    "migrations applied"
                );
                db.close().await;
                Ok(())
            }
            Command::Queue { command } => queue_command(&settings, command).await,
            Command::Backup { dir } => {
                let manifest =
                    backup::backup(&settings.database_url(), &backup_dirs(&settings)?, &dir)
                        .await?;
                println!(
                    "backup of the {} database and {} files in {}",
                    manifest.database,
                    manifest.files.len(),
                    dir.display()
                );
                Ok(())
            }
            Command::Restore { dir } => {
                let manifest =
                    backup::restore(&settings.database_url(), &backup_dirs(&settings)?, &dir)
                        .await?;
                println!(
                    "restored the backup of {} ({} files) from {}",
                    manifest.created_at,
                    manifest.files.len(),
                    dir.display()
                );
                Ok(())
            }
            #[cfg(feature = "auth")]
            Command::Admin { command } => admin_command(&settings, command).await,
            #[cfg(feature = "auth")]
            Command::Auth {
                command: AuthCommand::RotateKey,
            } => {
                let kid = agora::domains::auth::generate_key(
                    &settings
                        .section::<agora::domains::auth::AuthSettings>("auth")?
                        .jwt_keys_dir(&settings.data_dir),
                )?;
                println!(
                    "new signing key {kid} in {}",
                    settings
                        .section::<agora::domains::auth::AuthSettings>("auth")?
                        .jwt_keys_dir(&settings.data_dir)
                        .display()
                );
                Ok(())
            }
            _ => {
                let app = Application::builder(settings)
                    .handle_os_signals(true)
                    .build()
                    .await?;
                app.run().await
            }
        }
    });
    // Sends the spans still buffered.
    tracing.shutdown();
    result
}

/// The directories the enabled domains keep beside the database: one push per domain
/// feature that keeps one.
#[allow(clippy::vec_init_then_push)]
fn backup_dirs(settings: &Settings) -> anyhow::Result<Vec<backup::Directory>> {
    #[allow(unused_mut)]
    let mut dirs = Vec::new();
    #[cfg(feature = "auth")]
    dirs.push(backup::Directory {
        name: "jwt",
        path: settings
            .section::<agora::domains::auth::AuthSettings>("auth")?
            .jwt_keys_dir(&settings.data_dir),
    });
    #[cfg(feature = "files")]
    dirs.push(backup::Directory {
        name: "uploads",
        path: settings
            .section::<agora::domains::files::FilesSettings>("files")?
            .uploads_dir(&settings.data_dir),
    });
    let _ = settings;
    Ok(dirs)
}

async fn queue_command(settings: &Settings, command: QueueCommand) -> anyhow::Result<()> {
    let db = app::connect_database(settings).await?;
    let queue =
        agora::platform::queue::from_settings(db.clone(), &settings.queue, Metrics::new().queue)?;
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

#[cfg(feature = "auth")]
async fn admin_command(settings: &Settings, command: AdminCommand) -> anyhow::Result<()> {
    let AdminCommand::Create {
        email,
        password_file,
        name,
    } = command;
    let password = if password_file.as_os_str() == "-" {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    } else {
        std::fs::read_to_string(&password_file)
            .with_context(|| format!("reading {}", password_file.display()))?
    };
    let password = password.lines().next().unwrap_or_default().to_string();
    let db = app::connect_database(settings).await?;
    let auth = agora::domains::auth::AuthService::new(
        db.clone(),
        settings.section("auth")?,
        &settings.data_dir,
        &Metrics::new().registry,
        agora::platform::clock::Clock::system(),
    )?;
    let result = auth.create_admin(&email, password, &name).await;
    db.close().await;
    let user = result.map_err(|e| match e {
        agora::domains::auth::AuthError::Validation(errors) => anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        other => anyhow::anyhow!(other),
    })?;
    println!("created administrator {} ({})", user.email, user.id);
    Ok(())
}
