//! One module per command group: its clap arguments (where it has its own), parsing them into
//! engine requests, calling the engine, printing.

pub mod account;
pub mod audit;
pub mod discover;
pub mod docs;
pub mod heartbeat;
pub mod incident;
pub mod init;
pub mod policy;
pub mod provider;
pub mod report;
mod report_html;
pub mod rollback;
pub mod rotate;
pub mod rotation;
pub mod run_due;
pub mod serve;
mod targets;
pub mod token;
pub mod vault;
