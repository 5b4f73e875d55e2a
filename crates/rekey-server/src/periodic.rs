//! Rounds of background work at an interval, until the server stops: the scheduler, each audit
//! export and the notifier are driven by [`every`].

use std::time::Duration;
use tokio::sync::watch;

/// Runs `round` now and then every `interval` after the previous round ended, until `stop`
/// turns true (a round under way finishes first). The scheduler, each audit export and the
/// notifier are driven by it.
pub(crate) async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    while !*stop.borrow() {
        round().await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
