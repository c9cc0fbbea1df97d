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
