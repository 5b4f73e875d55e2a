//! `rekey serve` at its passphrase prompt on a real terminal: a pseudo-terminal the test holds,
//! made the process's controlling terminal by `setsid --ctty`, so that rekey reads `/dev/tty`
//! as on an operator's console and Ctrl-C typed there reaches it as SIGINT from the kernel.
//! Ctrl-C, or SIGTERM from outside, ends the process at once with exit 0 and nothing served,
//! and leaves the terminal as it was: echo on, and what was typed and not entered discarded
//! (it never reaches whatever reads the terminal next, the shell). Each case runs
//! `REKEY_SOAK_TRIALS` trials (default 3).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::{
    suite::{soak, until},
    Sandbox,
};
use nix::{
    pty::openpty,
    sys::termios::{tcgetattr, LocalFlags},
};
use std::{
    fs::File,
    io::{Read, Write},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    thread,
    time::Duration,
};

/// A bound on any one wait (a hung test fails instead of hanging CI).
const PATIENCE: Duration = Duration::from_secs(60);

/// `rekey serve` waiting at its passphrase prompt on a terminal of the test's.
struct AtPrompt {
    child: Child,
    /// The terminal's side the test types into and reads the screen from.
    master: File,
    /// The process's side, kept open to read the terminal's settings and what it would read next.
    slave: File,
    /// Everything the process wrote to its terminal.
    screen: Arc<Mutex<String>>,
}

impl AtPrompt {
    fn start(sb: &Sandbox) -> Self {
        let pty = openpty(None, None).unwrap();
        let (master, slave) = (File::from(pty.master), File::from(pty.slave));
        // The sandbox's own invocation, without the passphrase it would take from the
        // environment, as the session leader of the terminal.
        let rekey = sb.std_rekey();
        let mut c = Command::new("setsid");
        c.arg("--ctty").arg(rekey.get_program()).args(rekey.get_args()).env_clear();
        for (k, v) in rekey.get_envs() {
            if let (Some(v), false) = (v, k == "REKEY_PASSPHRASE") {
                c.env(k, v);
            }
        }
        c.args(["serve", "--listen", "127.0.0.1:0"]);
        c.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        let child = c.spawn().unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let (mut from, into) = (master.try_clone().unwrap(), screen.clone());
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = from.read(&mut buf) {
                into.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let p = Self { child, master, slave, screen };
        // Waiting: the prompt is shown and echo is off.
        until("the passphrase prompt, echo off", PATIENCE, || {
            let echo = tcgetattr(&p.slave).unwrap().local_flags.contains(LocalFlags::ECHO);
            (p.shown().contains("Vault passphrase: ") && !echo).then_some(())
        });
        p
    }

    fn shown(&self) -> String {
        self.screen.lock().unwrap().clone()
    }

    fn typed(&mut self, text: &[u8]) {
        self.master.write_all(text).unwrap();
    }

    /// The exit code, waited for at most [`PATIENCE`].
    fn exit_code(&mut self) -> Option<i32> {
        let child = &mut self.child;
        until("rekey serve ends", PATIENCE, || child.try_wait().unwrap()).code()
    }

    /// What a program reading the terminal next would read, once a line is entered.
    fn next_line(&mut self) -> String {
        self.typed(b"\n");
        let (tx, rx) = mpsc::channel();
        let mut slave = self.slave.try_clone().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 256];
            let n = slave.read(&mut buf).unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
        });
        rx.recv_timeout(PATIENCE).unwrap()
    }
}

impl Drop for AtPrompt {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Ends the prompt by `how` after typing part of a passphrase, and checks the promise.
fn ended_at_prompt(how: &str) {
    let sb = Sandbox::new();
    sb.init();
    let trials = soak("REKEY_SOAK_TRIALS", 3, 3);
    for trial in 1..=trials {
        let mut p = AtPrompt::start(&sb);
        p.typed(b"half-typed");
        let signal = match how {
            "ctrl-c" => {
                p.typed(b"\x03");
                "SIGINT"
            }
            _ => {
                let pid = p.child.id().to_string();
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
                assert_eq!(comm.trim(), "rekey", "trial {trial}: setsid ran rekey in its own place");
                assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
                "SIGTERM"
            }
        };
        let code = p.exit_code();
        assert_eq!(code, Some(0), "trial {trial}: {how}: {}", p.shown());
        let said =
            format!("rekey serve: stopped during start-up ({signal}) at the passphrase prompt; nothing was started");
        // rekey's last line may still be on its way through the terminal when the process has
        // ended; everything it printed before arrives first.
        let shown = until("the stop line", PATIENCE, || {
            let s = p.shown();
            s.contains(&said).then_some(s)
        });
        assert!(!shown.contains("half-typed"), "trial {trial}: nothing typed was shown: {shown}");
        assert!(!shown.contains("error:"), "trial {trial}: {how}: {shown}");
        let flags = tcgetattr(&p.slave).unwrap().local_flags;
        assert!(flags.contains(LocalFlags::ECHO | LocalFlags::ICANON), "trial {trial}: {how}: the terminal: {flags:?}");
        assert_eq!(p.next_line(), "\n", "trial {trial}: {how}: what was typed was discarded");
    }
    eprintln!("{trials} trials: the prompt ended by {how}");
}

#[test]
fn ctrl_c_at_the_passphrase_prompt_ends_serve_at_once() {
    ended_at_prompt("ctrl-c");
}

#[test]
fn sigterm_at_the_passphrase_prompt_ends_serve_at_once() {
    ended_at_prompt("sigterm");
}

/// The prompt still takes a passphrase: entered on the terminal, the server starts (and stops
/// on SIGTERM as always).
#[test]
fn a_passphrase_entered_at_the_prompt_starts_serve() {
    let sb = Sandbox::new();
    sb.init();
    let mut p = AtPrompt::start(&sb);
    p.typed(format!("{}\n", common::PASSPHRASE).as_bytes());
    until("the server listens", PATIENCE, || p.shown().contains("listening").then_some(()));
    let flags = tcgetattr(&p.slave).unwrap().local_flags;
    assert!(flags.contains(LocalFlags::ECHO), "echo is back on once the passphrase was entered: {flags:?}");
    assert!(!p.shown().contains(common::PASSPHRASE), "the passphrase was not shown: {}", p.shown());
    assert!(Command::new("kill").args(["-TERM", &p.child.id().to_string()]).status().unwrap().success());
    assert_eq!(p.exit_code(), Some(0), "{}", p.shown());
}
