//! Small conversions shared by the group handlers: `kafka-protocol` strings to and from the
//! coordinator's `String`s, and the client host as Kafka shows it.

use kafka_protocol::protocol::StrBytes;

use crate::reply::RequestContext;

/// A wire string as an owned `String`.
pub fn text(s: &str) -> String {
    s.to_owned()
}

/// An optional wire string as an owned `Option<String>`.
pub fn opt_text(s: Option<&StrBytes>) -> Option<String> {
    s.map(|s| s.to_string())
}

/// An owned string for a response.
pub fn wire(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

/// An optional string for a response.
pub fn opt_wire(s: Option<String>) -> Option<StrBytes> {
    s.map(StrBytes::from_string)
}

/// JoinGroup's `client_host`: `/<ip>`, as Kafka's `InetAddress.toString()` prints it.
pub fn client_host(ctx: &RequestContext) -> String {
    ctx.peer.map(|p| format!("/{}", p.ip())).unwrap_or_else(|| "/unknown".to_owned())
}
