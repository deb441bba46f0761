//! A tidy test for what clippy cannot see: which crate may depend on which (DESIGN.md's table) and
//! what each may use only in its tests, which files may hold `unsafe` code, that wire, log and
//! groups (and txn) read no clock and open no socket, that every Rust file opens with a `//!` comment saying
//! its role, that every handler declares its API and is routed by the API table, and that
//! README.md documents every API the broker serves and every setting it accepts.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names under `[dependencies]` of a manifest (not dev-dependencies).
fn dependencies(manifest: &str) -> Vec<String> {
    section_names(manifest, "[dependencies]")
}

/// The names under the manifest section headed `header`.
fn section_names(manifest: &str, header: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == header;
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
    // DESIGN.md: wire has no I/O; log, groups, txn and cluster know nothing of sockets or the broker.
    let allowed: &[(&str, &[&str])] = &[
        (
            "wire",
            &[
                "kafka-protocol",
                "bytes",
                "crc32c",
                "thiserror",
                "anyhow",
                "uuid",
                "flate2",
                "snap",
                "lz4",
                "zstd",
                "serde",
                "serde_json",
            ],
        ),
        ("log", &["strata-wire", "bytes", "crc32c", "io-uring", "memmap2", "libc", "thiserror", "tracing", "tokio"]),
        ("groups", &["strata-wire", "kafka-protocol", "bytes", "thiserror"]),
        ("txn", &["strata-groups", "kafka-protocol", "bytes", "thiserror"]),
        ("cluster", &["thiserror", "serde", "uuid"]),
        (
            "quorum",
            &[
                "strata-cluster",
                "strata-log",
                "strata-wire",
                "openraft",
                "kafka-protocol",
                "bytes",
                "tokio",
                "tracing",
                "serde",
                "serde_json",
                "thiserror",
            ],
        ),
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

#[test]
fn only_the_quorum_crate_names_openraft() {
    // QUORUM-DESIGN.md: openraft's API is unstable before 1.0, so one crate holds every use.
    for dir in CRATE_DIRS.iter().filter(|d| **d != "quorum") {
        let manifest = workspace().join(dir).join("Cargo.toml");
        if manifest.exists() {
            assert!(!dependencies(&read(&manifest)).contains(&"openraft".to_string()), "{dir} depends on openraft");
        }
    }
}

/// Crates that exist only to test or measure (test kit, end-to-end tests, benchmarks, this crate).
const TEST_ONLY_CRATES: &[&str] = &["testkit", "tests", "benches", "tidy", "fuzz-targets"];

#[test]
fn test_support_is_only_a_dev_dependency_of_the_product() {
    // What each product crate may use in its tests and benchmarks only.
    let allowed: &[(&str, &[&str])] = &[
        ("wire", &["strata-testkit", "proptest", "criterion"]),
        ("log", &["strata-testkit", "kafka-protocol", "proptest", "tempfile", "criterion", "tokio"]),
        ("groups", &["strata-testkit", "proptest"]),
        ("txn", &["proptest"]),
        ("cluster", &["proptest"]),
        ("quorum", &["tempfile", "uuid"]),
        ("broker", &["strata-testkit", "tempfile"]),
    ];
    for (dir, allowed) in allowed {
        let manifest = read(&workspace().join(dir).join("Cargo.toml"));
        for dep in section_names(&manifest, "[dev-dependencies]") {
            assert!(allowed.contains(&dep.as_str()), "{dir}/Cargo.toml has the dev-dependency {dep}, not on the list");
        }
        let shipped = dependencies(&manifest);
        for test_only in ["strata-testkit", "rdkafka", "proptest", "criterion", "tempfile"] {
            assert!(
                !shipped.contains(&test_only.to_string()),
                "{dir} ships with {test_only}: make it a dev-dependency"
            );
        }
    }
    let members = read(&workspace().join("Cargo.toml"));
    for dir in TEST_ONLY_CRATES {
        assert!(members.contains(&format!("\"{dir}\"")), "{dir} is a workspace member");
    }
}

/// Every directory of Rust code in the workspace (each crate, and the fuzz project).
const CRATE_DIRS: &[&str] = &[
    "wire",
    "log",
    "groups",
    "txn",
    "cluster",
    "quorum",
    "broker",
    "testkit",
    "tests",
    "benches",
    "tidy",
    "fuzz-targets",
    "fuzz",
];

/// The files allowed `unsafe` code (the workspace denies it everywhere else), each for a reason
/// its own comments give.
const UNSAFE_ALLOWED: &[&str] = &[
    "log/src/mmap.rs",              // memory-mapped index files (memmap2)
    "log/src/io/uring.rs",          // io_uring submissions that borrow buffers until completion
    "broker/src/malloc_arenas.rs",  // glibc's mallopt, once at start-up
    "fuzz-targets/tests/corpus.rs", // the counting allocator of the corpus replay
];

#[test]
fn unsafe_code_only_where_listed() {
    let mut files = Vec::new();
    for dir in CRATE_DIRS {
        rust_files(&workspace().join(dir), &mut files);
    }
    let root = workspace();
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| code_lines(&read(f)).iter().any(|l| l.contains(concat!("allow(", "unsafe_code)"))))
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .filter(|f| !UNSAFE_ALLOWED.contains(&f.as_str()))
        .collect();
    assert!(offenders.is_empty(), "unsafe code outside the list: {offenders:#?}");
    for listed in UNSAFE_ALLOWED {
        assert!(root.join(listed).exists(), "{listed} is listed for unsafe code but does not exist");
    }
}

#[test]
fn the_state_machine_crates_read_no_clock_and_open_no_socket() {
    // Time comes in as `now_ms` from the broker; sockets are the broker's. Tests may do either.
    let forbidden =
        ["SystemTime::now", "Instant::now", "std::net", "tokio::net", "TcpStream", "TcpListener", "UdpSocket"];
    let mut files = Vec::new();
    for dir in ["wire/src", "log/src", "groups/src", "txn/src", "cluster/src"] {
        rust_files(&workspace().join(dir), &mut files);
    }
    let offences: Vec<String> = files
        .iter()
        .filter(|f| !f.file_name().is_some_and(|n| n.to_string_lossy().contains("tests")))
        .flat_map(|f| {
            let source = read(f);
            let code = source.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            forbidden
                .iter()
                .filter(|word| code_lines(&code).iter().any(|l| l.contains(*word)))
                .map(|word| format!("{}: {word}", f.display()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(offences.is_empty(), "clock or socket use in a state-machine crate: {offences:#?}");
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
    for dir in CRATE_DIRS {
        rust_files(&workspace().join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let missing: Vec<_> =
        files.iter().filter(|f| !read(f).trim_start().starts_with("//!")).map(|f| f.display().to_string()).collect();
    assert!(missing.is_empty(), "files without a leading //! comment: {missing:#?}");
}

/// One API's row of the table, as its handler declares it: `(module, API name, min, max)`.
type ApiRow = (String, String, String, String);

/// Every handler's `pub const API: ApiSpec = ApiSpec::new(ApiKey::X, min, max)` (the Kafka 4.1
/// range; a `.with_legacy_min(..)` after it adds the legacy versions).
fn declared_apis() -> Vec<ApiRow> {
    let mut rows = Vec::new();
    for module in handler_modules() {
        let source = read(&workspace().join(format!("broker/src/handlers/{module}.rs")));
        let declared: Vec<&str> = source.lines().filter(|l| l.starts_with("pub const API: ApiSpec =")).collect();
        assert!(declared.len() <= 1, "handlers/{module}.rs declares more than one API");
        let Some(line) = declared.first() else { continue };
        let args = line
            .split_once("ApiSpec::new(ApiKey::")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(args, _)| args)
            .unwrap_or_else(|| panic!("handlers/{module}.rs: odd API line {line}"));
        let parts: Vec<&str> = args.split(',').map(str::trim).collect();
        assert_eq!(parts.len(), 3, "handlers/{module}.rs: odd API line {line}");
        rows.push((module, parts[0].to_string(), parts[1].to_string(), parts[2].to_string()));
    }
    rows
}

/// The modules `broker/src/handlers/mod.rs` declares.
fn handler_modules() -> Vec<String> {
    read(&workspace().join("broker/src/handlers/mod.rs"))
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").and_then(|m| m.strip_suffix(';')))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_handler_declares_its_api_and_is_routed() {
    let dispatch = read(&workspace().join("broker/src/dispatch.rs"));
    let apis = declared_apis();
    assert!(apis.len() >= 20, "found only {} APIs declared in broker/src/handlers", apis.len());
    for module in handler_modules() {
        let row = apis.iter().find(|(m, ..)| *m == module);
        assert!(
            row.is_some(),
            "handlers/{module}.rs is a handler without an `API` declaration: shared code belongs in a module named after what it holds"
        );
        let routed = dispatch.contains(&format!("route!({module}: "))
            || dispatch.contains(&format!("spec: handlers::{module}::API,"));
        assert!(routed, "handlers/{module}.rs declares an API that broker/src/dispatch.rs's ROUTES does not route");
    }
    assert!(!dispatch.contains("other =>"), "dispatch.rs routes by the table alone, without a fallback arm");
}

/// The code of a Rust file without its comments (`//` to the end of a line), so that a doc link
/// does not count as a use.
fn code_lines(source: &str) -> Vec<&str> {
    source.lines().map(|l| l.split("//").next().unwrap_or_default()).collect()
}

#[test]
fn no_handler_uses_another_handler_and_connection_uses_none() {
    // Code two handlers share lives in a module named after what it holds (errors, locate,
    // config_changes...), not in one of the handlers.
    let modules = handler_modules();
    let mut files = Vec::new();
    rust_files(&workspace().join("broker/src/handlers"), &mut files);
    assert!(files.len() > modules.len(), "found only {} handler files", files.len());
    let mut offences = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(workspace().join("broker/src/handlers")).unwrap_or(file);
        let own =
            relative.components().next().map(|c| c.as_os_str().to_string_lossy().trim_end_matches(".rs").to_string());
        for line in code_lines(&read(file)) {
            let names_other = modules.iter().any(|m| {
                Some(m) != own.as_ref()
                    && (line.contains(&format!("super::{m}")) || line.contains(&format!("handlers::{m}")))
            });
            if names_other || line.contains("super::super") {
                offences.push(format!("{}: {}", relative.display(), line.trim()));
            }
        }
    }
    let connection = read(&workspace().join("broker/src/connection.rs"));
    for line in code_lines(&connection) {
        if line.contains("handlers") {
            offences.push(format!("connection.rs: {}", line.trim()));
        }
    }
    assert!(offences.is_empty(), "handlers reach into other handlers, or connection.rs into a handler: {offences:#?}");
}

#[test]
fn readme_documents_every_api_and_setting() {
    let readme = read(&workspace().join("README.md"));
    let apis = declared_apis();
    for (_, name, min, max) in &apis {
        let row = format!("| {name} | {min} | {max} |");
        assert!(readme.contains(&row), "README.md's API table lacks the row `{row}`");
    }
    let section = readme.split("## Supported APIs").nth(1).and_then(|s| s.split("\n## ").next()).unwrap_or_default();
    let table_rows = section.lines().skip_while(|l| !l.starts_with("|---")).skip(1).take_while(|l| l.starts_with('|'));
    assert_eq!(table_rows.count(), apis.len(), "README.md's API table has rows for APIs the broker does not serve");
    let defs = read(&workspace().join("broker/src/config_defs.rs"));
    for line in defs.lines() {
        if let Some(rest) = line.trim().split_once("name: \"") {
            let name = rest.1.split('"').next().unwrap_or_default();
            assert!(readme.contains(&format!("`{name}`")), "README.md does not document setting `{name}`");
        }
    }
}
