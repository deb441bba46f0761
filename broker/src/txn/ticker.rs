//! The transaction coordinator's clock and loader: a task that first replays
//! `__transaction_state` and writes the markers of transactions left preparing, then calls
//! [`super::Transactions::tick`] at the coordinator's next deadline (a transaction's timeout,
//! a transactional id's expiry), and at least every
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms`. Markers of the transactions a
//! tick aborts are written at once. The task ends when the broker stops (the server aborts it).

use std::sync::Arc;
use std::time::Duration;

use crate::state::{Broker, now_ms};

/// Shortest sleep, so a deadline `tick` does not clear cannot make the task spin.
const TICK_MS_MIN: i64 = 5;
/// Wait before retrying a replay that failed (a read error of the log).
const LOAD_RETRY_MS: u64 = 1000;

/// Runs until aborted.
pub async fn run(broker: Arc<Broker>) {
    let txns = &broker.txns;
    loop {
        match txns.load().await {
            Ok(pending) => {
                super::markers::spawn(&broker, pending);
                break;
            }
            Err(error) => {
                tracing::error!(%error, "cannot replay __transaction_state; retrying");
                tokio::time::sleep(Duration::from_millis(LOAD_RETRY_MS)).await;
            }
        }
    }
    let interval_ms = i64::from(broker.config.settings.transaction_abort_timed_out_transaction_cleanup_interval_ms);
    loop {
        let now = now_ms();
        let sleep_ms = txns
            .next_deadline_ms()
            .await
            .map_or(interval_ms, |d| d.saturating_sub(now).clamp(TICK_MS_MIN, interval_ms.max(TICK_MS_MIN)));
        {
            let sleep = tokio::time::sleep(Duration::from_millis(u64::try_from(sleep_ms).unwrap_or(0)));
            tokio::select! {
                () = sleep => {}
                () = txns.wake.notified() => continue,
            }
        }
        let markers = txns.tick().await;
        super::markers::spawn(&broker, markers);
    }
}
