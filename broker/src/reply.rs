//! What a handler produces for the connection to write: a response frame as a list of chunks
//! (encoded bytes, and file ranges that leave through `sendfile` so record data never enters user
//! space), no response at all (produce with acks=0), or a request to close the connection.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, ResponseKind};
use strata_log::FileRange;
use strata_wire::header::encode_response_frame;

/// A piece of a response frame.
#[derive(Debug)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileRange),
}


/// The outcome of one request.
#[derive(Debug)]
pub enum Outcome {
    /// A complete size-prefixed response frame, in pieces.
    Reply(Vec<Chunk>),
    /// The request asked for no response (Produce with acks=0).
    Silent,
    /// The connection must close, as Kafka closes it (after earlier responses are written).
    Close(String),
}

/// Who sent a request, and what answers it.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    /// The client's address (JoinGroup's `client_host`); `None` if the socket could not say.
    pub peer: Option<std::net::SocketAddr>,
}

impl RequestContext {
    /// Encodes `body` as this request's response frame.
    /// Versions older than `kafka-protocol` knows are encoded in their old layout by
    /// `strata_wire::legacy`.
    pub fn respond(&self, body: ResponseKind) -> Outcome {
        let frame = if strata_wire::legacy::is_legacy(self.api_key, self.api_version) {
            strata_wire::legacy::encode_response_frame(self.api_key, self.api_version, self.correlation_id, &body)
                .map_err(|e| e.to_string())
        } else {
            encode_response_frame(self.api_key, self.api_version, self.correlation_id, &body).map_err(|e| e.to_string())
        };
        match frame {
            Ok(frame) => Outcome::Reply(vec![Chunk::Bytes(frame.freeze())]),
            Err(error) => {
                // The handler built a response this version cannot carry: a broker bug, not bad input.
                tracing::error!(%error, "cannot encode response; closing the connection");
                Outcome::Close(error.to_string())
            }
        }
    }
}
