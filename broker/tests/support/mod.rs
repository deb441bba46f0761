//! The in-process test harness shared by the broker's integration tests: a broker started in the
//! test process on 127.0.0.1:0 with a given data directory and `--override` settings; clients are
//! `strata_testkit`'s raw connections over real TCP sockets.
// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use clap::Parser;
use kafka_protocol::protocol::Request;
use strata_broker::config::{BrokerConfig, Cli};
use strata_broker::state::Broker;
use strata_testkit::AsyncConn;
pub use strata_testkit::raw_async::IO_TIMEOUT;
use tokio::sync::oneshot;

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
        Client(AsyncConn::connect(self.addr).await)
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

/// A raw connection to the broker (`strata_testkit`'s), wrapped so that each test file can add
/// request helpers of its own.
pub struct Client(pub AsyncConn);

impl Client {
    /// [`AsyncConn::decode`], for the tests that read frames themselves.
    pub fn decode<R: Request>(version: i16, correlation_id: i32, frame: Bytes) -> R::Response {
        AsyncConn::decode::<R>(version, correlation_id, frame)
    }
}

impl Deref for Client {
    type Target = AsyncConn;

    fn deref(&self) -> &AsyncConn {
        &self.0
    }
}

impl DerefMut for Client {
    fn deref_mut(&mut self) -> &mut AsyncConn {
        &mut self.0
    }
}
