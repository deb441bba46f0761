//! Writer tests. Every behaviour is checked on both backends (`for kind in KINDS`), so the io_uring
//! path and the pwrite fallback cannot drift apart.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::faults::{Faults, TearMode};
use super::{IoError, IoKind, WriteJob, Writer, WriterOptions};

const KINDS: [IoKind; 2] = [IoKind::IoUring, IoKind::Fallback];

fn options(kind: IoKind) -> WriterOptions {
    WriterOptions { force_fallback: kind == IoKind::Fallback, ..WriterOptions::default() }
}

/// io_uring must really be used where the kernel allows it; a silent fallback would make half of
/// these tests test the wrong thing. Set STRATA_IO_URING_UNAVAILABLE=1 where it is blocked.
fn start(kind: IoKind, options: WriterOptions, faults: Option<Arc<Faults>>) -> Writer {
    let writer = match faults {
        Some(faults) => Writer::start_with_faults(options, faults),
        None => Writer::start(options),
    }
    .unwrap();
    if kind == IoKind::IoUring && std::env::var_os("STRATA_IO_URING_UNAVAILABLE").is_some() {
        return writer;
    }
    assert_eq!(writer.kind(), kind, "io_uring setup failed on this machine");
    writer
}

fn open(path: &Path) -> Arc<File> {
    Arc::new(OpenOptions::new().create(true).read(true).write(true).truncate(true).open(path).unwrap())
}

/// A job whose completion reports `(tag, result)` on `tx`.
fn job(
    file: &Arc<File>,
    position: u64,
    data: &[u8],
    sync: bool,
    tag: usize,
    tx: &Sender<(usize, std::io::Result<()>)>,
) -> WriteJob {
    let tx = tx.clone();
    WriteJob {
        file: Arc::clone(file),
        position,
        data: Bytes::copy_from_slice(data),
        sync,
        done: Box::new(move |result| {
            let _ = tx.send((tag, result));
        }),
    }
}

/// A job that holds the writer thread inside its `done` until the returned sender is used, so the
/// test can fill the queue behind it deterministically (partition tests use it too).
pub(crate) fn gate(writer: &Writer, file: &Arc<File>) -> Sender<()> {
    let (release, wait) = channel::<()>();
    let (entered_tx, entered) = channel::<()>();
    writer
        .submit(WriteJob {
            file: Arc::clone(file),
            position: 0,
            data: Bytes::new(),
            sync: false,
            done: Box::new(move |_| {
                let _ = entered_tx.send(());
                let _ = wait.recv();
            }),
        })
        .unwrap();
    entered.recv_timeout(Duration::from_secs(10)).unwrap();
    release
}

fn results(rx: &Receiver<(usize, std::io::Result<()>)>, n: usize) -> Vec<(usize, std::io::Result<()>)> {
    (0..n).map(|_| rx.recv_timeout(Duration::from_secs(20)).unwrap()).collect()
}

fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8).collect()
}

#[test]
fn done_callbacks_run_in_submission_order_and_data_reaches_the_file() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = (0..3).map(|i| open(&dir.path().join(format!("f{i}")))).collect();
        let writer = start(kind, options(kind), None);
        let (tx, rx) = channel();
        let record_len = 1000;
        for i in 0..600 {
            let file = &files[i % 3];
            let position = ((i / 3) * record_len) as u64;
            writer.submit(job(file, position, &pattern(i, record_len), i % 5 == 0, i, &tx)).unwrap();
        }
        let got = results(&rx, 600);
        let order: Vec<usize> = got.iter().map(|(tag, _)| *tag).collect();
        assert_eq!(order, (0..600).collect::<Vec<_>>(), "{kind:?}");
        assert!(got.iter().all(|(_, result)| result.is_ok()), "{kind:?}");
        for i in 0..600 {
            let mut buf = vec![0u8; record_len];
            files[i % 3].read_exact_at(&mut buf, ((i / 3) * record_len) as u64).unwrap();
            assert_eq!(buf, pattern(i, record_len), "{kind:?} job {i}");
        }
        let stats = writer.stats();
        assert_eq!(stats.jobs, 600);
        assert!(stats.writes >= 600);
        writer.stop();
    }
}

#[test]
fn group_commit_syncs_each_file_once_per_batch() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = (0..3).map(|i| open(&dir.path().join(format!("f{i}")))).collect();
        let writer = start(kind, options(kind), None);
        let (tx, rx) = channel();
        let release = gate(&writer, &files[0]);
        // 120 fsync-per-ack appends queue up behind the gate: one batch, three files.
        for i in 0..120 {
            writer.submit(job(&files[i % 3], (i * 10) as u64, b"0123456789", true, i, &tx)).unwrap();
        }
        let before = writer.stats();
        release.send(()).unwrap();
        let got = results(&rx, 120);
        assert!(got.iter().all(|(_, result)| result.is_ok()));
        let after = writer.stats();
        assert_eq!(after.fsyncs - before.fsyncs, 3, "{kind:?}: one fdatasync per file, not per job");
        assert_eq!(after.batches - before.batches, 1, "{kind:?}");
        writer.stop();
    }
}

#[test]
fn a_pure_fsync_job_syncs_without_writing() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let writer = start(kind, options(kind), None);
        let (tx, rx) = channel();
        writer.submit(job(&file, 0, b"", true, 0, &tx)).unwrap();
        assert!(results(&rx, 1)[0].1.is_ok());
        let stats = writer.stats();
        assert_eq!((stats.writes, stats.fsyncs), (0, 1), "{kind:?}");
        assert_eq!(file.metadata().unwrap().len(), 0);
        writer.stop();
    }
}

#[test]
fn short_writes_are_resubmitted_until_complete() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let faults = Faults::new();
        faults.short_writes(Some(777));
        let writer = start(kind, options(kind), Some(Arc::clone(&faults)));
        let (tx, rx) = channel();
        let data = pattern(9, 50_000);
        writer.submit(job(&file, 0, &data[..20_000], false, 0, &tx)).unwrap();
        writer.submit(job(&file, 20_000, &data[20_000..], true, 1, &tx)).unwrap();
        assert!(results(&rx, 2).iter().all(|(_, result)| result.is_ok()));
        let mut buf = vec![0u8; data.len()];
        file.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(buf, data, "{kind:?}");
        let stats = writer.stats();
        assert!(stats.write_resubmits >= 60, "{kind:?}: {stats:?}");
        assert_eq!(stats.writes, 20_000_u64.div_ceil(777) + 30_000_u64.div_ceil(777), "{kind:?}: {stats:?}");
        writer.stop();
    }
}

#[test]
fn submit_blocks_when_the_queue_is_full() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let writer = start(kind, WriterOptions { queue_depth_max: 4, ..options(kind) }, None);
        let (tx, rx) = channel();
        let release = gate(&writer, &file);
        let submitted = Arc::new(AtomicUsize::new(0));
        let producer = {
            let (writer, file, submitted) = (writer.clone(), Arc::clone(&file), Arc::clone(&submitted));
            std::thread::spawn(move || {
                for i in 0..20 {
                    writer.submit(job(&file, i as u64, b"x", false, i, &tx)).unwrap();
                    submitted.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(submitted.load(Ordering::SeqCst), 4, "{kind:?}: the queue holds queue_depth_max jobs");
        release.send(()).unwrap();
        producer.join().unwrap();
        assert_eq!(results(&rx, 20).len(), 20);
        writer.stop();
    }
}

#[test]
fn stop_completes_every_queued_job_then_refuses_work() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let writer = start(kind, WriterOptions { queue_depth_max: 8, ..options(kind) }, None);
        let (tx, rx) = channel();
        let release = gate(&writer, &file);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let (writer, file, tx) = (writer.clone(), Arc::clone(&file), tx.clone());
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|i| writer.submit(job(&file, (p * 50 + i) as u64, b"y", true, 0, &tx)).is_ok())
                        .count()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        let stopper = {
            let writer = writer.clone();
            std::thread::spawn(move || writer.stop())
        };
        std::thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
        stopper.join().unwrap();
        let accepted: usize = producers.into_iter().map(|p| p.join().unwrap()).sum();
        drop(tx);
        // Every accepted job was completed: none was dropped with the queue.
        assert_eq!(rx.iter().count(), accepted, "{kind:?}");
        assert_eq!(writer.stats().jobs as usize, accepted + 1, "{kind:?}");
        let (tx, _rx) = channel();
        assert!(matches!(writer.submit(job(&file, 0, b"z", false, 0, &tx)), Err(IoError::Stopped)));
        writer.stop(); // idempotent
    }
}

#[test]
fn torn_write_keeps_a_prefix_and_fails_only_its_file_in_the_batch() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(&dir.path().join("a")), open(&dir.path().join("b")));
        let faults = Faults::new();
        faults.tear_write_job(1, 10, TearMode::FailJob);
        let writer = start(kind, options(kind), Some(Arc::clone(&faults)));
        let (tx, rx) = channel();
        let release = gate(&writer, &a);
        writer.submit(job(&a, 0, &[1; 100], true, 0, &tx)).unwrap();
        writer.submit(job(&a, 100, &[2; 100], true, 1, &tx)).unwrap(); // torn
        writer.submit(job(&b, 0, &[3; 100], true, 2, &tx)).unwrap();
        writer.submit(job(&a, 200, &[4; 100], true, 3, &tx)).unwrap(); // after the hole
        release.send(()).unwrap();
        let got = results(&rx, 4);
        let ok: Vec<bool> = got.iter().map(|(_, result)| result.is_ok()).collect();
        assert_eq!(ok, [true, false, true, false], "{kind:?}");
        let mut buf = vec![0u8; 300];
        a.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf[100..110], &[2; 10]);
        assert_eq!(&buf[110..200], &[0; 90], "{kind:?}: only the prefix reached the file");
        assert_eq!(faults.counts().torn_writes, 1);
        // The writer goes on after a FailJob tear.
        writer.submit(job(&b, 100, &[5; 10], true, 4, &tx)).unwrap();
        assert!(results(&rx, 1)[0].1.is_ok());
        writer.stop();
    }
}

#[test]
fn a_process_death_mid_write_acknowledges_nothing_more() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let faults = Faults::new();
        faults.tear_write_job(3, 5, TearMode::ProcessDies);
        let writer = start(kind, options(kind), Some(Arc::clone(&faults)));
        let (tx, rx) = channel();
        for i in 0..3 {
            writer.submit(job(&file, i * 10, &[i as u8 + 1; 10], true, i as usize, &tx)).unwrap();
            assert!(results(&rx, 1)[0].1.is_ok(), "{kind:?}");
        }
        for i in 3..6 {
            writer.submit(job(&file, i * 10, &[i as u8 + 1; 10], true, i as usize, &tx)).unwrap();
        }
        assert!(results(&rx, 3).iter().all(|(_, result)| result.is_err()), "{kind:?}");
        assert!(faults.is_dead());
        assert_eq!(file.metadata().unwrap().len(), 35, "{kind:?}: three records and a torn prefix");
        writer.stop();
    }
}

#[test]
fn failing_fsync_fails_the_sync_jobs_of_that_file_only() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(&dir.path().join("a")), open(&dir.path().join("b")));
        let faults = Faults::new();
        faults.fail_fsync(0, libc::EIO);
        let writer = start(kind, options(kind), Some(Arc::clone(&faults)));
        let (tx, rx) = channel();
        let release = gate(&writer, &b);
        writer.submit(job(&a, 0, b"abc", true, 0, &tx)).unwrap();
        writer.submit(job(&a, 3, b"def", false, 1, &tx)).unwrap();
        writer.submit(job(&b, 0, b"ghi", true, 2, &tx)).unwrap();
        writer.submit(job(&a, 6, b"jkl", true, 3, &tx)).unwrap();
        release.send(()).unwrap();
        let got = results(&rx, 4);
        let ok: Vec<bool> = got.iter().map(|(_, result)| result.is_ok()).collect();
        assert_eq!(ok, [false, true, true, false], "{kind:?}");
        let fsync_error = super::FsyncFailed::of(got[0].1.as_ref().unwrap_err()).unwrap();
        assert_eq!(fsync_error.raw_os_error(), Some(libc::EIO));
        assert_eq!(faults.counts().failed_fsyncs, 1);
        assert_eq!(writer.stats().fsyncs, 1, "{kind:?}: the failed fsync was never issued, b's was");
        writer.stop();
    }
}

#[test]
fn a_real_write_error_reaches_done() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"").unwrap();
        let read_only = Arc::new(File::open(&path).unwrap());
        let writer = start(kind, options(kind), None);
        let (tx, rx) = channel();
        writer.submit(job(&read_only, 0, b"nope", false, 0, &tx)).unwrap();
        let got = results(&rx, 1);
        assert_eq!(got[0].1.as_ref().unwrap_err().raw_os_error(), Some(libc::EBADF), "{kind:?}");
        writer.stop();
    }
}

#[test]
fn callbacks_may_submit_and_may_panic() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let writer = start(kind, WriterOptions { queue_depth_max: 1, ..options(kind) }, None);
        let (tx, rx) = channel();
        let chain = Arc::new(Mutex::new(Vec::new()));
        // Each completion submits the next job from the writer thread itself: with a queue of one
        // this would deadlock if such submits went through the bounded queue.
        fn chained(
            writer: Writer,
            file: Arc<File>,
            n: u64,
            log: Arc<Mutex<Vec<u64>>>,
            tx: Sender<(usize, std::io::Result<()>)>,
        ) -> WriteJob {
            WriteJob {
                file: Arc::clone(&file),
                position: n,
                data: Bytes::from(vec![n as u8]),
                sync: false,
                done: Box::new(move |result| {
                    log.lock().unwrap().push(n);
                    if n < 50 {
                        writer.submit(chained(writer.clone(), file, n + 1, log, tx)).unwrap();
                    } else {
                        let _ = tx.send((n as usize, result));
                    }
                }),
            }
        }
        writer.submit(chained(writer.clone(), Arc::clone(&file), 0, Arc::clone(&chain), tx.clone())).unwrap();
        assert_eq!(results(&rx, 1)[0].0, 50);
        assert_eq!(*chain.lock().unwrap(), (0..=50).collect::<Vec<_>>());
        writer
            .submit(WriteJob {
                file: Arc::clone(&file),
                position: 0,
                data: Bytes::new(),
                sync: false,
                done: Box::new(|_| panic!("boom")),
            })
            .unwrap();
        writer.submit(job(&file, 60, b"after", true, 7, &tx)).unwrap();
        assert_eq!(results(&rx, 1)[0].0, 7, "{kind:?}: the writer survived a panicking callback");
        writer.stop();
    }
}

#[test]
fn try_reserve_takes_a_queue_place_without_blocking() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let writer = start(kind, WriterOptions { queue_depth_max: 2, ..options(kind) }, None);
        let (tx, rx) = channel();
        let release = gate(&writer, &file);
        let first = writer.try_reserve().unwrap();
        writer.submit(job(&file, 0, b"a", false, 0, &tx)).unwrap();
        // Reserved places count against the bound like queued jobs.
        assert!(writer.try_reserve().is_none(), "{kind:?}: the queue is full");
        assert_eq!(writer.slots_used(), 2);
        let blocked = {
            let (writer, file, tx) = (writer.clone(), Arc::clone(&file), tx.clone());
            std::thread::spawn(move || writer.submit(job(&file, 1, b"b", false, 1, &tx)))
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(!blocked.is_finished(), "{kind:?}: submit waits while reservations fill the queue");
        // An unused reservation gives its place back: the blocked submit goes on.
        drop(first);
        blocked.join().unwrap().unwrap();
        let second = writer.try_reserve();
        assert!(second.is_none(), "{kind:?}: the blocked submit took the freed place");
        release.send(()).unwrap();
        assert_eq!(results(&rx, 2).iter().map(|(tag, _)| *tag).collect::<Vec<_>>(), vec![0, 1]);
        // A reservation's job is written and completed like any other, in submission order.
        let reserved = writer.try_reserve().unwrap();
        let after = writer.try_reserve().unwrap();
        reserved.submit(job(&file, 2, b"c", true, 2, &tx)).unwrap();
        after.submit(job(&file, 3, b"d", false, 3, &tx)).unwrap();
        let got = results(&rx, 2);
        assert_eq!(got.iter().map(|(tag, _)| *tag).collect::<Vec<_>>(), vec![2, 3], "{kind:?}");
        assert!(got.iter().all(|(_, result)| result.is_ok()), "{kind:?}");
        let mut buf = [0u8; 4];
        file.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"abcd", "{kind:?}");
        assert_eq!(writer.slots_used(), 0, "{kind:?}: every place came back");
        // After stop, a reservation's submit fails like submit and its place is not leaked.
        let late = writer.try_reserve().unwrap();
        writer.stop();
        assert!(matches!(late.submit(job(&file, 4, b"e", false, 4, &tx)), Err(IoError::Stopped)), "{kind:?}");
        assert_eq!(writer.slots_used(), 0, "{kind:?}");
    }
}

#[test]
fn a_callback_may_reserve_even_when_the_queue_is_full() {
    for kind in KINDS {
        let dir = tempfile::tempdir().unwrap();
        let file = open(&dir.path().join("f"));
        let writer = start(kind, WriterOptions { queue_depth_max: 1, ..options(kind) }, None);
        let (tx, rx) = channel();
        let inner_writer = writer.clone();
        let (inner_file, inner_tx) = (Arc::clone(&file), tx.clone());
        let (proceed_tx, proceed) = channel::<()>();
        let (entered_tx, entered) = channel::<()>();
        writer
            .submit(WriteJob {
                file: Arc::clone(&file),
                position: 0,
                data: Bytes::new(),
                sync: false,
                done: Box::new(move |_| {
                    // Wait until the queue is full, then reserve from the writer thread itself.
                    entered_tx.send(()).unwrap();
                    proceed.recv().unwrap();
                    let reservation = inner_writer.try_reserve().expect("a callback's reservation bypasses the queue");
                    reservation.submit(job(&inner_file, 0, b"r", false, 1, &inner_tx)).unwrap();
                }),
            })
            .unwrap();
        entered.recv_timeout(Duration::from_secs(10)).unwrap();
        writer.submit(job(&file, 1, b"q", false, 0, &tx)).unwrap();
        assert!(writer.try_reserve().is_none(), "{kind:?}");
        proceed_tx.send(()).unwrap();
        // The queued job was submitted first, but the callback's job joins the next batch first,
        // exactly as a callback's `submit` does.
        let order: Vec<usize> = results(&rx, 2).iter().map(|(tag, _)| *tag).collect();
        assert_eq!(order, vec![1, 0], "{kind:?}");
        assert_eq!(writer.slots_used(), 0, "{kind:?}");
        writer.stop();
    }
}
