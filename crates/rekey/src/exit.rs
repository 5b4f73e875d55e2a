//! Exit codes by error class (documented in the README) and the error report on stderr.

use crate::cli::Format;
use rekey_engine::{Error, ErrorClass};
use std::process::ExitCode;

pub const INTERNAL: u8 = 1;

/// The exit code of an error class.
pub fn code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Internal => INTERNAL,
        ErrorClass::Usage => 2,
        ErrorClass::NotFound => 3,
        ErrorClass::Conflict => 4,
        ErrorClass::Auth => 5,
        ErrorClass::Upstream => 6,
        ErrorClass::Locked => 7,
        ErrorClass::Integrity => 8,
        ErrorClass::Findings => 9,
        ErrorClass::Storage => 10,
    }
}

/// A stable name of an error class, for JSON error output.
fn name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Internal => "internal",
        ErrorClass::Usage => "usage",
        ErrorClass::NotFound => "not-found",
        ErrorClass::Conflict => "conflict",
        ErrorClass::Auth => "auth",
        ErrorClass::Upstream => "upstream",
        ErrorClass::Locked => "locked",
        ErrorClass::Integrity => "integrity",
        ErrorClass::Findings => "findings",
        ErrorClass::Storage => "storage",
    }
}

/// Prints the error (as JSON on stderr with `--output json`) and returns its exit code.
pub fn report(e: &Error, format: Format) -> ExitCode {
    let class = e.class();
    let hint = e.hint();
    if format == Format::Json {
        let v = serde_json::json!({ "error": { "class": name(class), "exit_code": code(class), "message": e.to_string(), "hint": hint } });
        errln!("{v}");
    } else {
        errln!("error: {e}");
        if let Some(h) = hint {
            errln!("  hint: {h}");
        }
    }
    ExitCode::from(code(class))
}
