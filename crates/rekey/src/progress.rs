//! Progress of long runs on a terminal: `rotate`, `heartbeat`, `recover` and `run-due` redraw
//! one line on stderr — done, failed, in flight, rate, ETA — while they work, and erase it before
//! the final table is printed. Nothing is drawn when stderr is not a terminal (piped, redirected,
//! cron), so output for scripts is unchanged.

use rekey_engine::progress::{Progress, Tally};
use std::{
    io::{IsTerminal, Write},
    sync::Arc,
    time::{Duration, Instant},
};

/// The line being drawn; erased when dropped or [`Shown::done`].
#[derive(Debug)]
pub struct Shown {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Starts drawing `what`'s progress (e.g. "rotate") from `progress`, if stderr is a terminal.
pub fn show(progress: &Arc<Progress>, what: &'static str) -> Option<Shown> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    progress.reset();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let progress = progress.clone();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => draw(&line(what, progress.tally(), started.elapsed())),
                _ = &mut stopped => break,
            }
        }
        draw("");
    });
    Some(Shown { stop: Some(stop), task: Some(task) })
}

impl Shown {
    /// Erases the line (before the final output is printed).
    pub async fn done(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Shown {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            draw("");
        }
    }
}

/// Erases the current line of stderr and writes `text` on it.
fn draw(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K{text}");
    let _ = err.flush();
}

/// `rotate: 120/1000 done, 2 failed, 32 in flight, 3.4/s, ETA 4m18s`.
pub fn line(what: &str, t: Tally, elapsed: Duration) -> String {
    let finished = t.done + t.failed;
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { finished as f64 / secs } else { 0.0 };
    let left = t.total.saturating_sub(finished);
    let eta = if rate > 0.0 { format_eta(left as f64 / rate) } else { "-".into() };
    format!(
        "{what}: {}/{} done, {} failed, {} in flight, {rate:.1}/s, ETA {eta}",
        t.done, t.total, t.failed, t.in_flight
    )
}

fn format_eta(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_counts_rate_and_eta() {
        let t = Tally { total: 100, done: 18, failed: 2, in_flight: 8 };
        assert_eq!(
            line("rotate", t, Duration::from_secs(10)),
            "rotate: 18/100 done, 2 failed, 8 in flight, 2.0/s, ETA 40s"
        );
        assert!(line("recover", Tally::default(), Duration::ZERO).ends_with("ETA -"));
        assert_eq!(format_eta(4000.0), "1h06m");
        assert_eq!(format_eta(125.0), "2m05s");
    }
}
