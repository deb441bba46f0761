//! Time: transactions open longer than their timeout are aborted (the producer fenced, as
//! Kafka's `abortTimedOutTransactions`), and transactional ids idle for
//! `transactional.id.expiration.ms` are forgotten (a tombstone).

use crate::coordinator::Coordinator;
use crate::replies::Effects;
use crate::state::TxnState;

impl Coordinator {
    /// Does the work due at `now_ms`. The broker calls it at [`Coordinator::next_deadline_ms`] (or
    /// every few seconds, as Kafka's `transaction.abort.timed.out.transaction.cleanup.interval.ms`).
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut effects = Effects::default();
        let timed_out: Vec<_> = self
            .txns
            .values()
            .filter(|t| t.state == TxnState::Ongoing && t.start_ms.saturating_add(i64::from(t.timeout_ms)) < now_ms)
            .cloned()
            .collect();
        for meta in timed_out {
            effects.extend(self.fence_and_abort(meta, now_ms).effects);
        }
        let expired: Vec<_> = self
            .txns
            .values()
            .filter(|t| {
                t.state.is_idle()
                    && t.last_update_ms <= now_ms.saturating_sub(self.config.transactional_id_expiration_ms)
            })
            .map(|t| t.id.clone())
            .collect();
        for id in expired {
            effects.records.push(self.remove(&id));
        }
        self.check_invariants();
        effects
    }

    /// The earliest time at which [`Coordinator::tick`] has work, so the broker can sleep until
    /// then; `None` when there is nothing to wait for.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.txns
            .values()
            .filter_map(|t| match t.state {
                TxnState::Ongoing => Some(t.start_ms.saturating_add(i64::from(t.timeout_ms)).saturating_add(1)),
                s if s.is_idle() => Some(t.last_update_ms.saturating_add(self.config.transactional_id_expiration_ms)),
                _ => None,
            })
            .min()
    }
}
