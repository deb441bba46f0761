//! KRaft's quorum settings, `process.roles`, `controller.quorum.voters` and
//! `controller.quorum.bootstrap.servers`, checked as Kafka checks them. With no voters, or this
//! node as the only one, a Strata node is its own quorum (the single node). With other voters it
//! is a member of a cluster ([`ClusterConfig`]). A controller (`process.roles` holds `controller`)
//! is one of the voters and serves the quorum on the controller listener its voter entry names,
//! which `listeners` must hold; a broker-only node is not a voter and follows the quorum's log
//! as an observer; a controller-only node serves no clients.

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
    #[error("process.roles={0}: each role must be 'broker' or 'controller', and at least one is needed")]
    BadRoles(String),
    #[error(
        "if process.roles contains just the 'broker' role, the node id {node_id} must not be included in the set \
         of voters controller.quorum.voters={voters}"
    )]
    BrokerIsAVoter { node_id: i32, voters: String },
    #[error("process.roles={0}: a node with one role needs the controllers in controller.quorum.voters")]
    NoVoters(String),
}

/// What a node runs (`process.roles`): both by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub broker: bool,
    pub controller: bool,
}

impl Roles {
    /// A controller that serves no clients.
    pub fn controller_only(self) -> bool {
        self.controller && !self.broker
    }
}

/// A node of a cluster: the voters, its roles, and where it serves the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub voters: Vec<Voter>,
    pub roles: Roles,
    /// The controller listener's `HOST:PORT` to bind; `None` on a broker-only node (an observer
    /// of the quorum, which its leader reaches on a port of the client listener's host).
    pub controller_bind: Option<String>,
}

/// Checks the quorum settings: `None` for a node that is its own quorum, the cluster otherwise.
pub fn cluster(settings: &Settings) -> Result<Option<ClusterConfig>, QuorumConfigError> {
    let voters = check(settings)?;
    let roles = roles(&settings.process_roles)?;
    let both = roles.broker && roles.controller;
    if both && voters.iter().all(|v| v.id == settings.node_id) {
        return Ok(None);
    }
    if !settings.controller_quorum_bootstrap_servers.trim().is_empty() {
        return Err(QuorumConfigError::DynamicQuorum);
    }
    if voters.is_empty() {
        return Err(QuorumConfigError::NoVoters(settings.process_roles.clone()));
    }
    if !roles.controller {
        return Ok(Some(ClusterConfig { voters, roles, controller_bind: None }));
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
    Ok(Some(ClusterConfig { voters, roles, controller_bind: Some(controller.bind_address()) }))
}

/// Parses `process.roles`.
pub fn roles(text: &str) -> Result<Roles, QuorumConfigError> {
    let mut roles = Roles { broker: false, controller: false };
    for role in text.split(',').map(str::trim) {
        match role {
            "broker" => roles.broker = true,
            "controller" => roles.controller = true,
            _ => return Err(QuorumConfigError::BadRoles(text.to_string())),
        }
    }
    Ok(roles)
}

/// Checks the quorum settings and returns the voters named (empty when none are).
pub fn check(settings: &Settings) -> Result<Vec<Voter>, QuorumConfigError> {
    let roles = roles(&settings.process_roles)?;
    for server in settings.controller_quorum_bootstrap_servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if host_port(server).is_none() {
            return Err(QuorumConfigError::BadBootstrapServer(server.to_string()));
        }
    }
    let voters = parse_voters(&settings.controller_quorum_voters)?;
    let voter = voters.iter().any(|v| v.id == settings.node_id);
    let named = || settings.controller_quorum_voters.clone();
    if roles.controller && !voters.is_empty() && !voter {
        return Err(QuorumConfigError::NotAVoter { node_id: settings.node_id, voters: named() });
    }
    if !roles.controller && voter {
        return Err(QuorumConfigError::BrokerIsAVoter { node_id: settings.node_id, voters: named() });
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
        assert_eq!(member.controller_bind.as_deref(), Some("127.0.0.1:9093"));
        let unbound = settings(&[("controller.quorum.voters", "1@h:1,2@h:2")]);
        assert!(matches!(cluster(&unbound), Err(QuorumConfigError::NoControllerListener { .. })));
    }

    #[test]
    fn roles_split_as_kafka_allows() {
        let broker = settings(&[("process.roles", "broker"), ("node.id", "4"), ("controller.quorum.voters", "1@h:1")]);
        let observer = cluster(&broker).expect("a broker-only node").expect("a cluster");
        assert_eq!((observer.roles, observer.controller_bind), (Roles { broker: true, controller: false }, None));
        let voting = settings(&[("process.roles", "broker"), ("node.id", "1"), ("controller.quorum.voters", "1@h:1")]);
        assert!(matches!(check(&voting), Err(QuorumConfigError::BrokerIsAVoter { node_id: 1, .. })));
        let alone = settings(&[("process.roles", "broker")]);
        assert_eq!(cluster(&alone), Err(QuorumConfigError::NoVoters("broker".into())));
        let controller = settings(&[
            ("process.roles", "controller"),
            ("node.id", "1"),
            ("controller.quorum.voters", "1@h:1"),
            ("listeners", "CONTROLLER://127.0.0.1:9093"),
            ("controller.listener.names", "CONTROLLER"),
        ]);
        let voter = cluster(&controller).expect("a controller-only node").expect("a cluster of its own");
        assert!(voter.roles.controller_only());
        assert_eq!(voter.controller_bind.as_deref(), Some("127.0.0.1:9093"));
        for bad in ["", "broker,leader", "controller,"] {
            assert_eq!(roles(bad), Err(QuorumConfigError::BadRoles(bad.into())), "{bad:?}");
        }
    }
}
