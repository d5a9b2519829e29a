//! The `inlet` command: `serve` runs the service, `admin` manages API keys.

use clap::{Parser, Subcommand};
use inlet::config::{Config, Overrides};
use inlet::service::keys;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "inlet",
    version,
    about = "Self-hosted content ingestion: connectors into a private document store"
)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = "INLET_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Overrides `data_dir`.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (HTTP API and background work).
    Serve {
        /// Overrides `http_addr`.
        #[arg(long, value_name = "ADDR")]
        http_addr: Option<String>,
        /// Overrides `smtp_addr`.
        #[arg(long, value_name = "ADDR")]
        smtp_addr: Option<String>,
    },
    /// Manage API keys and background work, on the data of the server
    /// with the same `--config` / `--data-dir`.
    Admin {
        /// Create the data dir when it does not exist yet (otherwise that
        /// is an error: the settings probably do not name the server's).
        #[arg(long)]
        init: bool,
        #[command(subcommand)]
        command: Admin,
    },
    /// Extract the text of files framed on stdin as JSON on stdout, within
    /// the given limits (what `serve` runs extractions in; see
    /// `extract::isolate::child_main`).
    #[command(hide = true)]
    Extract {
        #[arg(long)]
        max_text_bytes: usize,
        #[arg(long)]
        max_unpacked_bytes: u64,
        #[arg(long)]
        max_entries: usize,
        #[arg(long)]
        max_memory_bytes: u64,
        #[arg(long)]
        cpu_seconds: u64,
    },
}

#[derive(Subcommand)]
enum Admin {
    /// Create an API key (and its org and user when new); prints the key alone on stdout.
    CreateKey {
        #[arg(long)]
        org: String,
        #[arg(long)]
        user: String,
        /// A note to recognise the key by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List API keys (never the keys themselves).
    ListKeys,
    /// Revoke an API key: it answers 401 from the next request on.
    RevokeKey {
        #[arg(value_name = "KEY_ID")]
        key_id: uuid::Uuid,
    },
    /// Run every due background job to completion, then exit; prints how many ran.
    RunJobs,
    /// Remove blobs no document references (older than `blobs.orphan_grace`); prints how many.
    SweepBlobs,
    /// List jobs waiting, running or dead.
    ListJobs,
    /// Merge the full-text index into one segment now, as the workers do
    /// when it is fragmented (SQLite; after a bulk import, say). Other
    /// writes go on meanwhile. Prints the segments before and after.
    CompactSearchIndex,
    /// Queue text extraction for completed documents never processed
    /// (stored before processing existed); the server's workers (or
    /// `run-jobs`) do it. Prints how many were queued.
    Reprocess {
        /// Only this connector's documents.
        #[arg(long, value_name = "ID")]
        connector: Option<uuid::Uuid>,
        /// Also documents already processed (after an extractor upgrade).
        #[arg(long)]
        force: bool,
        /// With --force: only those processed before this time (RFC 3339;
        /// default now). To resume an interrupted run, pass the time it printed.
        #[arg(long, value_name = "TIME", requires = "force")]
        before: Option<String>,
    },
    /// Copy every blob of `<data_dir>/blobs` into the configured S3 bucket,
    /// each verified by SHA-256; resumable and idempotent, progress on stderr.
    MigrateBlobs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Extract {
        max_text_bytes,
        max_unpacked_bytes,
        max_entries,
        max_memory_bytes,
        cpu_seconds,
    } = &cli.command
    {
        let limits = inlet::extract::Limits {
            max_text_bytes: *max_text_bytes,
            max_unpacked_bytes: *max_unpacked_bytes,
            max_entries: *max_entries,
        };
        inlet::extract::isolate::child_main(limits, *max_memory_bytes, *cpu_seconds);
        return ExitCode::SUCCESS;
    }
    let overrides = match &cli.command {
        Command::Serve {
            http_addr,
            smtp_addr,
        } => Overrides {
            data_dir: cli.data_dir.clone(),
            http_addr: http_addr.clone(),
            smtp_addr: smtp_addr.clone(),
        },
        Command::Admin { .. } | Command::Extract { .. } => Overrides {
            data_dir: cli.data_dir.clone(),
            ..Overrides::default()
        },
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("inlet: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Command::Admin { init: false, .. } = cli.command {
        if !config.data_dir.is_dir() {
            eprintln!(
                "inlet: data_dir {} does not exist: pass the server's --config or --data-dir \
                 (or --init to create it)",
                config.data_dir.display()
            );
            return ExitCode::from(2);
        }
    }
    if let Command::Serve { .. } = cli.command {
        keep_freed_memory();
    }
    inlet::telemetry::init(config.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("the tokio runtime starts");
    match runtime.block_on(run(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "inlet failed");
            eprintln!("inlet: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// glibc's allocator hands freed memory back to the kernel (a block above
/// its mmap threshold, the heap's top beyond the trim threshold), and a
/// request body's buffers are allocated anew, page fault by page fault, by
/// the next request: 6% of the server's CPU under uploads. Up to 8 MiB a
/// block comes from the heap, and the heap keeps up to 32 MiB free at its
/// top, before anything threads share is allocated.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets two of the allocator's thresholds; it is
    // called before the runtime's threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 8 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => {
            let deadline = config.shutdown_timeout();
            let app = inlet::Application::build(config).await?;
            let (signalled, mut on_signal) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = signalled.send(true);
            });
            let mut stopped = on_signal.clone();
            let serving = app.run_until_stopped(async move {
                let _ = stopped.wait_for(|s| *s).await;
            });
            tokio::select! {
                result = serving => result,
                _ = async {
                    let _ = on_signal.wait_for(|s| *s).await;
                    tokio::time::sleep(deadline).await;
                } => {
                    tracing::warn!(deadline_s = deadline.as_secs(), "shutdown deadline passed; exiting with work unfinished");
                    Ok(())
                }
            }
        }
        Command::Extract { .. } => unreachable!("handled before the runtime starts"),
        Command::Admin { command, .. } => {
            let state = inlet::open_state(config).await?;
            let store = state.store.as_ref();
            let now = inlet::domain::Timestamp::now;
            match command {
                Admin::CreateKey { org, user, name } => {
                    let (record, plain) = keys::create(store, &org, &user, name.as_deref()).await?;
                    tracing::info!(key_id = %record.key_id, org = %org, user = %user, "API key created");
                    println!("{plain}");
                }
                Admin::ListKeys => {
                    println!("KEY_ID\tORG\tUSER\tNAME\tCREATED_AT\tSTATUS");
                    for k in store.list_api_keys().await? {
                        let status = match k.revoked_at {
                            Some(at) => format!("revoked {}", at.to_rfc3339()),
                            None => "active".to_string(),
                        };
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{status}",
                            k.key_id,
                            k.org_id,
                            k.user_id,
                            k.name.unwrap_or_default(),
                            k.created_at.to_rfc3339()
                        );
                    }
                }
                Admin::RevokeKey { key_id } => {
                    if !store
                        .revoke_api_key(key_id, inlet::domain::Timestamp::now())
                        .await?
                    {
                        anyhow::bail!("no API key with id {key_id}");
                    }
                    tracing::info!(%key_id, "API key revoked");
                }
                Admin::RunJobs => {
                    let ran = inlet::jobs::Runner::new(state.clone())
                        .run_pending()
                        .await?;
                    println!("{ran}");
                }
                Admin::CompactSearchIndex => {
                    match inlet::service::search_index::compact_now(&state).await? {
                        Some((before, after)) => println!("{before} -> {after}"),
                        None => eprintln!("PostgreSQL maintains its search index itself"),
                    }
                }
                Admin::SweepBlobs => {
                    let removed = inlet::jobs::sweep::sweep_orphan_blobs(&state, now()).await?;
                    println!("{removed}");
                }
                Admin::Reprocess {
                    connector,
                    force,
                    before,
                } => {
                    let processed_before = match (force, before) {
                        (false, _) => None,
                        (true, None) => Some(now()),
                        (true, Some(t)) => Some(
                            inlet::domain::Timestamp::parse(&t)
                                .ok_or_else(|| anyhow::anyhow!("--before: {t:?} is not a time"))?,
                        ),
                    };
                    if let Some(t) = processed_before {
                        eprintln!("reprocessing documents processed before {}; if interrupted, resume with --force --before {}", t.to_rfc3339(), t.to_rfc3339());
                    }
                    let what = inlet::service::processing::Reprocess {
                        connector,
                        processed_before,
                    };
                    let queued = inlet::service::processing::reprocess(&state, &what, |n| {
                        eprintln!("queued {n}");
                    })
                    .await?;
                    println!("{queued}");
                }
                Admin::MigrateBlobs => {
                    if !state.blobs.is_s3() {
                        anyhow::bail!(
                            "migrate-blobs copies into S3: set [blobs] backend = \"s3\" and its bucket first"
                        );
                    }
                    let local_dir = state.config.data_dir.join("blobs");
                    if !local_dir.is_dir() {
                        anyhow::bail!("no local blob directory at {}", local_dir.display());
                    }
                    let local = inlet::blobs::BlobStore::local(&local_dir)?;
                    let done = inlet::blobs::migrate::migrate(&local, &state.blobs, |line| {
                        eprintln!("{line}")
                    })
                    .await?;
                    println!(
                        "{} blobs in the bucket: {} copied, {} already there",
                        done.total, done.copied, done.present
                    );
                }
                Admin::ListJobs => {
                    println!("JOB_ID\tKIND\tSTATE\tATTEMPTS\tRUN_AT\tLAST_ERROR");
                    for j in store.jobs().await? {
                        // A purge retries for as long as it takes.
                        let limit = match j.max_attempts {
                            i64::MAX => "unlimited".to_string(),
                            n => n.to_string(),
                        };
                        println!(
                            "{}\t{}\t{:?}\t{}/{limit}\t{}\t{}",
                            j.id,
                            j.kind,
                            j.state,
                            j.attempts,
                            j.run_at.to_rfc3339(),
                            j.last_error.unwrap_or_default()
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}
