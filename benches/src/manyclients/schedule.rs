//! When W8's producers send: each every `interval`, producer `i` of `n` offset by `i / n` of an
//! interval, so that together they offer a smooth `n / interval` messages per second instead of
//! `n` requests in a burst at the top of every interval. And which sends are measured: those due
//! inside the window that follows the warm-up.

use std::time::{Duration, Instant};

/// The timeline of one run, fixed once every connection has answered its first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Every producer's first interval starts here.
    pub start: Instant,
    /// The measured window: sends due in `[measure_from, measure_until)` are measured; none are
    /// due after it.
    pub measure_from: Instant,
    pub measure_until: Instant,
}

impl Plan {
    /// The schedule starts at `start`, warms up for `warm_up`, then is measured for `duration`.
    pub fn new(start: Instant, warm_up: Duration, duration: Duration) -> Plan {
        let measure_from = start + warm_up;
        Plan { start, measure_from, measure_until: measure_from + duration }
    }

    /// Whether a send due at `due` is measured.
    pub fn measures(&self, due: Instant) -> bool {
        due >= self.measure_from && due < self.measure_until
    }
}

/// Producer `index`'s offset into each interval, for `producers` producers in all.
pub fn phase(index: usize, producers: usize, interval: Duration) -> Duration {
    let producers = u32::try_from(producers.max(1)).unwrap_or(u32::MAX);
    let index = u32::try_from(index).unwrap_or(u32::MAX).min(producers - 1);
    interval / producers * index
}

/// The instant the `round`-th send of producer `index` is due.
pub fn due(plan: &Plan, index: usize, producers: usize, interval: Duration, round: u32) -> Instant {
    plan.start + phase(index, producers, interval) + interval * round
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(100);

    /// Every due instant of every producer before `plan.measure_until`, sorted.
    fn all_dues(plan: &Plan, producers: usize) -> Vec<Instant> {
        let mut dues: Vec<Instant> = (0..producers)
            .flat_map(|i| {
                (0..)
                    .map(move |round| due(plan, i, producers, INTERVAL, round))
                    .take_while(move |d| *d < plan.measure_until)
            })
            .collect();
        dues.sort();
        dues
    }

    #[test]
    fn a_thousand_producers_send_every_100_microseconds_together() {
        let plan = Plan::new(Instant::now(), Duration::ZERO, INTERVAL * 3);
        let dues = all_dues(&plan, 1000);
        assert_eq!(dues.len(), 3000);
        for pair in dues.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_micros(100));
        }
    }

    #[test]
    fn phases_stay_inside_one_interval() {
        assert_eq!(phase(0, 50, INTERVAL), Duration::ZERO);
        assert_eq!(phase(49, 50, INTERVAL), Duration::from_millis(98));
        assert_eq!(phase(7, 1, INTERVAL), Duration::ZERO);
        assert_eq!(phase(0, 0, INTERVAL), Duration::ZERO);
    }

    #[test]
    fn the_window_measures_every_producer_the_same_number_of_times() {
        let start = Instant::now();
        let plan = Plan::new(start, Duration::from_secs(2), Duration::from_secs(10));
        assert_eq!(plan.measure_from, start + Duration::from_secs(2));
        assert_eq!(plan.measure_until, start + Duration::from_secs(12));
        let measured = |i: usize| (0..200).filter(|round| plan.measures(due(&plan, i, 1000, INTERVAL, *round))).count();
        assert_eq!(measured(0), 100);
        assert_eq!(measured(999), 100);
        assert!(!plan.measures(plan.measure_until));
        assert!(plan.measures(plan.measure_from));
    }
}
