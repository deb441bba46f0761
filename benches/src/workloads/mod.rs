//! The standard workloads W1-W8 of the benchmark issue: the catalogue (what each offers, at which
//! scale) and the runner (a fresh broker, a topic, the load, and the broker's usage).

mod catalogue;
mod runner;

pub use catalogue::{CeilingRef, FetchPath, Kind, Scale, ScaleName, Workload, standard};
pub use runner::{BrokerUsage, Outcome, RunContext, data_dir, run};
