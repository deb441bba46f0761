//! What a handler produces for the connection to write: a response frame as a list of chunks
//! (encoded bytes, and file ranges that leave through `sendfile` so record data never enters user
//! space), no response at all (produce with acks=0), or a request to close the connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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

/// A started request's outcome, as the connection's writer awaits it in request order.
pub enum Pending {
    /// Known as soon as the request was read (a refusal, or an acks=0 produce). The reader reads
    /// nothing after a `Close` known this way: Kafka handles one request of a connection at a time
    /// and never sees what was pipelined behind a request that closes it, so neither may Strata
    /// (a produce pipelined there would be appended and never answered).
    Ready(Option<Outcome>),
    /// Still to be worked out, concurrently with later requests' start.
    Later(Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>),
}

impl Pending {
    pub fn ready(outcome: Outcome) -> Pending {
        Pending::Ready(Some(outcome))
    }

    pub fn later(work: impl Future<Output = Outcome> + Send + 'static) -> Pending {
        Pending::Later(Box::pin(work))
    }

    /// Whether this request is already known to close the connection.
    pub fn closes(&self) -> bool {
        matches!(self, Pending::Ready(Some(Outcome::Close(_))))
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pending::Ready(outcome) => f.debug_tuple("Ready").field(outcome).finish(),
            Pending::Later(_) => f.write_str("Later"),
        }
    }
}

impl Future for Pending {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match &mut *self {
            Pending::Ready(outcome) => Poll::Ready(outcome.take().expect("a ready request's outcome is taken once")),
            Pending::Later(work) => work.as_mut().poll(cx),
        }
    }
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
