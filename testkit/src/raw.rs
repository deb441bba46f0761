//! A raw Kafka connection: length-prefixed frames over a blocking `TcpStream`, encoded by
//! [`crate::frame`]. For tests that need exact bytes or exact error codes, or want to send what no
//! well-behaved client would.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::Request;

use crate::frame;

/// Read and write timeout on every raw socket: a broker that hangs fails the test instead of it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What came back when a test expected a frame.
#[derive(Debug)]
pub enum Reply {
    Frame(Bytes),
    /// The broker closed (or reset) the connection.
    Closed,
}

pub struct RawConn {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl RawConn {
    pub fn connect(bootstrap: &str) -> RawConn {
        let stream = TcpStream::connect(bootstrap).unwrap_or_else(|e| panic!("connect {bootstrap}: {e}"));
        RawConn::from_stream(stream)
    }

    /// A raw connection on a stream the test connected itself (from a chosen source address, say).
    pub fn from_stream(stream: TcpStream) -> RawConn {
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("set_read_timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("set_write_timeout");
        stream.set_nodelay(true).expect("set_nodelay");
        RawConn { stream, next_correlation_id: 1 }
    }

    /// The underlying socket, for tests that need its options or a half-written frame.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Writes raw bytes (no size prefix added). A write error because the broker already closed
    /// the connection is not an error here: the following read reports `Closed`.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        match self.stream.write_all(bytes) {
            Ok(()) => {}
            Err(e) if is_closed_error(&e) => {}
            Err(e) => panic!("write to broker: {e}"),
        }
    }

    /// Writes one frame: 4-byte big-endian size, then `body`.
    pub fn send_frame(&mut self, body: &[u8]) {
        self.send_bytes(&frame::framed(body));
    }

    /// Reads one frame body, or `Closed` if the broker closed the connection.
    /// Panics on a timeout: the broker neither answered nor closed.
    pub fn read_reply(&mut self) -> Reply {
        let mut size = [0u8; 4];
        match read_exact_or_closed(&mut self.stream, &mut size) {
            Ok(true) => {}
            Ok(false) => return Reply::Closed,
            Err(e) => panic!("reading a frame size from the broker: {e} (no answer and no close)"),
        }
        let size = frame::response_size(size);
        let mut body = vec![0u8; size];
        match read_exact_or_closed(&mut self.stream, &mut body) {
            Ok(true) => Reply::Frame(Bytes::from(body)),
            Ok(false) => panic!("broker closed the connection in the middle of a {size}-byte frame"),
            Err(e) => panic!("reading a {size}-byte frame: {e}"),
        }
    }

    /// Reads one frame; panics if the connection was closed instead.
    pub fn read_frame(&mut self) -> Bytes {
        match self.read_reply() {
            Reply::Frame(frame) => frame,
            Reply::Closed => panic!("broker closed the connection instead of answering"),
        }
    }

    /// Asserts that the broker closes the connection (within [`IO_TIMEOUT`]) without answering.
    pub fn expect_closed(&mut self, what: &str) {
        match self.read_reply() {
            Reply::Closed => {}
            Reply::Frame(frame) => panic!(
                "{what}: expected the broker to close the connection, it answered {} bytes: {:02x?}",
                frame.len(),
                &frame[..frame.len().min(64)]
            ),
        }
    }

    /// Encodes the request header and body with the next correlation id; returns both.
    pub fn encode_request<R: Request>(&mut self, version: i16, request: &R) -> (i32, BytesMut) {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        (correlation_id, frame::encode_request(correlation_id, version, request))
    }

    /// Sends a request and returns the response body bytes (after the response header), checking
    /// the correlation id.
    pub fn request_bytes<R: Request>(&mut self, version: i16, request: &R) -> Bytes {
        let (correlation_id, buf) = self.encode_request(version, request);
        self.send_frame(&buf);
        let api_key = frame::api_key::<R>();
        let frame = match self.read_reply() {
            Reply::Frame(frame) => frame,
            Reply::Closed => panic!("{api_key:?} v{version}: the broker closed the connection instead of answering"),
        };
        frame::response_body::<R>(version, correlation_id, frame)
    }

    /// Sends a request and decodes its response at the same version.
    pub fn request<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let (correlation_id, buf) = self.encode_request(version, request);
        self.send_frame(&buf);
        let api_key = frame::api_key::<R>();
        match self.read_reply() {
            Reply::Frame(frame) => frame::decode_response::<R>(version, correlation_id, frame),
            Reply::Closed => panic!("{api_key:?} v{version}: the broker closed the connection instead of answering"),
        }
    }
}

fn is_closed_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted | ErrorKind::UnexpectedEof
    )
}

/// `Ok(true)` when `buf` was filled, `Ok(false)` on EOF or reset before the first byte arrived.
fn read_exact_or_closed(stream: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => {
                return if filled == 0 {
                    Ok(false)
                } else {
                    Err(std::io::Error::new(ErrorKind::UnexpectedEof, "connection closed mid-frame"))
                };
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_closed_error(&e) && filled == 0 => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
