//! Printing to standard output and standard error without panicking. `println!` and friends
//! panic when their stream is closed (`rekey report 2>&1 | head -1`), which turned a command's
//! exit code into 101. The runtime ignores SIGPIPE, so such a write fails with EPIPE instead of
//! killing the process; these macros drop that failure (the reader is gone: nothing is lost
//! that anyone would read) and the command ends with the exit code it would have had. Any other
//! failure to write standard output (a full disk, `> /dev/full`) is remembered: output such as
//! a token or a checked-out password would be lost, so the command then fails ([`lost`]).
//! SIGPIPE stays ignored on purpose: the same process makes HTTP calls and serves sockets, where
//! a peer that hangs up is an error to handle, not a signal that ends the process.
//! `clippy::print_stdout`/`print_stderr` keep the panicking macros out of this crate.

use std::io::Write;

/// Like `println!`; a closed stream is ignored.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::stdio::out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Like `eprintln!`; a closed stream is ignored.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::stdio::err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Like `eprint!` (a prompt, a progress line); a closed stream is ignored.
macro_rules! err {
    ($($arg:tt)*) => { $crate::stdio::err(format_args!($($arg)*)) };
}

/// The first failure to write standard output other than a closed pipe.
static LOST: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Writes `text` to standard output; a closed pipe is ignored, any other failure remembered.
pub fn out(text: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            if let Ok(mut lost) = LOST.lock() {
                lost.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// Why standard output could not be written, if it could not (other than a closed pipe).
pub fn lost() -> Option<String> {
    LOST.lock().ok().and_then(|l| l.clone())
}

/// Writes `text` to standard error, ignoring a failure (a closed pipe).
pub use rekey_engine::stderr::write as err;
