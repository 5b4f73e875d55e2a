//! One module per command group: parse arguments into engine requests, call the engine, print.

pub mod account;
pub mod audit;
pub mod discover;
pub mod incident;
pub mod init;
pub mod policy;
pub mod provider;
pub mod report;
mod report_html;
pub mod rotate;
pub mod run_due;
pub mod serve;
mod targets;
pub mod vault;
