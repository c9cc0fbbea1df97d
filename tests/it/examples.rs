//! What the README promises about the repository itself: every query in `examples/` runs
//! against demo mode without errors, and a plain clone builds and tests without anything
//! beside it (the vendors' example payloads are vendored, and kept equal to the originals).

use crate::common::Gateway;
use chronograph::demo::DemoOptions;
use serde_json::json;
use std::path::{Component, Path, PathBuf};

#[tokio::test]
async fn every_example_runs_against_demo_mode() {
    let gw = Gateway::start_options(DemoOptions::default(), |_| {}).await;
    let files = crate::common::example_files();
    assert!(files.len() >= 4, "examples missing");
    for file in files {
        let query = std::fs::read_to_string(&file).expect("readable");
        let response = gw.query(&query, json!({})).await;
        assert!(
            response["errors"].is_null(),
            "{}: {response}",
            file.display()
        );
        assert!(
            response["data"].is_object(),
            "{}: {response}",
            file.display()
        );
        let text = response["data"].to_string();
        assert!(
            text.len() > 100,
            "{} returned almost nothing: {text}",
            file.display()
        );
    }
}

/// The vendors' example payloads beside the repository, where the vendored copies come from
/// (`../shared/upstreams/examples`); a plain clone has none.
fn contract_examples() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/upstreams/examples");
    dir.is_dir().then_some(dir)
}

/// Where the repository keeps its copies of those payloads, one directory per vendor: the error
/// bodies the fakes serve (built into the binary) and the payloads only tests read.
const VENDORED: [&str; 2] = ["src/demo/contract", "tests/fixtures"];

/// The vendored payloads are byte-identical copies of the contract's examples (so the crate and
/// its tests build without `../shared`): they must not drift from the originals. Skipped, without
/// failing, where the originals are absent (a plain clone).
#[test]
fn vendored_contract_examples_match_the_originals() {
    let Some(originals) = contract_examples() else {
        eprintln!("no ../shared/upstreams/examples beside the repository: nothing to compare");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for dir in VENDORED {
        let vendors = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|err| panic!("{dir}: {err}"))
            .filter_map(Result::ok)
            .filter(|entry| entry.path().is_dir());
        for vendor in vendors {
            let files = std::fs::read_dir(vendor.path())
                .unwrap_or_else(|err| panic!("{}: {err}", vendor.path().display()))
                .filter_map(Result::ok);
            for file in files {
                let ours = std::fs::read(file.path()).expect("vendored file is readable");
                let original = originals.join(vendor.file_name()).join(file.file_name());
                let theirs = std::fs::read(&original).unwrap_or_else(|_| {
                    panic!(
                        "{} has no original {}",
                        file.path().display(),
                        original.display()
                    )
                });
                assert!(
                    ours == theirs,
                    "{} drifted from {}: copy it again",
                    file.path().display(),
                    original.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 27, "only {checked} vendored files checked");
}

/// A plain clone compiles: no `include_str!` / `include_bytes!` in the crate, its tests or its
/// benches names a file outside the repository (those compile only where that file happens to be).
#[test]
fn nothing_is_included_from_outside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    for dir in ["src", "tests", "benches"] {
        rust_files(&root.join(dir), &mut sources);
    }
    assert!(sources.len() > 50, "only {} .rs files found", sources.len());
    let mut outside = Vec::new();
    for file in &sources {
        let text = std::fs::read_to_string(file).expect("readable source");
        for included in included_paths(&text) {
            let resolved = lexical_join(file.parent().expect("a file has a directory"), included);
            if !resolved.starts_with(root) {
                outside.push(format!("{}: {included}", file.display()));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "included from outside the repository:\n{}",
        outside.join("\n")
    );
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
        if path.is_dir() && !path.ends_with("node_modules") {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The literal paths given to `include_str!` / `include_bytes!` (the string may start on the
/// next line); forms built with `concat!` are skipped.
fn included_paths(text: &str) -> Vec<&str> {
    let mut paths = Vec::new();
    for macro_name in ["include_str!(", "include_bytes!("] {
        for (at, _) in text.match_indices(macro_name) {
            let rest = text[at + macro_name.len()..].trim_start();
            if let Some(literal) = rest.strip_prefix('"') {
                if let Some(end) = literal.find('"') {
                    paths.push(&literal[..end]);
                }
            }
        }
    }
    paths
}

/// `base/relative` with `.` and `..` resolved without touching the file system.
fn lexical_join(base: &Path, relative: &str) -> PathBuf {
    let mut path = base.to_path_buf();
    for part in Path::new(relative).components() {
        match part {
            Component::ParentDir => {
                path.pop();
            }
            Component::CurDir => {}
            other => path.push(other),
        }
    }
    path
}
