//! Printing to standard output and standard error without panicking. `outln!` and friends
//! panic when their stream is closed (`rekey report 2>&1 | head -1`), which turned a command's
//! exit code into 101. The runtime ignores SIGPIPE, so such a write fails with EPIPE instead of
//! killing the process; these macros drop the failure (there is nowhere left to report it) and
//! the command ends with the exit code it would have had. SIGPIPE stays ignored on purpose: the
//! same process makes HTTP calls and serves sockets, where a peer that hangs up is an error to
//! handle, not a signal that ends the process. `clippy::print_stdout`/`print_stderr` keep the
//! panicking macros out of this crate.

use std::io::Write;

/// Like `outln!`, on standard output; a closed stream is ignored.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::stdio::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Like `errln!`, on standard error; a closed stream is ignored.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::stdio::err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Like `err!` (a prompt, a progress line), on standard error; a closed stream is ignored.
macro_rules! err {
    ($($arg:tt)*) => { $crate::stdio::err(format_args!($($arg)*)) };
}

/// Writes `text` to standard output, ignoring a failure (a closed pipe).
pub fn out(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(text).and_then(|()| out.flush());
}

/// Writes `text` to standard error, ignoring a failure (a closed pipe).
pub fn err(text: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(text).and_then(|()| err.flush());
}
