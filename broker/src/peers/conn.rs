//! One connection to another broker's client listener: Kafka requests out, responses in, encoded
//! by `kafka-protocol` (the requests a Kafka broker sends its peers: a follower's Fetch, a
//! coordinator's WriteTxnMarkers, a leader's AddPartitionsToTxn).

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest response read (a follower's fetch is asked for far less).
const RESPONSE_BYTES_MAX: usize = 128 * 1024 * 1024;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("cannot reach broker {address}: {reason}")]
    Connect { address: String, reason: String },
    #[error("the connection to a broker failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot encode {0}")]
    Encode(String),
    #[error("unreadable answer: {0}")]
    Decode(String),
}

/// One connection to a broker.
#[derive(Debug)]
pub struct PeerConn {
    stream: TcpStream,
    correlation_id: i32,
    client_id: StrBytes,
}

impl PeerConn {
    pub async fn connect(address: &str, node: i32) -> Result<PeerConn, PeerError> {
        let failed = |reason: String| PeerError::Connect { address: address.to_string(), reason };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| failed("timed out".into()))?
            .map_err(|e| failed(e.to_string()))?;
        stream.set_nodelay(true)?;
        let client_id = StrBytes::from_string(format!("strata-broker-{node}"));
        Ok(PeerConn { stream, correlation_id: 0, client_id })
    }

    /// Sends `request` at `version` and reads its response, within `timeout`.
    pub async fn call<R: Request>(
        &mut self,
        version: i16,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response, PeerError> {
        let api_key = ApiKey::try_from(R::KEY).map_err(|_| PeerError::Encode(format!("api key {}", R::KEY)))?;
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(self.client_id.clone()))
            .encode(&mut body, api_key.request_header_version(version))
            .map_err(|e| PeerError::Encode(e.to_string()))?;
        request.encode(&mut body, version).map_err(|e| PeerError::Encode(e.to_string()))?;
        let size = u32::try_from(body.len()).map_err(|_| PeerError::Encode("request too large".into()))?;
        let exchange = async {
            self.stream.write_all(&size.to_be_bytes()).await?;
            self.stream.write_all(&body).await?;
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).await?;
            let size = usize::try_from(u32::from_be_bytes(size)).unwrap_or(usize::MAX);
            if size > RESPONSE_BYTES_MAX {
                return Err(PeerError::Decode(format!("a {size}-byte response frame")));
            }
            // Read into spare capacity: a zero-filled frame would cost a pass over every byte.
            let mut frame = BytesMut::with_capacity(size);
            while frame.len() < size {
                if self.stream.read_buf(&mut (&mut frame).limit(size)).await? == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
                }
            }
            Ok(frame.freeze())
        };
        let mut frame = tokio::time::timeout(timeout, exchange).await.map_err(|_| PeerError::Timeout(timeout))??;
        let header = ResponseHeader::decode(&mut frame, api_key.response_header_version(version))
            .map_err(|e| PeerError::Decode(e.to_string()))?;
        if header.correlation_id != self.correlation_id {
            return Err(PeerError::Decode(format!(
                "correlation id {} answers request {}",
                header.correlation_id, self.correlation_id
            )));
        }
        R::Response::decode(&mut frame, version).map_err(|e| PeerError::Decode(e.to_string()))
    }
}
