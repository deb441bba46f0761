//! The coordinator's clock: a task that calls [`super::Groups::tick`] at the coordinator's next
//! deadline (session and rebalance timeouts, the initial rebalance delay, offset retention), and
//! at least every [`TICK_MS_MAX`] ms. A call that may have brought a deadline forward wakes it.
//! The task ends when the broker stops (the server aborts it before closing the log).

use std::sync::Arc;
use std::time::Duration;

use crate::state::{Broker, now_ms};

/// Longest sleep between ticks, so a missed wake-up costs at most this much lateness.
pub const TICK_MS_MAX: i64 = 250;

/// Shortest sleep, so a deadline `tick` does not clear cannot make the task spin.
const TICK_MS_MIN: i64 = 5;

/// Runs until aborted.
pub async fn run(broker: Arc<Broker>) {
    let groups = &broker.groups;
    loop {
        let now = now_ms();
        let sleep_ms = groups
            .next_deadline_ms()
            .await
            .map_or(TICK_MS_MAX, |d| d.saturating_sub(now).clamp(TICK_MS_MIN, TICK_MS_MAX));
        {
            let sleep = tokio::time::sleep(Duration::from_millis(u64::try_from(sleep_ms).unwrap_or(0)));
            tokio::select! {
                () = sleep => {}
                () = groups.wake.notified() => continue,
            }
        }
        groups.tick().await;
    }
}
