//! Kafka's listener settings, read as Kafka reads them: `listeners` and `advertised.listeners`
//! are comma-separated `NAME://HOST:PORT` endpoints, `listener.security.protocol.map` gives each
//! name its protocol, and `controller.listener.names` names the listeners that serve the KRaft
//! controller rather than clients. One node serves clients on one PLAINTEXT listener; a
//! controller listener is accepted and not bound (there is no quorum to serve yet), and what
//! Strata cannot do yet (TLS, SASL, several client listeners) is refused before start-up.

use std::collections::BTreeMap;

/// Kafka's default `listener.security.protocol.map`.
pub const DEFAULT_PROTOCOL_MAP: &str = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenerError {
    #[error("'{0}' is not a listener of the form NAME://HOST:PORT")]
    Malformed(String),
    #[error("listener {0} appears more than once")]
    Duplicate(String),
    #[error("listener {name} has no protocol in listener.security.protocol.map")]
    NoProtocol { name: String },
    #[error("listener {name} uses {protocol}: Strata serves PLAINTEXT only so far (TLS and SASL are not built yet)")]
    Unsupported { name: String, protocol: String },
    #[error("listeners names no client listener (every one is a controller listener)")]
    NoClientListener,
    #[error("listeners names {0} client listeners; Strata serves one so far")]
    SeveralClientListeners(usize),
    #[error("advertised.listeners has no endpoint for listener {0}")]
    NotAdvertised(String),
}

/// One `NAME://HOST:PORT` endpoint. An empty host means every interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// `HOST:PORT` to bind: an empty host binds every IPv4 interface, as Kafka's `:9092` does.
    pub fn bind_address(&self) -> String {
        match self.host.as_str() {
            "" => format!("0.0.0.0:{}", self.port),
            host if host.contains(':') => format!("[{host}]:{}", self.port),
            host => format!("{host}:{}", self.port),
        }
    }
}

/// Parses a `listeners` or `advertised.listeners` value.
pub fn parse_endpoints(text: &str) -> Result<Vec<Endpoint>, ListenerError> {
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let malformed = || ListenerError::Malformed(item.to_string());
        let (name, address) = item.split_once("://").ok_or_else(malformed)?;
        let (host, port) = address.rsplit_once(':').ok_or_else(malformed)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port.parse::<u16>().map_err(|_| malformed())?;
        if name.is_empty() {
            return Err(malformed());
        }
        let name = name.to_ascii_uppercase();
        if endpoints.iter().any(|e| e.name == name) {
            return Err(ListenerError::Duplicate(name));
        }
        endpoints.push(Endpoint { name, host: host.to_string(), port });
    }
    Ok(endpoints)
}

/// Parses `listener.security.protocol.map` (`NAME:PROTOCOL,...`) into upper-case names.
pub fn parse_protocol_map(text: &str) -> Result<BTreeMap<String, String>, ListenerError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, protocol) = item.split_once(':').ok_or_else(|| ListenerError::Malformed(item.to_string()))?;
            Ok((name.trim().to_ascii_uppercase(), protocol.trim().to_ascii_uppercase()))
        })
        .collect()
}

/// The one client listener to bind and the address to advertise for it (when
/// `advertised.listeners` names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientListener {
    pub bind: Endpoint,
    pub advertised: Option<Endpoint>,
}

/// Picks the client listener from Kafka's four listener settings.
pub fn client_listener(
    listeners: &str,
    advertised_listeners: &str,
    protocol_map: &str,
    controller_listener_names: &str,
) -> Result<ClientListener, ListenerError> {
    let protocols = parse_protocol_map(protocol_map)?;
    let controllers: Vec<String> = controller_listener_names
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    let mut clients = Vec::new();
    for endpoint in parse_endpoints(listeners)? {
        let protocol =
            protocols.get(&endpoint.name).ok_or_else(|| ListenerError::NoProtocol { name: endpoint.name.clone() })?;
        if protocol != "PLAINTEXT" {
            return Err(ListenerError::Unsupported { name: endpoint.name, protocol: protocol.clone() });
        }
        if !controllers.contains(&endpoint.name) {
            clients.push(endpoint);
        }
    }
    let bind = match clients.len() {
        0 => return Err(ListenerError::NoClientListener),
        1 => clients.remove(0),
        n => return Err(ListenerError::SeveralClientListeners(n)),
    };
    let advertised = parse_endpoints(advertised_listeners)?;
    let advertised = if advertised.is_empty() {
        None
    } else {
        let found = advertised.into_iter().find(|e| e.name == bind.name);
        Some(found.ok_or_else(|| ListenerError::NotAdvertised(bind.name.clone()))?)
    };
    Ok(ClientListener { bind, advertised })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str, host: &str, port: u16) -> Endpoint {
        Endpoint { name: name.into(), host: host.into(), port }
    }

    /// Kafka 4's stock KRaft `config/server.properties`.
    #[test]
    fn kafkas_stock_kraft_listeners_give_the_plaintext_one() {
        let listener = client_listener(
            "PLAINTEXT://:9092,CONTROLLER://:9093",
            "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            "CONTROLLER",
        )
        .expect("valid");
        assert_eq!(listener.bind, endpoint("PLAINTEXT", "", 9092));
        assert_eq!(listener.bind.bind_address(), "0.0.0.0:9092");
        assert_eq!(listener.advertised, Some(endpoint("PLAINTEXT", "localhost", 9092)));
    }

    #[test]
    fn what_one_node_cannot_serve_is_refused() {
        let ssl = client_listener("SSL://:9093", "", DEFAULT_PROTOCOL_MAP, "");
        assert!(matches!(ssl, Err(ListenerError::Unsupported { .. })));
        let two =
            client_listener("PLAINTEXT://:9092,EXTERNAL://:9094", "", "PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT", "");
        assert_eq!(two, Err(ListenerError::SeveralClientListeners(2)));
        let unknown = client_listener("INTERNAL://:9092", "", DEFAULT_PROTOCOL_MAP, "");
        assert!(matches!(unknown, Err(ListenerError::NoProtocol { .. })));
        assert!(matches!(
            client_listener("PLAINTEXT:9092", "", DEFAULT_PROTOCOL_MAP, ""),
            Err(ListenerError::Malformed(_))
        ));
        let missing = client_listener("PLAINTEXT://127.0.0.1:9092", "OTHER://h:1", DEFAULT_PROTOCOL_MAP, "");
        assert_eq!(missing, Err(ListenerError::NotAdvertised("PLAINTEXT".into())));
        let dup = client_listener("PLAINTEXT://:1,plaintext://:2", "", DEFAULT_PROTOCOL_MAP, "");
        assert_eq!(dup, Err(ListenerError::Duplicate("PLAINTEXT".into())));
    }

    #[test]
    fn a_bracketed_ipv6_host_is_unwrapped() {
        let listener = client_listener("PLAINTEXT://[::1]:9092", "", DEFAULT_PROTOCOL_MAP, "").expect("valid");
        assert_eq!(listener.bind.host, "::1");
        assert_eq!(listener.bind.bind_address(), "[::1]:9092");
    }
}
