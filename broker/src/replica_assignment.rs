//! Manual replica assignments (CreateTopics, CreatePartitions), checked the way Kafka's
//! controller checks them.

use kafka_protocol::messages::BrokerId;

/// Checks one manual replica list the way Kafka's controller does (sorted, each broker must be
/// registered and listed once), on a cluster whose only broker is `node`. Returns Kafka's message.
pub fn check_replicas(node: i32, replicas: &[BrokerId]) -> Result<(), String> {
    if replicas.is_empty() {
        return Err("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted: Vec<i32> = replicas.iter().map(|b| b.0).collect();
    sorted.sort_unstable();
    let mut previous = None;
    for broker in sorted {
        if broker != node {
            return Err(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            ));
        }
        if previous == Some(broker) {
            return Err(format!("The manual partition assignment includes the broker {broker} more than once."));
        }
        previous = Some(broker);
    }
    Ok(())
}
