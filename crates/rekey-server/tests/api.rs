//! The HTTP surface in-process: [`rekey_server::app`] driven with `oneshot` over a temporary
//! SQLite vault and the fake AWS account. The roles × folders × endpoints matrix (every route
//! of the OpenAPI document has a row), error shapes, input validation, and the server-side
//! security findings (each test named after the finding it pins).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

#[path = "api/connections.rs"]
mod connections;
#[path = "api/input.rs"]
mod input;
#[path = "api/journal.rs"]
mod journal;
#[path = "api/listing.rs"]
mod listing;
#[path = "api/matrix.rs"]
mod matrix;
#[path = "api/schema.rs"]
mod schema;
#[path = "api/security.rs"]
mod security;
#[path = "api/tampered.rs"]
mod tampered;
#[path = "api/world.rs"]
mod world;
