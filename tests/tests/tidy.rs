//! A tidy test for what clippy cannot see: which crate may depend on which (DESIGN.md's table),
//! that every Rust file opens with a `//!` comment saying its role, and that README.md documents
//! every API the broker serves and every setting it accepts.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names under `[dependencies]` of a manifest (not dev-dependencies).
fn dependencies(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps
            && !line.starts_with('#')
            && let Some((name, _)) = line.split_once('=')
        {
            names.push(name.trim().trim_end_matches(".workspace").to_string());
        }
    }
    names
}

#[test]
fn crates_depend_only_on_what_the_design_allows() {
    // DESIGN.md: wire has no I/O; log and groups know nothing of sockets or the broker.
    let allowed: &[(&str, &[&str])] = &[
        (
            "wire",
            &["kafka-protocol", "bytes", "crc32c", "thiserror", "anyhow", "uuid", "flate2", "snap", "lz4", "zstd"],
        ),
        ("log", &["strata-wire", "bytes", "crc32c", "io-uring", "memmap2", "libc", "thiserror", "tracing", "tokio"]),
        ("groups", &["strata-wire", "kafka-protocol", "bytes", "thiserror"]),
    ];
    for (dir, allowed) in allowed {
        let manifest = read(&workspace().join(dir).join("Cargo.toml"));
        for dep in dependencies(&manifest) {
            assert!(
                allowed.contains(&dep.as_str()),
                "{dir}/Cargo.toml depends on {dep}, which DESIGN.md does not allow"
            );
        }
    }
    let log = read(&workspace().join("log").join("Cargo.toml"));
    assert!(
        log.contains("tokio = { version = \"1\", default-features = false, features = [\"sync\"] }"),
        "strata-log may use tokio's sync primitives only"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            if !name.starts_with("target") && !name.starts_with('.') && name != "node_modules" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_role_comment() {
    let mut files = Vec::new();
    for dir in ["wire", "log", "groups", "broker", "tests", "benches"] {
        rust_files(&workspace().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<_> =
        files.iter().filter(|f| !read(f).trim_start().starts_with("//!")).map(|f| f.display().to_string()).collect();
    assert!(missing.is_empty(), "files without a leading //! comment: {missing:#?}");
}

#[test]
fn readme_documents_every_api_and_setting() {
    let readme = read(&workspace().join("README.md"));
    let dispatch = read(&workspace().join("broker/src/dispatch.rs"));
    let mut apis = 0;
    for line in dispatch.lines() {
        let line = line.trim();
        // `legacy_api(ApiKey::X, legacy_min, min, max)` lists Kafka 4.1's range after the legacy minimum.
        let (rest, skip) = match (line.strip_prefix("api(ApiKey::"), line.strip_prefix("legacy_api(ApiKey::")) {
            (Some(rest), _) => (rest, 0),
            (None, Some(rest)) => (rest, 1),
            (None, None) => continue,
        };
        let (name, range) = rest.split_once(',').unwrap_or_else(|| panic!("odd API line {line}"));
        let numbers: Vec<&str> = range.trim_end_matches("),").split(',').map(str::trim).skip(skip).collect();
        let row = format!("| {name} | {} | {} |", numbers[0], numbers[1]);
        assert!(readme.contains(&row), "README.md's API table lacks the row `{row}`");
        apis += 1;
    }
    assert!(apis >= 6, "found only {apis} APIs in dispatch.rs");
    let defs = read(&workspace().join("broker/src/config_defs.rs"));
    for line in defs.lines() {
        if let Some(rest) = line.trim().split_once("name: \"") {
            let name = rest.1.split('"').next().unwrap_or_default();
            assert!(readme.contains(&format!("`{name}`")), "README.md does not document setting `{name}`");
        }
    }
}
