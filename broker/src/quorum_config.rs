//! KRaft's quorum settings, `process.roles`, `controller.quorum.voters` and
//! `controller.quorum.bootstrap.servers`, checked as Kafka checks them. With no voters, or this
//! node as the only one, a Strata node is its own quorum (the single node). With other voters it
//! is a member of a cluster ([`ClusterConfig`]): it serves the quorum on the controller listener
//! its voter entry names, which `listeners` must hold. Separate broker and controller processes
//! are not built yet and are refused with a message saying so.

use crate::settings::Settings;

/// One entry of `controller.quorum.voters`: `ID@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voter {
    pub id: i32,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuorumConfigError {
    #[error("controller.quorum.voters: '{0}' is not ID@HOST:PORT")]
    BadVoter(String),
    #[error("controller.quorum.bootstrap.servers: '{0}' is not HOST:PORT")]
    BadBootstrapServer(String),
    #[error("controller.quorum.voters names node {0} twice")]
    DuplicateVoter(i32),
    #[error(
        "if process.roles contains the 'controller' role, the node id {node_id} must be included in the set of \
         voters controller.quorum.voters={voters}"
    )]
    NotAVoter { node_id: i32, voters: String },
    #[error(
        "controller.quorum.voters names other nodes, so this node serves the quorum on a controller listener: \
         listeners={listeners} must include one named in controller.listener.names={names}"
    )]
    NoControllerListener { listeners: String, names: String },
    #[error(
        "controller.quorum.bootstrap.servers (a dynamic quorum, KIP-853) is not built yet; name the voters in controller.quorum.voters"
    )]
    DynamicQuorum,
    #[error(
        "process.roles={0}: separate broker and controller processes are not built yet; a Strata node is both \
         (process.roles=broker,controller, the default)"
    )]
    SplitRoles(String),
}

/// A node of a cluster: the voters, and where this node serves the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub voters: Vec<Voter>,
    /// The controller listener's `HOST:PORT` to bind.
    pub controller_bind: String,
}

/// Checks the quorum settings: `None` for a node that is its own quorum, the cluster otherwise.
pub fn cluster(settings: &Settings) -> Result<Option<ClusterConfig>, QuorumConfigError> {
    let voters = check(settings)?;
    if voters.iter().all(|v| v.id == settings.node_id) {
        return Ok(None);
    }
    if !settings.controller_quorum_bootstrap_servers.trim().is_empty() {
        return Err(QuorumConfigError::DynamicQuorum);
    }
    let names: Vec<String> = settings
        .controller_listener_names
        .split(',')
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .collect();
    let endpoints = crate::listeners::parse_endpoints(&settings.listeners).unwrap_or_default();
    let controller =
        endpoints.iter().find(|e| names.contains(&e.name)).ok_or_else(|| QuorumConfigError::NoControllerListener {
            listeners: settings.listeners.clone(),
            names: settings.controller_listener_names.clone(),
        })?;
    Ok(Some(ClusterConfig { voters, controller_bind: controller.bind_address() }))
}

/// Checks the quorum settings and returns the voters named (empty when none are).
pub fn check(settings: &Settings) -> Result<Vec<Voter>, QuorumConfigError> {
    let roles: Vec<&str> = settings.process_roles.split(',').map(str::trim).collect();
    if !(roles.contains(&"broker") && roles.contains(&"controller")) {
        return Err(QuorumConfigError::SplitRoles(settings.process_roles.clone()));
    }
    for server in settings.controller_quorum_bootstrap_servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if host_port(server).is_none() {
            return Err(QuorumConfigError::BadBootstrapServer(server.to_string()));
        }
    }
    let voters = parse_voters(&settings.controller_quorum_voters)?;
    if !voters.is_empty() && !voters.iter().any(|v| v.id == settings.node_id) {
        return Err(QuorumConfigError::NotAVoter {
            node_id: settings.node_id,
            voters: settings.controller_quorum_voters.clone(),
        });
    }
    Ok(voters)
}

/// Parses Kafka's `controller.quorum.voters`: comma-separated `ID@HOST:PORT` (an IPv6 host in
/// brackets); empty is no voters.
pub fn parse_voters(text: &str) -> Result<Vec<Voter>, QuorumConfigError> {
    let mut voters: Vec<Voter> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || QuorumConfigError::BadVoter(entry.to_string());
        let (id, address) = entry.split_once('@').ok_or_else(bad)?;
        let (host, port) = host_port(address).ok_or_else(bad)?;
        let id: i32 = id.parse().map_err(|_| bad())?;
        if id < 0 {
            return Err(bad());
        }
        if voters.iter().any(|v| v.id == id) {
            return Err(QuorumConfigError::DuplicateVoter(id));
        }
        voters.push(Voter { id, host: host.to_string(), port });
    }
    Ok(voters)
}

/// `HOST:PORT` (an IPv6 host in brackets) with a non-empty host.
fn host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let port = port.parse().ok()?;
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_defs::broker_setting;

    fn settings(pairs: &[(&'static str, &'static str)]) -> Settings {
        Settings::parse(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map_or_else(|| broker_setting(name).map_or("", |s| s.default), |p| p.1)
        })
        .expect("settings")
    }

    #[test]
    fn voters_parse_as_kafka_writes_them() {
        let voters = parse_voters("1@localhost:9093, 2@[::1]:9094").expect("parse");
        assert_eq!(voters[0], Voter { id: 1, host: "localhost".into(), port: 9093 });
        assert_eq!(voters[1], Voter { id: 2, host: "::1".into(), port: 9094 });
        assert_eq!(parse_voters("").expect("empty"), vec![]);
        for bad in ["1", "a@h:1", "1@h", "1@h:x", "1@:9093", "-1@h:1"] {
            assert_eq!(parse_voters(bad), Err(QuorumConfigError::BadVoter(bad.into())), "{bad}");
        }
        assert_eq!(parse_voters("1@a:1,1@b:2"), Err(QuorumConfigError::DuplicateVoter(1)));
    }

    #[test]
    fn a_node_is_its_own_quorum_or_a_member_of_a_cluster() {
        assert_eq!(check(&settings(&[])).expect("defaults"), vec![]);
        assert_eq!(cluster(&settings(&[])).expect("defaults"), None);
        let own = settings(&[("node.id", "3"), ("controller.quorum.voters", "3@127.0.0.1:9093")]);
        assert_eq!(check(&own).expect("own voter").len(), 1);
        let stock = settings(&[("controller.quorum.bootstrap.servers", "localhost:9093")]);
        check(&stock).expect("Kafka's stock server.properties");
        let bad = settings(&[("controller.quorum.bootstrap.servers", "localhost")]);
        assert_eq!(check(&bad), Err(QuorumConfigError::BadBootstrapServer("localhost".into())));

        let missing = settings(&[("node.id", "3"), ("controller.quorum.voters", "1@h:1")]);
        assert!(matches!(check(&missing), Err(QuorumConfigError::NotAVoter { node_id: 3, .. })));
        let three = settings(&[
            ("controller.quorum.voters", "1@h:1,2@h:2,3@h:3"),
            ("listeners", "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"),
            ("controller.listener.names", "CONTROLLER"),
        ]);
        let member = cluster(&three).expect("three voters").expect("a cluster");
        assert_eq!(member.voters.len(), 3);
        assert_eq!(member.controller_bind, "127.0.0.1:9093");
        let unbound = settings(&[("controller.quorum.voters", "1@h:1,2@h:2")]);
        assert!(matches!(cluster(&unbound), Err(QuorumConfigError::NoControllerListener { .. })));
        for roles in ["broker", "controller"] {
            let split = settings(&[("process.roles", roles)]);
            assert_eq!(check(&split), Err(QuorumConfigError::SplitRoles(roles.into())));
        }
    }
}
