//! Shared infrastructure. Knows no domain.

pub mod clock;
pub mod config;
pub mod db;
pub mod http;
pub mod mailer;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod queue;
pub mod signing;
pub mod telemetry;
pub mod templating;
pub mod text;
