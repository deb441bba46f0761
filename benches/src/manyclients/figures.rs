//! W8's own figures, beside the rates and latencies every workload reports: requests answered,
//! the broker's CPU time per request, and the broker memory each connection costs, all over the
//! measured window.

/// What the measured window of W8 cost the broker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ManyClients {
    pub producers: usize,
    pub consumers: usize,
    /// Produce and fetch requests answered in the window.
    pub produce_requests: u64,
    pub fetch_requests: u64,
    /// Wall-clock length of the window.
    pub wall_secs: f64,
    /// Broker CPU time (utime + stime) over the window.
    pub broker_cpu_secs: f64,
    /// Bytes the broker caused to be written to storage over the window.
    pub broker_write_bytes: u64,
    /// This process's CPU time over the window (the clients).
    pub client_cpu_secs: f64,
    /// Broker VmRSS before the first connection was opened.
    pub rss_before_bytes: u64,
    /// Broker VmHWM at the end of the window.
    pub rss_peak_bytes: u64,
}

impl ManyClients {
    pub fn connections(&self) -> usize {
        self.producers + self.consumers
    }

    pub fn requests(&self) -> u64 {
        self.produce_requests + self.fetch_requests
    }

    /// Requests answered per second of the window.
    pub fn requests_per_sec(&self) -> f64 {
        if self.wall_secs > 0.0 { self.requests() as f64 / self.wall_secs } else { 0.0 }
    }

    /// Microseconds of broker CPU time per produce or fetch request answered.
    pub fn cpu_us_per_request(&self) -> f64 {
        if self.requests() > 0 { self.broker_cpu_secs * 1e6 / self.requests() as f64 } else { 0.0 }
    }

    /// Peak RSS minus the RSS before the clients connected, per connection, in bytes. It holds
    /// whatever the load made the broker keep resident (buffers, and for a JVM heap pages touched
    /// for the first time), not only per-connection state. Zero when the peak is not above it.
    pub fn rss_bytes_per_connection(&self) -> f64 {
        let connections = self.connections();
        if connections == 0 {
            return 0.0;
        }
        self.rss_peak_bytes.saturating_sub(self.rss_before_bytes) as f64 / connections as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> ManyClients {
        ManyClients {
            producers: 1000,
            consumers: 100,
            produce_requests: 100_000,
            fetch_requests: 60_000,
            wall_secs: 10.0,
            broker_cpu_secs: 4.0,
            rss_before_bytes: 20 << 20,
            rss_peak_bytes: (20 << 20) + 1100 * 4096,
            ..ManyClients::default()
        }
    }

    #[test]
    fn cpu_is_shared_out_over_every_request_answered() {
        let f = figures();
        assert_eq!(f.requests(), 160_000);
        assert!((f.requests_per_sec() - 16_000.0).abs() < 1e-9);
        assert!((f.cpu_us_per_request() - 25.0).abs() < 1e-9);
        assert_eq!(ManyClients::default().cpu_us_per_request(), 0.0);
    }

    #[test]
    fn rss_growth_is_shared_out_over_every_connection() {
        let f = figures();
        assert_eq!(f.connections(), 1100);
        assert!((f.rss_bytes_per_connection() - 4096.0).abs() < 1e-9);
        let shrunk = ManyClients { rss_peak_bytes: 10 << 20, ..f };
        assert_eq!(shrunk.rss_bytes_per_connection(), 0.0);
        assert_eq!(ManyClients::default().rss_bytes_per_connection(), 0.0);
    }
}
