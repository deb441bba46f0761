//! A second broker started on a data directory that a running broker holds refuses to start and
//! names the other process, as Kafka refuses a locked log directory; the running broker is not
//! disturbed, and the lock goes with its process, however that process ends.

use std::ffi::OsStr;

use strata_testkit::requests;
use strata_tests::Broker;
use strata_tests::broker::run_strata;

#[test]
fn a_second_broker_on_a_data_directory_in_use_refuses_to_start() {
    let mut broker = Broker::start_default();
    let mut conn = strata_testkit::RawConn::connect(broker.bootstrap());
    requests::create_topic_ok(&mut conn, "kept", 1);

    let data_dir = broker.data_dir().to_owned();
    let output =
        run_strata([OsStr::new("--listen"), OsStr::new("127.0.0.1:0"), OsStr::new("--data-dir"), data_dir.as_os_str()]);
    let status = output.status;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!status.success(), "the second broker must fail: {stderr}");
    assert!(!stdout.contains("listening on"), "the second broker must not listen: {stdout}");
    let pid = broker.pid().expect("first broker's pid");
    assert!(stderr.contains("is in use by another process"), "{stderr}");
    assert!(stderr.contains(&format!("(pid {pid})")), "the message names the running broker: {stderr}");

    // The first broker still serves, and its topic is intact.
    requests::assert_serves(broker.bootstrap());
    let metadata = requests::metadata(&mut conn, Some(&["kept"]), false);
    assert_eq!(metadata.topics[0].error_code, 0);

    // SIGKILL releases the lock with the process: the broker starts again on the same directory.
    broker.kill();
    broker.restart();
    let mut conn = strata_testkit::RawConn::connect(broker.bootstrap());
    let metadata = requests::metadata(&mut conn, Some(&["kept"]), false);
    assert_eq!(metadata.topics[0].error_code, 0, "the topic survives");
}
