//! Every query in `examples/` runs against demo mode without errors (README promise).

mod common;

use chronograph::demo::DemoOptions;
use common::Gateway;
use serde_json::json;

#[tokio::test]
async fn every_example_runs_against_demo_mode() {
    let gw = Gateway::start_options(DemoOptions::default(), |_| {}).await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
        .collect();
    files.sort();
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

/// The fakes' error bodies are copies of the contract's example files (so the crate builds
/// without ../shared): they must not drift from the originals.
#[test]
fn vendored_contract_bodies_match_the_shared_examples() {
    let root = env!("CARGO_MANIFEST_DIR");
    let vendored = format!("{root}/src/demo/contract");
    let mut checked = 0;
    for vendor in std::fs::read_dir(&vendored)
        .expect("src/demo/contract exists")
        .filter_map(Result::ok)
    {
        if !vendor.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(vendor.path())
            .expect("vendor dir")
            .filter_map(Result::ok)
        {
            let name = file.file_name();
            let original = format!(
                "{root}/../shared/upstreams/examples/{}/{}",
                vendor.file_name().to_string_lossy(),
                name.to_string_lossy()
            );
            let ours = std::fs::read_to_string(file.path()).expect("vendored file");
            let theirs =
                std::fs::read_to_string(&original).unwrap_or_else(|_| panic!("{original} exists"));
            assert_eq!(
                ours,
                theirs,
                "{} drifted from {original}",
                file.path().display()
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "only {checked} files checked");
}
