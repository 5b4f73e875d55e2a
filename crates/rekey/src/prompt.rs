//! The no-echo prompt on the terminal (the vault passphrase, a secret typed rather than piped
//! in), and ending it from a signal handler.
//!
//! The line is read from the controlling terminal (`/dev/tty`) with echo off, on a thread of
//! its own, while the caller waits for it; the kernel's line discipline edits the line (erase,
//! kill) and turns Ctrl-C into SIGINT. A command that catches SIGINT and SIGTERM itself (`rekey
//! serve`, from its first moment) would otherwise go on waiting at the prompt after either, its
//! terminal silent: its handler calls [`interrupt`] instead, which puts the terminal's settings
//! back (echo on), discards what was typed and not entered, and ends the wait at once; a prompt
//! that would start after it ends before it shows. The reading thread, still blocked in its
//! read, ends with the process.
//!
//! A process-wide slot holds the prompt under way, because signals and the terminal are
//! process-wide too: whichever handler receives the signal must find the prompt that waits.

use nix::sys::termios::{self, FlushArg, LocalFlags, SetArg, Termios};
use rekey_crypto::Secret;
use std::{
    fs::File,
    io::{self, Read, Write},
    sync::{mpsc, Arc, Mutex, PoisonError},
};
use zeroize::Zeroizing;

/// The longest line read (a passphrase is far shorter; a paste of something else is refused).
const MAX_LINE: usize = 4096;

/// How a prompt ended.
#[derive(Debug)]
pub enum Answer {
    /// The line entered, without its line ending.
    Line(Secret),
    /// [`interrupt`] ended it: the terminal is as it was before the prompt.
    Interrupted,
}

/// The terminal while a prompt reads it.
struct Tty {
    file: File,
    /// Its settings before the prompt turned echo off, while the prompt still has the terminal
    /// (not yet answered, nor ended).
    reading: Mutex<Option<Termios>>,
    answer: mpsc::Sender<io::Result<Answer>>,
}

/// The prompt under way, if any.
static WAITING: Mutex<Slot> = Mutex::new(Slot::Idle);

/// What [`interrupt`] finds.
enum Slot {
    Idle,
    Waiting(Arc<Tty>),
    /// Interrupted while no prompt waited: the next one ends at once, running this first.
    Closed(Box<dyn FnOnce() + Send>),
}

/// What [`interrupt`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// A prompt was waiting; it has ended.
    Waiting,
    /// None was waiting; one that starts from now on ends before it shows.
    Closed,
}

fn slot() -> std::sync::MutexGuard<'static, Slot> {
    WAITING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What to run first when a signal came while no prompt waited (the slot then back to idle).
fn closed() -> Option<Box<dyn FnOnce() + Send>> {
    let mut slot = slot();
    match std::mem::replace(&mut *slot, Slot::Idle) {
        Slot::Closed(first) => Some(first),
        other => {
            *slot = other;
            None
        }
    }
}

impl Tty {
    /// Gives the terminal back and answers, once: whichever of the read and [`interrupt`] comes
    /// first does it, the other finds `reading` empty and leaves everything alone.
    fn finish(&self, answer: io::Result<Answer>, discard_typed: bool, first: impl FnOnce()) -> bool {
        let Some(before) = self.reading.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return false;
        };
        first();
        if discard_typed {
            // What was typed and not entered would otherwise reach whatever reads the terminal
            // next (the shell): part of a passphrase, as a command.
            let _ = termios::tcflush(&self.file, FlushArg::TCIFLUSH);
        }
        let _ = termios::tcsetattr(&self.file, SetArg::TCSANOW, &before);
        if discard_typed {
            let _ = (&self.file).write_all(b"\n");
        }
        let _ = self.answer.send(answer);
        true
    }
}

/// Prints `label` on the terminal and reads a line with echo off; [`Answer::Interrupted`] when a
/// signal handler ended the prompt ([`interrupt`]).
pub fn hidden(label: &str) -> io::Result<Answer> {
    // A signal before the prompt ends it before the terminal is even opened (so a terminal that
    // cannot be opened then is no error).
    if let Some(first) = closed() {
        first();
        return Ok(Answer::Interrupted);
    }
    let file = File::options().read(true).write(true).open("/dev/tty")?;
    let before = termios::tcgetattr(&file)?;
    let mut quiet = before.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    let (tx, rx) = mpsc::channel();
    let tty = Arc::new(Tty { file, reading: Mutex::new(Some(before)), answer: tx });
    {
        let mut slot = slot();
        if let Slot::Closed(first) = std::mem::replace(&mut *slot, Slot::Idle) {
            drop(slot);
            first();
            return Ok(Answer::Interrupted);
        }
        *slot = Slot::Waiting(tty.clone());
    }
    let started = start(&tty, label, &quiet);
    let answer = match started {
        Ok(()) => rx.recv().unwrap_or_else(|_| Err(io::Error::other("the prompt's reader stopped"))),
        Err(e) => {
            tty.finish(Err(e), false, || {});
            rx.recv().unwrap_or_else(|_| Err(io::Error::other("the prompt could not start")))
        }
    };
    let mut slot = slot();
    if matches!(&*slot, Slot::Waiting(t) if Arc::ptr_eq(t, &tty)) {
        *slot = Slot::Idle;
    }
    answer
}

/// Shows the label, turns echo off (unless the prompt was ended already) and starts the reader.
fn start(tty: &Arc<Tty>, label: &str, quiet: &Termios) -> io::Result<()> {
    (&tty.file).write_all(label.as_bytes())?;
    {
        // Under the lock: an interrupt that came first has restored the settings, and echo must
        // not be turned off after it.
        let reading = tty.reading.lock().unwrap_or_else(PoisonError::into_inner);
        if reading.is_none() {
            return Ok(());
        }
        termios::tcsetattr(&tty.file, SetArg::TCSAFLUSH, quiet)?;
    }
    let reader = tty.clone();
    std::thread::Builder::new().name("prompt".into()).spawn(move || {
        let line = read_line(&reader.file).map(Answer::Line);
        reader.finish(line, false, || {});
    })?;
    Ok(())
}

/// One line from `tty`, without its line ending, kept in memory that is wiped when dropped.
fn read_line(mut tty: &File) -> io::Result<Secret> {
    // Room for the longest line accepted, so the buffer never moves (leaving a copy behind).
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_LINE + 1));
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte) {
            Ok(0) if line.is_empty() => {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "nothing was entered"))
            }
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) if line.len() >= MAX_LINE => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "the line is too long"))
            }
            Ok(_) => line.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = std::str::from_utf8(&line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))?;
    Ok(Secret::new(text))
}

/// Ends the prompt under way: `first` runs (before anything reaches the prompt's caller), the
/// terminal gets its settings back (echo on), what was typed and not entered is discarded, and
/// the prompt answers [`Answer::Interrupted`]. When none waits, the next prompt to start does
/// the same before it shows anything.
pub fn interrupt(first: impl FnOnce() + Send + 'static) -> Interrupted {
    let mut slot = slot();
    match std::mem::replace(&mut *slot, Slot::Idle) {
        Slot::Waiting(tty) => {
            drop(slot);
            if tty.finish(Ok(Answer::Interrupted), true, first) {
                return Interrupted::Waiting;
            }
            // Its line was entered just now: it is not waiting any more.
            Interrupted::Closed
        }
        Slot::Idle | Slot::Closed(_) => {
            *slot = Slot::Closed(Box::new(first));
            Interrupted::Closed
        }
    }
}
