//! The in-process test harness shared by the broker's integration tests: a broker started in the
//! test process on 127.0.0.1:0 with a given data directory and `--override` settings, and a raw
//! Kafka client that sends requests encoded by `kafka-protocol` over a real TCP socket.
// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use clap::Parser;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};
use strata_broker::config::{BrokerConfig, Cli};
use strata_broker::state::Broker;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long a test waits for any one answer or for the broker to stop.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// The client id every test client sends.
pub const CLIENT_ID: &str = "strata-test";

/// A broker serving in this process until stopped.
pub struct Node {
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), strata_broker::RunError>>,
}

impl Node {
    /// Starts a broker on `dir` with `overrides` (`key=value`, as `--override` takes them).
    pub async fn start(dir: &Path, overrides: &[&str]) -> Node {
        let mut args = vec![
            "strata".to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            dir.display().to_string(),
        ];
        for item in overrides {
            args.extend(["--override".to_string(), (*item).to_string()]);
        }
        let config = BrokerConfig::from_cli(Cli::parse_from(args)).expect("valid config");
        let started = strata_broker::start(config).await.expect("broker starts");
        let addr = started.listener.local_addr().expect("bound address");
        let broker = Arc::clone(&started.broker);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(strata_broker::serve(started, async move {
            let _ = stopped.await;
        }));
        Node { addr, broker, stop: Some(stop), task }
    }

    pub async fn client(&self) -> Client {
        Client { stream: TcpStream::connect(self.addr).await.expect("connect"), correlation_id: 0 }
    }

    /// Stops the broker and waits for its clean shutdown (clients must be dropped first).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        drop(self.broker);
        let joined = tokio::time::timeout(IO_TIMEOUT, self.task).await.expect("broker stops in time");
        joined.expect("serve task joins").expect("clean shutdown");
    }
}

/// A raw Kafka connection.
pub struct Client {
    pub stream: TcpStream,
    pub correlation_id: i32,
}

impl Client {
    /// Writes one request frame; returns its correlation id.
    pub async fn send<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let api_key = ApiKey::try_from(R::KEY).expect("known api key");
        self.correlation_id += 1;
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
            .encode(&mut buf, api_key.request_header_version(version))
            .expect("header encodes");
        request.encode(&mut buf, version).expect("request encodes");
        self.send_raw(buf.freeze()).await
    }

    /// Writes a request frame whose header and body are already encoded; returns the last
    /// correlation id this client assigned.
    pub async fn send_raw(&mut self, frame: Bytes) -> i32 {
        let size = i32::try_from(frame.len()).expect("small frame").to_be_bytes();
        self.stream.write_all(&size).await.expect("write size");
        self.stream.write_all(&frame).await.expect("write frame");
        self.correlation_id
    }

    /// The next response frame (without its size), or `None` when the broker closed the connection.
    pub async fn receive(&mut self) -> Option<Bytes> {
        let read = async {
            let mut size = [0u8; 4];
            self.stream.read_exact(&mut size).await.ok()?;
            let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(size)).expect("positive size")];
            self.stream.read_exact(&mut body).await.ok()?;
            Some(Bytes::from(body))
        };
        tokio::time::timeout(IO_TIMEOUT, read).await.expect("broker answers or closes in time")
    }

    /// Decodes a response frame of `R`'s API at `version`, checking its correlation id and that
    /// nothing is left over.
    pub fn decode<R: Request>(version: i16, correlation_id: i32, mut frame: Bytes) -> R::Response {
        let api_key = ApiKey::try_from(R::KEY).expect("known api key");
        let header =
            ResponseHeader::decode(&mut frame, api_key.response_header_version(version)).expect("response header");
        assert_eq!(header.correlation_id, correlation_id);
        let response = R::Response::decode(&mut frame, version).expect("response decodes");
        assert_eq!(frame.remaining(), 0, "{api_key:?} v{version}: bytes left after the response");
        response
    }

    /// Sends a request and decodes its response.
    pub async fn call<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let id = self.send(version, request).await;
        let frame = self.receive().await.expect("a response");
        Self::decode::<R>(version, id, frame)
    }
}
