//! What the leader of a partition knows about its followers (Kafka's `Partition` leader side):
//! each follower's log end offset as its fetches report it and when it last caught up, from
//! which the high watermark (the least log end of the in-sync replicas) follows, and which
//! followers should join or leave the in-sync replicas. No sockets, no clock: callers pass the
//! time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use strata_log::Partition;
use tokio::sync::watch;
use uuid::Uuid;

/// An in-sync replica change to propose: the partition epoch it was worked out in, and the new
/// in-sync replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub partition_epoch: i32,
    pub to: Vec<i32>,
}

/// One follower's progress as the leader saw it.
#[derive(Debug, Clone, Copy)]
struct Follower {
    /// Its log end offset: the offset of its last fetch.
    log_end: i64,
    /// When it last fetched, and the leader's log end then (Kafka's `lastFetchLeaderLogEndOffset`).
    last_fetch_ms: i64,
    leader_end_at_last_fetch: i64,
    /// When its log last reached the leader's log end.
    caught_up_ms: i64,
}

#[derive(Debug)]
struct Progress {
    isr: Vec<i32>,
    /// The partition epoch the in-sync replicas are of.
    partition_epoch: i32,
    followers: HashMap<i32, Follower>,
    /// The in-sync replicas being committed, if a change is: no other is proposed meanwhile, and
    /// until it commits the high watermark waits for the replicas of both (Kafka's "maximal
    /// ISR"), so a follower that joins is never elected without what the leader acknowledged
    /// while its joining was committed. It ends when the metadata shows the partition in a
    /// later partition epoch (this change committed, or another that makes it refused), or when
    /// the proposal fails.
    pending: Option<Vec<i32>>,
}

impl Progress {
    /// The replicas the high watermark waits for: the in-sync ones and any joining.
    fn maximal_isr(&self) -> impl Iterator<Item = i32> + '_ {
        let joining = self.pending.iter().flatten().filter(|r| !self.isr.contains(r));
        self.isr.iter().chain(joining).copied()
    }
}

/// A partition this broker leads, in one leader epoch.
#[derive(Debug)]
pub struct LeaderState {
    pub topic_id: Uuid,
    pub index: i32,
    pub leader_epoch: i32,
    node: i32,
    pub log: Arc<Partition>,
    /// The log end when this epoch began: a follower joins the in-sync replicas only once it has
    /// reached it (so it holds nothing of an older leader that this one lacks).
    epoch_start: i64,
    /// When this broker became leader: followers it has not heard from count as caught up then.
    since_ms: i64,
    progress: Mutex<Progress>,
    /// Set once this broker no longer leads the partition in this epoch: a write still waiting
    /// for its followers is then never acknowledged, since the log it was written to now follows
    /// another leader (and may hold other records at its offsets).
    resigned: watch::Sender<bool>,
}

impl LeaderState {
    pub fn new(
        node: i32,
        topic_id: Uuid,
        index: i32,
        leader_epoch: i32,
        (isr, partition_epoch): (Vec<i32>, i32),
        log: Arc<Partition>,
        now_ms: i64,
    ) -> LeaderState {
        let epoch_start = log.log_end_offset();
        let progress = Progress { isr, partition_epoch, followers: HashMap::new(), pending: None };
        let state = LeaderState {
            topic_id,
            index,
            leader_epoch,
            node,
            log,
            epoch_start,
            since_ms: now_ms,
            progress: Mutex::new(progress),
            resigned: watch::Sender::new(false),
        };
        // Readers see no further than what was committed before: the high watermark the log has
        // (a follower's, or the previous epoch's), raised only as followers catch up.
        let frozen = state.log.high_watermark();
        state.log.set_replicated_high_watermark(frozen);
        state.update_high_watermark(&state.lock());
        state
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// This broker stops leading the partition in this epoch.
    pub fn resign(&self) {
        self.resigned.send_replace(true);
    }

    pub fn has_resigned(&self) -> bool {
        *self.resigned.borrow()
    }

    /// Resolves once [`LeaderState::resign`] is called.
    pub async fn resigned(&self) {
        let mut resigned = self.resigned.subscribe();
        // The sender lives as long as `self`: an error cannot happen while it is borrowed.
        let _ = resigned.wait_for(|r| *r).await;
    }

    /// The in-sync replicas, this broker included.
    pub fn isr(&self) -> Vec<i32> {
        self.lock().isr.clone()
    }

    /// The metadata shows the partition's in-sync replicas in `partition_epoch`: taken if that is
    /// newer than what this leader has (an image older than a change it saw commits nothing).
    pub fn set_isr(&self, isr: &[i32], partition_epoch: i32) {
        let mut progress = self.lock();
        if partition_epoch > progress.partition_epoch {
            progress.isr = isr.to_vec();
            progress.partition_epoch = partition_epoch;
            progress.pending = None;
            self.update_high_watermark(&progress);
        }
    }

    /// A follower fetched from `fetch_offset` (its log end). Returns the in-sync replica change
    /// to propose when it should join them.
    pub fn follower_fetched(&self, follower: i32, fetch_offset: i64, now_ms: i64) -> Option<IsrChange> {
        let leader_end = self.log.log_end_offset();
        let mut progress = self.lock();
        let previous = progress.followers.get(&follower).copied();
        let mut caught_up_ms = previous.map_or(self.since_ms, |f| f.caught_up_ms);
        if fetch_offset >= leader_end {
            caught_up_ms = now_ms;
        } else if let Some(previous) = previous
            && fetch_offset >= previous.leader_end_at_last_fetch
        {
            // It has what the leader had at its previous fetch: caught up as of then.
            caught_up_ms = caught_up_ms.max(previous.last_fetch_ms);
        }
        let state = Follower {
            log_end: fetch_offset,
            last_fetch_ms: now_ms,
            leader_end_at_last_fetch: leader_end,
            caught_up_ms,
        };
        progress.followers.insert(follower, state);
        self.update_high_watermark(&progress);
        let joins = !progress.isr.contains(&follower)
            && progress.pending.is_none()
            && fetch_offset >= self.log.high_watermark()
            && fetch_offset >= self.epoch_start;
        joins.then(|| {
            let mut isr = progress.isr.clone();
            isr.push(follower);
            progress.pending = Some(isr.clone());
            IsrChange { partition_epoch: progress.partition_epoch, to: isr }
        })
    }

    /// The in-sync replicas without the followers that have not caught up within `lag_max_ms`,
    /// when any should leave.
    pub fn shrunk_isr(&self, now_ms: i64, lag_max_ms: i64) -> Option<IsrChange> {
        let mut progress = self.lock();
        if progress.pending.is_some() {
            return None;
        }
        let leader_end = self.log.log_end_offset();
        let in_sync = |replica: &i32| {
            *replica == self.node
                || progress.followers.get(replica).map_or(now_ms - self.since_ms <= lag_max_ms, |f| {
                    f.log_end >= leader_end || now_ms - f.caught_up_ms <= lag_max_ms
                })
        };
        let isr: Vec<i32> = progress.isr.iter().copied().filter(in_sync).collect();
        (isr.len() != progress.isr.len()).then(|| {
            progress.pending = Some(isr.clone());
            IsrChange { partition_epoch: progress.partition_epoch, to: isr }
        })
    }

    /// A proposed change was not committed: another may be proposed.
    pub fn change_failed(&self) {
        self.lock().pending = None;
    }

    /// Raises the log's replicated high watermark to the least log end of the in-sync followers,
    /// joining ones included (unbounded when the leader is the only one). It never moves back.
    fn update_high_watermark(&self, progress: &Progress) {
        let mut least = i64::MAX;
        for replica in progress.maximal_isr().filter(|r| *r != self.node) {
            // An in-sync follower not heard from in this epoch holds the watermark where it is.
            least = least.min(progress.followers.get(&replica).map_or(i64::MIN, |f| f.log_end));
        }
        let next = if least == i64::MAX { i64::MAX } else { least.max(self.log.high_watermark()) };
        self.log.set_replicated_high_watermark(next);
    }
}
