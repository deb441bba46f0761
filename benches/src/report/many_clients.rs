//! RESULTS.md's W8 section: what many connections cost each broker, one row per broker and,
//! when both ran cleanly, a row of Strata's figure over Kafka's under each column.

use super::ratio;
use crate::manyclients::ManyClients;
use crate::workloads::Outcome;
use std::fmt::Write as _;

/// The numeric columns, with the decimals each is printed with.
const COLUMNS: [(&str, usize); 8] = [
    ("msg/s", 0),
    ("produce p50 ms", 2),
    ("produce p99 ms", 2),
    ("end-to-end p50 ms", 2),
    ("end-to-end p99 ms", 2),
    ("requests/s", 0),
    ("broker CPU µs/request", 1),
    ("broker RSS KiB/connection", 1),
];

/// A row's figures in [`COLUMNS`] order.
fn values(o: &Outcome, m: &ManyClients) -> [f64; 8] {
    let produce = o.load.produce_latency.summary();
    let e2e = o.load.e2e_latency.summary();
    [
        o.msgs_per_sec(),
        produce.p50_ms,
        produce.p99_ms,
        e2e.p50_ms,
        e2e.p99_ms,
        m.requests_per_sec(),
        m.cpu_us_per_request(),
        m.rss_bytes_per_connection() / 1024.0,
    ]
}

fn engine_row(o: &Outcome, m: &ManyClients) -> String {
    let cells: Vec<String> =
        values(o, m).iter().zip(COLUMNS).map(|(value, (_, digits))| format!("{value:.digits$}")).collect();
    let status = o.failure.as_deref().map_or_else(|| "ok".to_string(), |f| format!("FAILED: {f}"));
    format!("| {} | {} + {} | {} | {status} |", o.engine, m.producers, m.consumers, cells.join(" | "))
}

fn ratio_row(strata: &[f64; 8], kafka: &[f64; 8]) -> String {
    let cells: Vec<String> = strata.iter().zip(kafka).map(|(s, k)| ratio(*s, *k)).collect();
    format!("| Strata / Kafka | | {} | |", cells.join(" | "))
}

/// The W8 rows of `outcomes` with their figures.
fn rows(outcomes: &[Outcome]) -> Vec<(&Outcome, &ManyClients)> {
    outcomes.iter().filter_map(|o| o.many_clients.as_ref().map(|m| (o, m))).collect()
}

/// Appends the section; nothing when the run had no W8 row.
pub fn render(out: &mut String, outcomes: &[Outcome]) {
    let rows = rows(outcomes);
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## W8: many clients\n");
    let _ = writeln!(
        out,
        "Producer + consumer connections held open at a modest rate, each a task on one client thread speaking the"
    );
    let _ = writeln!(
        out,
        "raw protocol; only the window after warm-up is measured. Broker CPU µs/request is the broker's CPU time in"
    );
    let _ = writeln!(
        out,
        "that window over the produce and fetch requests answered in it. RSS per connection is the broker's peak RSS"
    );
    let _ = writeln!(
        out,
        "(VmHWM) at the window's end minus its RSS before the first connection, over the connections: everything the"
    );
    let _ = writeln!(
        out,
        "load made it keep resident, for a JVM including heap pages touched for the first time. Lower is better for"
    );
    let _ = writeln!(out, "every column but msg/s and requests/s.\n");
    let names: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    let _ = writeln!(out, "| broker | connections | {} | status |", names.join(" | "));
    let _ = writeln!(out, "|---|---|{}---|", "---:|".repeat(COLUMNS.len()));
    for (o, m) in &rows {
        let _ = writeln!(out, "{}", engine_row(o, m));
    }
    let clean = |engine: &str| rows.iter().find(|(o, _)| o.engine == engine && o.failure.is_none());
    if let (Some((s, sm)), Some((k, km))) = (clean("strata"), clean("kafka")) {
        let _ = writeln!(out, "{}", ratio_row(&values(s, sm), &values(k, km)));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::loadgen::LoadResult;
    use crate::workloads::{BrokerUsage, Scale, ScaleName, standard};
    use std::time::Duration;

    /// A W8 row: 1,000 messages in 1 s at `latency_us`, `cpu_secs` over 2,000 requests and
    /// `rss_kib` KiB of growth per each of 10 connections.
    fn w8(engine: &'static str, latency_us: u64, cpu_secs: f64, rss_kib: u64) -> Outcome {
        let workload = standard(&Scale::new(ScaleName::Smoke), &[]).into_iter().find(|w| w.id == "W8").unwrap();
        let mut load = LoadResult { delivered: 1000, produce_secs: 1.0, ..LoadResult::default() };
        load.produce_latency.record(Duration::from_micros(latency_us));
        load.e2e_latency.record(Duration::from_micros(2 * latency_us));
        let many_clients = ManyClients {
            producers: 8,
            consumers: 2,
            produce_requests: 1000,
            fetch_requests: 1000,
            wall_secs: 1.0,
            broker_cpu_secs: cpu_secs,
            rss_before_bytes: 1 << 20,
            rss_peak_bytes: (1 << 20) + 10 * (rss_kib << 10),
            ..ManyClients::default()
        };
        Outcome {
            id: "W8".into(),
            engine,
            title: workload.title.clone(),
            workload,
            load,
            catch_up: None,
            usage: BrokerUsage::default(),
            many_clients: Some(many_clients),
            failure: None,
        }
    }

    #[test]
    fn each_broker_has_a_row_and_the_ratio_row_divides_them() {
        let mut out = String::new();
        render(&mut out, &[w8("strata", 500, 0.02, 40), w8("kafka", 1000, 0.08, 160)]);
        assert!(out.contains("## W8: many clients"), "{out}");
        assert!(
            out.contains("| strata | 8 + 2 | 1000 | 0.50 | 0.50 | 1.00 | 1.00 | 2000 | 10.0 | 40.0 | ok |"),
            "{out}"
        );
        assert!(
            out.contains("| kafka | 8 + 2 | 1000 | 1.00 | 1.00 | 2.00 | 2.00 | 2000 | 40.0 | 160.0 | ok |"),
            "{out}"
        );
        assert!(
            out.contains("| Strata / Kafka | | 1.00× | 0.50× | 0.50× | 0.50× | 0.50× | 1.00× | 0.25× | 0.25× | |"),
            "{out}"
        );
    }

    #[test]
    fn a_failed_row_shows_why_and_no_ratio_is_made_with_it() {
        let mut kafka = w8("kafka", 1000, 0.08, 160);
        kafka.failure = Some("read back 9 of 10".into());
        let mut out = String::new();
        render(&mut out, &[w8("strata", 500, 0.02, 40), kafka]);
        assert!(out.contains("| FAILED: read back 9 of 10 |"), "{out}");
        assert!(!out.contains("Strata / Kafka"), "{out}");
        let mut none = String::new();
        render(&mut none, &[]);
        assert!(none.is_empty());
    }
}
