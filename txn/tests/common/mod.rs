//! A coordinator with its `__transaction_state` log kept in memory, and short request builders.
#![allow(dead_code, clippy::unwrap_used)]

use strata_groups::TopicPartition;
use strata_txn::*;

pub const TXN: &str = "txn-1";
pub const TIMEOUT_MS: i32 = 60_000;
pub const FIRST_PID: i64 = 1000;

pub fn config() -> TxnConfig {
    TxnConfig {
        transaction_max_timeout_ms: 300_000,
        transactional_id_expiration_ms: 3_600_000,
        state_log_partitions: 50,
    }
}

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition { topic: topic.into(), partition }
}

/// The coordinator, every record it asked to append, and every marker request it made.
pub struct Harness {
    pub c: Coordinator,
    pub log: Vec<TxnRecord>,
    pub markers: Vec<WriteMarkers>,
    pub now: i64,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            c: Coordinator::new(config(), Box::new(SequentialProducerIds::starting_at(FIRST_PID))),
            log: vec![],
            markers: vec![],
            now: 1_000,
        }
    }

    pub fn take(&mut self, effects: Effects) {
        self.log.extend(effects.records);
        self.markers.extend(effects.markers);
    }

    pub fn step(&mut self) -> i64 {
        self.now += 10;
        self.now
    }

    pub fn init_with(&mut self, version: i16, id: &str, timeout_ms: i32, pid: i64, epoch: i16) -> InitProducerIdReply {
        let now = self.step();
        let request = InitProducerIdRequest {
            version,
            transactional_id: id.into(),
            transaction_timeout_ms: timeout_ms,
            producer_id: pid,
            producer_epoch: epoch,
        };
        let outcome = self.c.init_producer_id(request, now);
        self.take(outcome.effects);
        outcome.reply
    }

    /// A fresh InitProducerId (v5, no KIP-360 id); returns (producer id, epoch).
    pub fn init(&mut self) -> (i64, i16) {
        let reply = self.init_with(5, TXN, TIMEOUT_MS, -1, -1);
        assert_eq!(reply.error, None);
        (reply.producer_id, reply.producer_epoch)
    }

    pub fn add_with(
        &mut self,
        version: i16,
        pid: i64,
        epoch: i16,
        parts: &[TopicPartition],
        tv: TxnVersion,
    ) -> Option<TxnError> {
        let now = self.step();
        let request = AddPartitionsRequest {
            version,
            transactional_id: TXN.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: parts.to_vec(),
            transaction_version: tv,
        };
        let outcome = self.c.add_partitions(request, now);
        self.take(outcome.effects);
        outcome.reply
    }

    pub fn add(&mut self, pid: i64, epoch: i16, parts: &[TopicPartition]) -> Option<TxnError> {
        self.add_with(4, pid, epoch, parts, TxnVersion::V1)
    }

    pub fn add_offsets(&mut self, version: i16, pid: i64, epoch: i16, offsets_partition: i32) -> Option<TxnError> {
        let now = self.step();
        let request = AddOffsetsRequest {
            version,
            transactional_id: TXN.into(),
            producer_id: pid,
            producer_epoch: epoch,
            offsets_partition,
        };
        let outcome = self.c.add_offsets(request, now);
        self.take(outcome.effects);
        outcome.reply
    }

    pub fn end_with(&mut self, version: i16, pid: i64, epoch: i16, commit: bool) -> EndTxnReply {
        let now = self.step();
        let request =
            EndTxnRequest { version, transactional_id: TXN.into(), producer_id: pid, producer_epoch: epoch, commit };
        let outcome = self.c.end_txn(request, now);
        self.take(outcome.effects);
        outcome.reply
    }

    pub fn verify(&self, pid: i64, epoch: i16, parts: &[TopicPartition]) -> Vec<Option<TxnError>> {
        let request = VerifyPartitionsRequest {
            transactional_id: TXN.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: parts.to_vec(),
        };
        self.c.verify_partitions(&request).into_iter().map(|(_, e)| e).collect()
    }

    /// Writes the last marker request and reports it.
    pub fn write_markers(&mut self) -> WriteMarkers {
        let markers = self.markers.pop().expect("a marker request");
        let now = self.step();
        let effects = self
            .c
            .markers_written(&markers.transactional_id, markers.producer_id, markers.producer_epoch, now)
            .unwrap();
        assert_eq!(effects.records.len(), 1);
        self.take(effects);
        markers
    }

    pub fn state(&self) -> Option<TxnState> {
        self.c.describe_transaction(TXN).state
    }

    pub fn tick(&mut self, now: i64) {
        self.now = now;
        let effects = self.c.tick(now);
        self.take(effects);
    }

    /// A coordinator rebuilt from `log`.
    pub fn replay(log: &[TxnRecord]) -> Coordinator {
        let mut replayer =
            Coordinator::replayer(config(), Box::new(SequentialProducerIds::starting_at(FIRST_PID + 1_000_000)));
        for record in log {
            replayer.apply(&record.key, record.value.as_deref()).unwrap();
        }
        replayer.finish()
    }
}
