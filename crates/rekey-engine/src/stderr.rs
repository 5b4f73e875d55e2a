//! Writing to standard error without panicking, for the CLI and the server alike. `eprintln!`
//! panics when standard error is a closed pipe (`rekey report 2>&1 | head -1`, `rekey serve
//! 2>&1 | head -1`), which turned a command's exit code into 101 and took the server down. The
//! runtime ignores SIGPIPE, so such a write fails with EPIPE; the failure is dropped here:
//! nobody reads the stream any more, and there is nowhere else to say so.

use std::io::Write;

/// Writes `text` to standard error; a failure to write (a closed pipe) is ignored.
pub fn write(text: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(text).and_then(|()| err.flush());
}
