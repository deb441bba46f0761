//! Power-loss simulation (test support): what reached the disk durably, and a "cut" that puts a
//! data directory back to a state a real power cut could leave, TigerBeetle-style.
//!
//! A test arms a [`PowerCut`] on a data directory. From then on the log reports to it, through the
//! crate-internal hooks below, everything that decides durability under that directory:
//! - every write the writer thread made ([`wrote`]: file, position, bytes; not yet durable),
//! - every fsync of a file ([`file_synced`], [`path_synced`]): the file's whole content is read
//!   back and becomes its durable image,
//! - every fsync of a directory ([`dir_synced`]): the names in it become durable,
//! - renames ([`renamed`]) and new files ([`created`]), so a durable image follows its name.
//!
//! [`PowerCut::cut`] then rewrites the directory on disk to: durable images, plus a random subset of
//! the writes made since the file's last fsync (sometimes a prefix, the last one torn at a random
//! byte, sometimes an arbitrary subset: unsynced writes reach the disk in any order), plus, for files
//! changed other than by the writer (mmapped indexes, checkpoint files), a random mix of old and
//! new 4 KiB pages and of old and new length. A file or partition directory whose name was created
//! (or renamed into place) after the last fsync of its parent may vanish; a name removed since then
//! may come back with its durable content. Recovery (opening the partitions again) then runs on
//! what remains, and the model restarts from it: after a cut, what is on disk is durable.
//!
//! Limits of the model, chosen to keep it simple and never to produce a state a real disk could
//! not: a file never fsynced that was deleted does not come back; a name replaced by a rename whose
//! directory was not fsynced keeps only the new file (whose data may be lost); metadata other than
//! names and lengths (permissions, times) is not modelled.
//!
//! The hooks cost one atomic load when nothing is armed. Several tests may arm different
//! directories in one process; each hook reports to the [`PowerCut`] whose directory holds the path.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// Bytes of one page in the page-mix model of files not written by the writer.
const PAGE_BYTES: usize = 4096;

/// Armed simulations, by data directory.
static ARMED: Mutex<Vec<Weak<PowerCut>>> = Mutex::new(Vec::new());
/// `ARMED.len()` without the lock: the hooks' fast path.
static ARMED_COUNT: AtomicUsize = AtomicUsize::new(0);

/// One armed data directory. Dropping it disarms it.
#[derive(Debug)]
pub struct PowerCut {
    root: PathBuf,
    model: Mutex<Model>,
}

#[derive(Debug, Default)]
struct Model {
    /// Content as of the file's last fsync (absent: nothing of it is durable).
    durable: HashMap<PathBuf, Vec<u8>>,
    /// Writer writes since the file's last fsync, in the order they were made.
    unsynced: HashMap<PathBuf, Vec<(u64, Vec<u8>)>>,
    /// Names in each directory as of its last fsync.
    listings: HashMap<PathBuf, BTreeSet<OsString>>,
}

/// What one cut did, for the test's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Writer writes not yet fsynced when the power went.
    pub unsynced_writes: u64,
    /// Of those, writes that did not reach the disk (dropped, or beyond a torn one).
    pub writes_lost: u64,
    /// Writes cut at a random byte.
    pub writes_torn: u64,
    /// Files or directories whose un-fsynced directory entry vanished.
    pub entries_lost: u64,
    /// Removed files that came back because the removal was not made durable.
    pub entries_revived: u64,
    /// Files changed outside the writer (indexes, checkpoints) whose pages were mixed.
    pub pages_mixed_files: u64,
}

impl PowerCut {
    /// Starts recording durability for everything under `root` (which must exist): its current
    /// content counts as durable.
    pub fn arm(root: &Path) -> std::io::Result<Arc<PowerCut>> {
        let root = root.canonicalize()?;
        let power_cut = Arc::new(PowerCut { root, model: Mutex::new(Model::default()) });
        power_cut.restart_model()?;
        let mut armed = armed();
        armed.retain(|weak| weak.strong_count() > 0);
        armed.push(Arc::downgrade(&power_cut));
        ARMED_COUNT.store(armed.len(), Ordering::SeqCst);
        Ok(power_cut)
    }

    /// The directory this simulation watches.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn model(&self) -> MutexGuard<'_, Model> {
        self.model.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Cuts the power: rewrites the directory to what a power cut could leave (see the module
    /// docs). Everything using the directory must have stopped (the writer joined, no partition
    /// open). `random` gives the choices, so a seeded generator makes the cut reproducible.
    pub fn cut(&self, random: &mut dyn FnMut() -> u64) -> std::io::Result<CutReport> {
        let mut report = CutReport::default();
        {
            let model = self.model();
            cut_dir(&model, &self.root, random, &mut report)?;
        }
        self.restart_model()?;
        Ok(report)
    }

    /// After a cut (or at arming): what is on disk now is durable.
    fn restart_model(&self) -> std::io::Result<()> {
        let mut model = Model::default();
        snapshot_dir(&self.root, &mut model)?;
        *self.model() = model;
        Ok(())
    }
}

impl Drop for PowerCut {
    fn drop(&mut self) {
        let mut armed = armed();
        armed.retain(|weak| weak.strong_count() > 0);
        ARMED_COUNT.store(armed.len(), Ordering::SeqCst);
    }
}

fn armed() -> MutexGuard<'static, Vec<Weak<PowerCut>>> {
    ARMED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `record` on the simulation watching `path`, if any.
fn with_model(path: &Path, record: impl FnOnce(&mut Model)) {
    let Some(power_cut) = armed().iter().filter_map(Weak::upgrade).find(|p| path.starts_with(&p.root)) else {
        return;
    };
    record(&mut power_cut.model());
}

fn is_armed() -> bool {
    ARMED_COUNT.load(Ordering::Relaxed) > 0
}

/// The path an open file has now (`None` once it was deleted).
fn path_of(file: &File) -> Option<PathBuf> {
    let path = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    (!path.to_string_lossy().ends_with(" (deleted)")).then_some(path)
}

/// The writer wrote `data` at `position` of `file` (not yet durable).
pub(crate) fn wrote(file: &File, position: u64, data: &[u8]) {
    if !is_armed() {
        return;
    }
    let Some(path) = path_of(file) else { return };
    with_model(&path.clone(), |model| model.unsynced.entry(path).or_default().push((position, data.to_vec())));
}

/// `file` was fsynced: its content now is durable.
pub(crate) fn file_synced(file: &File) {
    if is_armed()
        && let Some(path) = path_of(file)
    {
        path_synced(&path);
    }
}

/// The file at `path` was fsynced: its content now is durable.
pub(crate) fn path_synced(path: &Path) {
    if !is_armed() {
        return;
    }
    let Ok(path) = path.canonicalize() else { return };
    if let Ok(content) = std::fs::read(&path) {
        with_model(&path.clone(), |model| {
            model.unsynced.remove(&path);
            model.durable.insert(path, content);
        });
    }
}

/// `dir` was fsynced: the names in it now are durable, and files no longer in it are gone for good.
pub(crate) fn dir_synced(dir: &Path) {
    if !is_armed() {
        return;
    }
    let Ok(dir) = dir.canonicalize() else { return };
    let Ok(names) = list(&dir) else { return };
    with_model(&dir.clone(), |model| {
        model
            .durable
            .retain(|path, _| path.parent() != Some(&dir) || path.file_name().is_some_and(|n| names.contains(n)));
        model.listings.insert(dir, names);
    });
}

/// `from` was renamed to `to`: the durable image (if any) follows the file.
pub(crate) fn renamed(from: &Path, to: &Path) {
    if !is_armed() {
        return;
    }
    let (Some(from), Ok(to)) = (absolute(from), to.canonicalize()) else { return };
    with_model(&to.clone(), |model| {
        match model.durable.remove(&from) {
            Some(content) => model.durable.insert(to.clone(), content),
            None => model.durable.remove(&to),
        };
        match model.unsynced.remove(&from) {
            Some(writes) => model.unsynced.insert(to, writes),
            None => model.unsynced.remove(&to),
        };
    });
}

/// A new, empty file now has the name `path` (an older file of that name was removed first).
pub(crate) fn created(path: &Path) {
    if !is_armed() {
        return;
    }
    let Ok(path) = path.canonicalize() else { return };
    with_model(&path.clone(), |model| {
        model.durable.remove(&path);
        model.unsynced.remove(&path);
    });
}

/// `path` made absolute through its (existing) parent, for a name that no longer exists.
fn absolute(path: &Path) -> Option<PathBuf> {
    Some(path.parent()?.canonicalize().ok()?.join(path.file_name()?))
}

fn list(dir: &Path) -> std::io::Result<BTreeSet<OsString>> {
    std::fs::read_dir(dir)?.map(|entry| entry.map(|e| e.file_name())).collect()
}

/// Records everything under `dir` as durable.
fn snapshot_dir(dir: &Path, model: &mut Model) -> std::io::Result<()> {
    let names = list(dir)?;
    for name in &names {
        let path = dir.join(name);
        if path.is_dir() {
            snapshot_dir(&path, model)?;
        } else {
            model.durable.insert(path.clone(), std::fs::read(&path)?);
        }
    }
    model.listings.insert(dir.to_path_buf(), names);
    Ok(())
}

fn coin(random: &mut dyn FnMut() -> u64) -> bool {
    random().is_multiple_of(2)
}

fn below(random: &mut dyn FnMut() -> u64, n: usize) -> usize {
    if n == 0 { 0 } else { usize::try_from(random() % n as u64).unwrap_or(0) }
}

/// Applies the cut to one directory (recursively).
fn cut_dir(model: &Model, dir: &Path, random: &mut dyn FnMut() -> u64, report: &mut CutReport) -> std::io::Result<()> {
    let present = list(dir)?;
    let empty = BTreeSet::new();
    let durable_names = model.listings.get(dir).unwrap_or(&empty);
    for name in present.union(durable_names) {
        let path = dir.join(name);
        let is_durable = durable_names.contains(name);
        if !present.contains(name) {
            // Removed since the directory's last fsync: the removal may not have reached the disk.
            if let Some(content) = model.durable.get(&path)
                && coin(random)
            {
                std::fs::write(&path, content)?;
                report.entries_revived += 1;
            }
            continue;
        }
        if !is_durable && coin(random) {
            if path.is_dir() {
                std::fs::remove_dir_all(&path)?;
            } else {
                std::fs::remove_file(&path)?;
            }
            report.entries_lost += 1;
            continue;
        }
        if path.is_dir() {
            cut_dir(model, &path, random, report)?;
            continue;
        }
        let durable = if is_durable { model.durable.get(&path).map(Vec::as_slice) } else { None };
        let content = match model.unsynced.get(&path) {
            Some(writes) => apply_writes(durable.unwrap_or_default(), writes, random, report),
            None => {
                let now = std::fs::read(&path)?;
                let before = durable.unwrap_or_default();
                if now == before {
                    continue;
                }
                report.pages_mixed_files += 1;
                mix_pages(before, &now, random)
            }
        };
        std::fs::write(&path, content)?;
    }
    Ok(())
}

/// Durable content plus some of the unsynced writes: either a prefix of them with the last one torn
/// at a random byte, or any subset (the disk may persist dirty pages in any order).
fn apply_writes(
    durable: &[u8],
    writes: &[(u64, Vec<u8>)],
    random: &mut dyn FnMut() -> u64,
    report: &mut CutReport,
) -> Vec<u8> {
    let mut content = durable.to_vec();
    report.unsynced_writes += writes.len() as u64;
    let prefix = coin(random);
    let kept = below(random, writes.len() + 1);
    for (index, (position, data)) in writes.iter().enumerate() {
        let mut data = data.as_slice();
        if prefix {
            if index > kept {
                report.writes_lost += 1;
                continue;
            }
            if index == kept {
                data = &data[..below(random, data.len())];
                report.writes_torn += 1;
            }
        } else if coin(random) {
            report.writes_lost += 1;
            continue;
        }
        let start = usize::try_from(*position).unwrap_or(usize::MAX);
        let end = start.saturating_add(data.len());
        if content.len() < end {
            content.resize(end, 0);
        }
        content[start..end].copy_from_slice(data);
    }
    content
}

/// Old or new length, and each page old or new.
fn mix_pages(before: &[u8], now: &[u8], random: &mut dyn FnMut() -> u64) -> Vec<u8> {
    let len = if coin(random) { before.len() } else { now.len() };
    let mut content = vec![0u8; len];
    for start in (0..len).step_by(PAGE_BYTES) {
        let end = (start + PAGE_BYTES).min(len);
        let source = if coin(random) { before } else { now };
        let available = source.len().clamp(start, end);
        content[start..available].copy_from_slice(&source[start..available]);
    }
    content
}
