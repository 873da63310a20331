//! Agora: a small business's whole backend in one binary. See README.md.

pub mod app;
#[cfg(feature = "console")]
pub mod console;
pub mod domains;
pub mod platform;

pub use app::{Application, ApplicationBuilder, Platform};
pub use platform::config::Settings;
