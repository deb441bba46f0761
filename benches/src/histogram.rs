//! Latency histograms (HdrHistogram, microseconds, 3 significant digits) and the percentile summary
//! the report prints. Values past the top bound are clamped to it, never dropped, so a stall shows.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Highest latency recorded exactly: 10 minutes, in microseconds.
const LATENCY_US_MAX: u64 = 600_000_000;

/// A latency histogram in microseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    histogram: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl Latency {
    pub fn new() -> Latency {
        // Bounds are constants inside HdrHistogram's valid range; this cannot fail.
        #[allow(clippy::expect_used)]
        let histogram = Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid constant bounds");
        Latency { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_US_MAX);
        self.histogram.saturating_record(us);
    }

    pub fn add(&mut self, other: &Latency) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.histogram.add(&other.histogram);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Latency at `quantile` (0..=1), milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.histogram.max() as f64 / 1000.0
    }

    pub fn summary(&self) -> Percentiles {
        Percentiles {
            count: self.count(),
            p50_ms: self.quantile_ms(0.50),
            p99_ms: self.quantile_ms(0.99),
            p999_ms: self.quantile_ms(0.999),
            max_ms: self.max_ms(),
        }
    }

    /// (quantile, latency ms) points for a percentile plot, from p0 to the max, denser in the tail.
    pub fn percentile_curve(&self) -> Vec<(f64, f64)> {
        if self.count() == 0 {
            return Vec::new();
        }
        let mut points = Vec::new();
        // 1 - 10^-(k/20) for k in 0..=100 reaches p99.999 at k=100 in evenly spaced "nines".
        for k in 0..=100 {
            let q = 1.0 - 10f64.powf(-(k as f64) / 20.0);
            points.push((q, self.quantile_ms(q)));
        }
        points.push((1.0, self.max_ms()));
        points
    }
}

/// The percentiles printed for every workload.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_the_recorded_values_and_keep_stalls() {
        let mut h = Latency::new();
        for _ in 0..990 {
            h.record(Duration::from_micros(100));
        }
        for _ in 0..10 {
            h.record(Duration::from_secs(2));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 0.1).abs() < 0.001, "{s:?}");
        assert!(s.p999_ms > 1900.0, "{s:?}");
        assert!(s.max_ms > 1900.0);
        let curve = h.percentile_curve();
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
