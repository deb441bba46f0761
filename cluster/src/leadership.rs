//! A partition's leadership state: who leads it, in which leader epoch, and which nodes hold
//! replicas (all, in sync, offline). The topic registry holds one per partition; Produce, Fetch,
//! ListOffsets, Metadata and the group coordinator read it instead of assuming "this node, epoch
//! 0", so a cluster changes this data (through metadata records), not the handlers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadership {
    /// The node that leads the partition (-1: none).
    pub leader: i32,
    /// Raised at every change of leader; written into every batch the leader appends.
    pub leader_epoch: i32,
    /// Every node that holds a replica, the preferred leader first.
    pub replicas: Vec<i32>,
    /// The replicas in sync with the leader (the leader included).
    pub isr: Vec<i32>,
    /// Replicas on nodes or log directories that are down.
    pub offline_replicas: Vec<i32>,
    /// A reassignment's replicas still to catch up (in `replicas`, KIP-455's adding replicas).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adding_replicas: Vec<i32>,
    /// A reassignment's replicas to drop once the adding ones are in sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removing_replicas: Vec<i32>,
    /// Raised by the image at every change of the partition (KRaft's partition epoch): an
    /// in-sync replica change names the one it was worked out from, and a leader tells a newer
    /// state of its partition from an older one.
    #[serde(default)]
    pub partition_epoch: i32,
}

impl Leadership {
    /// A partition of a single-node broker: `node` is its leader, its only replica and its
    /// in-sync set, in leader epoch 0.
    pub fn single_node(node: i32) -> Leadership {
        Leadership {
            leader: node,
            leader_epoch: 0,
            replicas: vec![node],
            isr: vec![node],
            offline_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
            partition_epoch: 0,
        }
    }

    /// A new partition on `replicas` (placement's order): the first leads, all are in sync, in
    /// leader epoch 0.
    pub fn new_partition(replicas: Vec<i32>) -> Leadership {
        Leadership {
            leader: replicas.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            isr: replicas.clone(),
            replicas,
            offline_replicas: Vec::new(),
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
            partition_epoch: 0,
        }
    }

    /// Whether a reassignment is under way.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// Whether `node` leads the partition.
    pub fn is_led_by(&self, node: i32) -> bool {
        self.leader == node
    }
}
