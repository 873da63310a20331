//! The one integration-test binary. Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL.

mod auth;
mod backup;
mod catalog;
mod cli;
#[cfg(feature = "console")]
mod console;
mod contract;
mod database;
mod errors;
mod files;
mod health;
mod helpers;
mod internal;
#[cfg(feature = "kafka")]
mod kafka;
mod locations;
mod mail;
mod mailer;
mod notifications;
mod orders;
mod queue;
mod rate_limit;
mod schema;
mod shutdown;
mod telemetry;
mod users;
