//! The performance targets Strata holds itself to against reference Kafka on this machine, judged
//! from one run's own figures: each target with what was measured and "met", "missed" or "not
//! measured" (a workload or engine left out of the run, or a failed row). The report renders them
//! as a table; why a target is missed is the profile's job (RESULTS.md's prose).

use crate::ceilings::Ceilings;
use crate::workloads::Outcome;

/// Whether a target holds in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Met,
    Missed,
    NotMeasured,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "missed",
            Status::NotMeasured => "not measured",
        }
    }

    fn of(holds: bool) -> Status {
        if holds { Status::Met } else { Status::Missed }
    }
}

/// One target and its verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub target: String,
    pub measured: String,
    pub status: Status,
}

/// Absolute broker CPU-s per GB ceilings by workload.
const CPU_ABSOLUTE: &[(&str, f64)] = &[("W2R", 1.0), ("W3", 3.0), ("W6", 15.0)];
/// Workloads whose throughput must be at least this many times Kafka's.
const THROUGHPUT_OVER_KAFKA: (f64, &[&str]) = (1.2, &["W1", "W2"]);
/// Workloads whose produce p99 may be at most Kafka's.
const PRODUCE_P99_AT_MOST_KAFKA: &[&str] = &["W3", "W4b"];
/// W4b's produce p99 at most this many times the raw 16-file fdatasync p99 of its flush size.
const W4B_OVER_RAW_SPREAD: f64 = 3.0;
/// Broker peak RSS at most this share of Kafka's process RSS.
const RSS_SHARE_OF_KAFKA: f64 = 0.1;
/// Broker peak RSS bound for the 16-partition workloads.
const RSS_MIB_16_PARTITIONS: f64 = 64.0;

/// Replication (issue 14): W2 on three brokers keeps at least this share of single-node W2's rate,
const REPLICATED_SHARE_OF_W2: f64 = 0.5;
/// and replication adds at most this to W3's produce p99 (the followers' lag an acks=all producer
/// waits out).
const REPLICATION_LAG_P99_MS: f64 = 50.0;

fn find<'a>(outcomes: &'a [Outcome], id: &str, engine: &str) -> Option<&'a Outcome> {
    outcomes.iter().find(|o| o.id == id && o.engine == engine && o.failure.is_none())
}

fn mib(o: &Outcome) -> f64 {
    o.usage.rss_peak_bytes as f64 / (1024.0 * 1024.0)
}

fn not_measured(target: String) -> Verdict {
    Verdict { target, measured: "–".into(), status: Status::NotMeasured }
}

/// Replication's targets: Strata's three-broker rows against its single-node ones.
fn replication(outcomes: &[Outcome]) -> Vec<Verdict> {
    let share = REPLICATED_SHARE_OF_W2;
    let target = format!("W2x3: msg/s at least {:.0} % of single-node W2's", share * 100.0);
    let rate = match (find(outcomes, "W2x3", "strata"), find(outcomes, "W2", "strata")) {
        (Some(r), Some(w)) => {
            let (r, w) = (r.msgs_per_sec(), w.msgs_per_sec());
            Verdict {
                target,
                measured: format!("{r:.0} vs {w:.0} ({:.2}×)", r / w),
                status: Status::of(r >= share * w),
            }
        }
        _ => not_measured(target),
    };
    let target = format!("W3x3: replication adds at most {REPLICATION_LAG_P99_MS} ms to W3's produce p99");
    let lag = match (find(outcomes, "W3x3", "strata"), find(outcomes, "W3", "strata")) {
        (Some(r), Some(w)) => {
            let (r, w) = (r.load.produce_latency.quantile_ms(0.99), w.load.produce_latency.quantile_ms(0.99));
            Verdict {
                target,
                measured: format!("{r:.2} vs {w:.2} ms (+{:.2})", r - w),
                status: Status::of(r - w <= REPLICATION_LAG_P99_MS),
            }
        }
        _ => not_measured(target),
    };
    vec![rate, lag]
}

/// Every target, judged from `outcomes` (Strata and Kafka rows) and the run's ceilings.
pub fn judge(outcomes: &[Outcome], ceilings: Option<&Ceilings>) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let mut ids: Vec<&str> = outcomes.iter().filter(|o| o.engine == "strata").map(|o| o.id.as_str()).collect();
    ids.dedup();

    for id in &ids {
        let target = format!("{id}: broker CPU-s/GB at most half of Kafka's");
        verdicts.push(match (find(outcomes, id, "strata"), find(outcomes, id, "kafka")) {
            (Some(s), Some(k)) => {
                let (s, k) = (s.cpu_secs_per_gb(), k.cpu_secs_per_gb());
                Verdict {
                    target,
                    measured: format!("{s:.2} vs {k:.2} ({:.2}×)", s / k),
                    status: Status::of(s <= k / 2.0),
                }
            }
            _ => not_measured(target),
        });
    }
    for (id, bound) in CPU_ABSOLUTE {
        let target = format!("{id}: broker CPU-s/GB ≤ {bound}");
        verdicts.push(match find(outcomes, id, "strata") {
            Some(s) => Verdict {
                target,
                measured: format!("{:.2}", s.cpu_secs_per_gb()),
                status: Status::of(s.cpu_secs_per_gb() <= *bound),
            },
            None => not_measured(target),
        });
    }
    let (factor, ids_fast) = THROUGHPUT_OVER_KAFKA;
    for id in ids_fast {
        let target = format!("{id}: msg/s at least {factor}× Kafka's");
        verdicts.push(match (find(outcomes, id, "strata"), find(outcomes, id, "kafka")) {
            (Some(s), Some(k)) => {
                let (s, k) = (s.msgs_per_sec(), k.msgs_per_sec());
                Verdict {
                    target,
                    measured: format!("{s:.0} vs {k:.0} ({:.2}×)", s / k),
                    status: Status::of(s >= factor * k),
                }
            }
            _ => not_measured(target),
        });
    }
    for id in PRODUCE_P99_AT_MOST_KAFKA {
        let target = format!("{id}: produce p99 at most Kafka's");
        verdicts.push(match (find(outcomes, id, "strata"), find(outcomes, id, "kafka")) {
            (Some(s), Some(k)) => {
                let (s, k) = (s.load.produce_latency.quantile_ms(0.99), k.load.produce_latency.quantile_ms(0.99));
                Verdict { target, measured: format!("{s:.2} vs {k:.2} ms"), status: Status::of(s <= k) }
            }
            _ => not_measured(target),
        });
    }
    let target = format!("W4b: produce p99 at most {W4B_OVER_RAW_SPREAD}× the raw 16-file fdatasync p99");
    let raw = find(outcomes, "W4b", "strata").and_then(|s| match s.workload.ceiling {
        crate::workloads::CeilingRef::Fdatasync(chunk) => {
            ceilings.and_then(|c| c.write_at(chunk)).map(|w| (s, w.spread.round_latency.quantile_ms(0.99)))
        }
        _ => None,
    });
    verdicts.push(match raw {
        Some((s, raw)) if raw > 0.0 => {
            let own = s.load.produce_latency.quantile_ms(0.99);
            Verdict {
                target,
                measured: format!("{own:.2} vs {raw:.2} ms ({:.1}×)", own / raw),
                status: Status::of(own <= W4B_OVER_RAW_SPREAD * raw),
            }
        }
        _ => not_measured(target),
    });
    verdicts.extend(replication(outcomes));
    let catch_up: Vec<&str> = ids.iter().copied().filter(|id| id.starts_with("W5")).collect();
    for id in &catch_up {
        let target = format!("{id}: catch-up read at least Kafka's");
        verdicts.push(match (find(outcomes, id, "strata"), find(outcomes, id, "kafka")) {
            (Some(s), Some(k)) => {
                let (s, k) = (s.mb_per_sec(), k.mb_per_sec());
                Verdict {
                    target,
                    measured: format!("{s:.1} vs {k:.1} MB/s ({:.2}×)", s / k),
                    status: Status::of(s >= k),
                }
            }
            _ => not_measured(target),
        });
    }
    for id in &ids {
        let target = format!("{id}: broker peak RSS at most a tenth of Kafka's");
        verdicts.push(match (find(outcomes, id, "strata"), find(outcomes, id, "kafka")) {
            (Some(s), Some(k)) => {
                let (s, k) = (mib(s), mib(k));
                Verdict {
                    target,
                    measured: format!("{s:.1} vs {k:.1} MiB ({:.2}×)", s / k),
                    status: Status::of(s <= RSS_SHARE_OF_KAFKA * k),
                }
            }
            _ => not_measured(target),
        });
    }
    // One broker's RSS: the replicated rows sum three processes.
    let single = |o: &&Outcome| o.engine == "strata" && o.workload.brokers == 1;
    for s in outcomes.iter().filter(single).filter(|o| o.workload.partitions == 16 && o.failure.is_none()) {
        verdicts.push(Verdict {
            target: format!("{}: broker peak RSS under {RSS_MIB_16_PARTITIONS} MiB (16 partitions)", s.id),
            measured: format!("{:.1} MiB", mib(s)),
            status: Status::of(mib(s) < RSS_MIB_16_PARTITIONS),
        });
    }
    verdicts
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::loadgen::LoadResult;
    use crate::workloads::{BrokerUsage, Scale, ScaleName, standard};

    /// A W2 row (16 partitions, 1 KiB): `delivered` messages in 1 s, `cpu_secs`, `rss_mib`.
    fn w2(engine: &'static str, delivered: u64, cpu_secs: f64, rss_mib: u64) -> Outcome {
        let workload = standard(&Scale::new(ScaleName::Smoke), &[]).into_iter().find(|w| w.id == "W2").unwrap();
        let load = LoadResult { delivered, produce_secs: 1.0, ..LoadResult::default() };
        let usage = BrokerUsage { cpu_secs, rss_peak_bytes: rss_mib << 20, ..BrokerUsage::default() };
        Outcome {
            id: "W2".into(),
            engine,
            title: workload.title.clone(),
            workload,
            load,
            catch_up: None,
            usage,
            many_clients: None,
            failure: None,
        }
    }

    fn status(verdicts: &[Verdict], target: &str) -> Status {
        verdicts.iter().find(|v| v.target == target).unwrap_or_else(|| panic!("no target {target}")).status
    }

    #[test]
    fn each_target_is_judged_from_the_rows_of_both_engines() {
        // Strata: 1.5x Kafka's rate at 0.4x its CPU per GB and 30 of its 700 MiB.
        let rows = [w2("strata", 300_000, 0.8, 30), w2("kafka", 200_000, 1.333, 700)];
        let verdicts = judge(&rows, None);
        assert_eq!(status(&verdicts, "W2: broker CPU-s/GB at most half of Kafka's"), Status::Met);
        assert_eq!(status(&verdicts, "W2: msg/s at least 1.2× Kafka's"), Status::Met);
        assert_eq!(status(&verdicts, "W2: broker peak RSS at most a tenth of Kafka's"), Status::Met);
        assert_eq!(status(&verdicts, "W2: broker peak RSS under 64 MiB (16 partitions)"), Status::Met);
        assert_eq!(status(&verdicts, "W1: msg/s at least 1.2× Kafka's"), Status::NotMeasured);
        assert_eq!(status(&verdicts, "W4b: produce p99 at most 3× the raw 16-file fdatasync p99"), Status::NotMeasured);

        // Only 1.1x the rate, at 0.6x the CPU and 100 MiB: missed.
        let rows = [w2("strata", 220_000, 1.0, 100), w2("kafka", 200_000, 1.515, 700)];
        let verdicts = judge(&rows, None);
        assert_eq!(status(&verdicts, "W2: broker CPU-s/GB at most half of Kafka's"), Status::Missed);
        assert_eq!(status(&verdicts, "W2: msg/s at least 1.2× Kafka's"), Status::Missed);
        assert_eq!(status(&verdicts, "W2: broker peak RSS at most a tenth of Kafka's"), Status::Missed);
        assert_eq!(status(&verdicts, "W2: broker peak RSS under 64 MiB (16 partitions)"), Status::Missed);

        // A failed Kafka row measures nothing against Kafka.
        let mut kafka = w2("kafka", 200_000, 1.333, 700);
        kafka.failure = Some("no messages".into());
        let verdicts = judge(&[w2("strata", 300_000, 0.8, 30), kafka], None);
        assert_eq!(status(&verdicts, "W2: msg/s at least 1.2× Kafka's"), Status::NotMeasured);
    }
}
