//! Logging: JSON lines when not on a terminal (or `log.format = "json"`), pretty otherwise.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::platform::config::{LogFormat, LogSettings};

/// Installs the global subscriber; `RUST_LOG` overrides `log.level`. A second call is a no-op.
pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let json = match settings.format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
