//! The raw Kafka connection on tokio, for tests that run a broker inside their own runtime (a
//! blocking socket there would stall the broker's tasks). Same encoding as [`crate::raw`].

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::protocol::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::frame;

/// How long a test waits for any one answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

pub struct AsyncConn {
    stream: TcpStream,
    correlation_id: i32,
}

impl AsyncConn {
    pub async fn connect(addr: impl ToSocketAddrs) -> AsyncConn {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("set_nodelay");
        AsyncConn { stream, correlation_id: 0 }
    }

    /// Writes one request frame; returns its correlation id.
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        self.correlation_id += 1;
        let body = frame::encode_request(self.correlation_id, version, request);
        self.send_raw(body.freeze()).await
    }

    /// Writes a request frame whose header and body are already encoded; returns the last
    /// correlation id this connection assigned.
    pub async fn send_raw(&mut self, body: Bytes) -> i32 {
        self.stream.write_all(&frame::framed(&body)).await.expect("write frame");
        self.correlation_id
    }

    /// The next response frame (without its size), or `None` when the broker closed the
    /// connection. Panics if neither happens within [`IO_TIMEOUT`].
    pub async fn receive(&mut self) -> Option<Bytes> {
        let read = async {
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).await.ok()?;
            let mut body = vec![0u8; frame::response_size(size)];
            self.stream.read_exact(&mut body).await.ok()?;
            Some(Bytes::from(body))
        };
        tokio::time::timeout(IO_TIMEOUT, read).await.expect("broker answers or closes in time")
    }

    /// Decodes a response frame of `R`'s API at `version`, checking its correlation id and that
    /// nothing is left over.
    pub fn decode<R: Request>(version: i16, correlation_id: i32, frame: Bytes) -> R::Response {
        frame::decode_response::<R>(version, correlation_id, frame)
    }

    /// Sends a request and decodes its response.
    pub async fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let id = self.send(version, request).await;
        let frame = self.receive().await.expect("a response");
        Self::decode::<R>(version, id, frame)
    }
}
