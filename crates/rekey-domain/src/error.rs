//! The one error a validation can produce: which field, what was wrong, how to fix it.

use std::fmt;

/// A value that does not satisfy rekey's (or IAM's) rules. Never holds a secret: callers pass
/// the offending value only for non-secret fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The field or argument, e.g. `user name`.
    pub field: &'static str,
    /// What was wrong, phrased for a human.
    pub problem: String,
    /// How to fix it.
    pub hint: String,
}

impl ValidationError {
    /// Builds an error for `field`.
    pub fn new(field: &'static str, problem: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { field, problem: problem.into(), hint: hint.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The hint is reported separately (the CLI's `hint:` line), not repeated here.
        write!(f, "invalid {}: {}", self.field, self.problem)
    }
}

impl std::error::Error for ValidationError {}

/// Quotes a user-supplied value for an error message, cut short so a pasted blob stays readable.
pub fn quote(value: &str) -> String {
    const MAX: usize = 80;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}… ({} characters)", value.chars().count())
    }
}
