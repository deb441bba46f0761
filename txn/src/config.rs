//! The coordinator's settings, named and defaulted as Kafka's broker configs.

/// Transaction coordinator configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the largest `transaction.timeout.ms` a producer may ask for.
    pub transaction_max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: an idle transactional id is forgotten after this long.
    pub transactional_id_expiration_ms: i64,
    /// `transaction.state.log.num.partitions`: the partitions of `__transaction_state`.
    pub state_log_partitions: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            transaction_max_timeout_ms: 900_000,
            transactional_id_expiration_ms: 604_800_000,
            state_log_partitions: 50,
        }
    }
}
