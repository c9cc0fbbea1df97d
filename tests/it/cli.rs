//! The command line: version, help, schema export (and its drift check), config errors and
//! warnings, binding the listen address, shutting down on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn chronograph(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_chronograph"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn temp_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chronograph-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn version_and_help() {
    let out = chronograph(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    let out = chronograph(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["demo", "serve", "schema", "check-config"] {
        assert!(text.contains(command), "{command} missing from --help");
    }
}

#[test]
fn exported_sdl_is_fresh() {
    let out = chronograph(&["schema"]);
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/schema.graphql"
    ))
    .expect("schema/schema.graphql exists");
    assert!(
        printed == committed,
        "schema/schema.graphql is stale: run `cargo run -- schema > schema/schema.graphql`"
    );
    for name in [
        "type Query",
        "interface Node",
        "enum Source",
        "input HistorySubject @oneOf",
        "type HistoryEntry implements Node",
        "type IntegrationConnection",
        "type ConnectionConnection",
        "type SourceStatus",
        "type ChangeSet",
        "type Subscription",
        "scalar DateTime",
        "scalar JSON",
    ] {
        assert!(printed.contains(name), "SDL lacks `{name}`");
    }
}

#[test]
fn check_config_accepts_a_good_file_without_printing_secrets() {
    let path = temp_config(
        "good.toml",
        "[server]\nlisten = \"127.0.0.1:8000\"\n[sources.celigo]\nbase_url = \"https://api.integrator.io\"\ntoken = \"super-secret-celigo\"\n",
    );
    let out = chronograph(&["check-config", "--config", path.to_str().expect("utf8")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("sources.celigo = https://api.integrator.io"));
    assert!(!stdout.contains("super-secret-celigo"));
}

#[test]
fn check_config_rejects_bad_files_with_the_key_path() {
    let cases = [
        (
            "unknown.toml",
            "[sources.celigo]\nbase_url = \"https://x.io\"\ntoken = \"t0ps3cret\"\ntimeout = 5\n",
            "sources.celigo.timeout",
        ),
        (
            "type.toml",
            "[server]\nmax_depth = \"deep\"\n",
            "server.max_depth",
        ),
        (
            "missing.toml",
            "[sources.celigo]\nbase_url = \"https://x.io\"\n",
            "sources.celigo.token",
        ),
        (
            "url.toml",
            "[sources.celigo]\nbase_url = \"not a url\"\ntoken = \"t0ps3cret\"\n",
            "sources.celigo.base_url",
        ),
        ("syntax.toml", "[server\nlisten=\n", "TOML"),
    ];
    for (name, text, expected) in cases {
        let path = temp_config(name, text);
        let out = chronograph(&["check-config", "--config", path.to_str().expect("utf8")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} accepted");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        assert!(
            !stderr.contains("t0ps3cret"),
            "{name} leaked a secret: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let out = chronograph(&["serve", "--config", "/nonexistent/chronograph.toml"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
}

#[test]
fn environment_overrides_apply() {
    let path = temp_config(
        "env.toml",
        "[sources.celigo]\nbase_url = \"https://x.io\"\ntoken = \"t\"\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_chronograph"))
        .args(["check-config", "--config", path.to_str().expect("utf8")])
        .env(
            "CHRONOGRAPH_SOURCES__CELIGO__BASE_URL",
            "https://api.eu.integrator.io",
        )
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("https://api.eu.integrator.io"));
}

#[test]
fn check_config_masks_a_password_in_a_base_url() {
    let path = temp_config(
        "password-in-url.toml",
        "[sources.celigo]\nbase_url = \"http://user:s3cretpw@127.0.0.1:9\"\ntoken = \"t\"\n",
    );
    let out = chronograph(&["check-config", "--config", path.to_str().expect("utf8")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("sources.celigo = http://user:***@127.0.0.1:9"),
        "{stdout}"
    );
    assert!(!stdout.contains("s3cretpw"), "{stdout}");
}

/// `check-config` with the given environment: (status code, stdout, stderr).
fn check_config_with_env(path: &std::path::Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chronograph"))
        .args(["check-config", "--config", path.to_str().expect("utf8")])
        .envs(env.iter().copied())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_config_reports_every_problem_with_where_it_was_set() {
    let path = temp_config(
        "many.toml",
        "[server]\nmax_dept = 3\nmax_depth = -3\nintrospection = \"yes\"\n\
         [sources.celigio]\ntoken = \"t0ps3cret\"\n\
         [sources.celigo]\nbase_url = \"https://api.integrator.io\"\ntokn = \"t0ps3cret\"\n\
         [sources.truto]\nbase_url = \"https://api.truto.one\"\ntoken = [\"t0ps3cret\"]\n",
    );
    let env = [
        ("CHRONOGRAPH_SERVER__MAX_BATCH", "-1"),
        ("CHRONOGRAPH_CACHE__REDIS_TIMOUT_MS", "50"),
    ];
    let (code, _, stderr) = check_config_with_env(&path, &env);
    assert_eq!(code, 2, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines,
        [
            "invalid configuration:",
            "CHRONOGRAPH_CACHE__REDIS_TIMOUT_MS: unknown key, did you mean CHRONOGRAPH_CACHE__REDIS_TIMEOUT_MS?",
            "server.introspection: expected true or false, got \"yes\"",
            "CHRONOGRAPH_SERVER__MAX_BATCH: expected a whole number ≥ 1, got -1",
            "server.max_dept: unknown key, did you mean server.max_depth?",
            "server.max_depth: expected a whole number ≥ 1, got -3",
            "sources.celigio: unknown key, did you mean sources.celigo?",
            "sources.celigo.token: missing (required)",
            "sources.celigo.tokn: unknown key, did you mean sources.celigo.token?",
            "sources.truto.token: expected a string, got a list",
        ]
    );
    assert!(!stderr.contains("t0ps3cret"), "{stderr}");
}

#[test]
fn environment_values_of_string_keys_are_kept_as_written() {
    let path = temp_config(
        "numeric-env.toml",
        "[sources.dealcloud]\nbase_url = \"https://x.dealcloud.com\"\nclient_secret = \"s\"\n\
         [sources.celigo]\nbase_url = \"https://api.integrator.io\"\n",
    );
    let env = [
        ("CHRONOGRAPH_SOURCES__DEALCLOUD__CLIENT_ID", "007"),
        ("CHRONOGRAPH_SOURCES__CELIGO__TOKEN", "12345"),
    ];
    let (code, stdout, stderr) = check_config_with_env(&path, &env);
    assert_eq!(code, 0, "numbers in string keys are text: {stderr}");
    assert!(stdout.contains("configuration is valid\n"), "{stdout}");
    let env = [("CHRONOGRAPH_SOURCES__CELIGO__TIMEOUT_MS", "soon")];
    let (code, _, stderr) = check_config_with_env(&path, &env);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(
            "CHRONOGRAPH_SOURCES__CELIGO__TIMEOUT_MS: expected a whole number ≥ 1, got \"soon\""
        ),
        "{stderr}"
    );
}

#[test]
fn check_config_warns_about_what_loads_but_will_not_work() {
    let path = temp_config(
        "warnings.toml",
        "[sources.celigo]\nbase_url = \"https://api.integrator.io/v1\"\ntoken = \"\"\n",
    );
    let (code, stdout, stderr) = check_config_with_env(&path, &[]);
    assert_eq!(code, 0, "warnings are not errors: {stderr}");
    assert!(
        stdout.ends_with("configuration is valid, with 2 warnings\n"),
        "{stdout}"
    );
    let warnings: Vec<&str> = stderr.lines().collect();
    assert_eq!(warnings.len(), 2, "{stderr}");
    assert_eq!(
        warnings[0],
        "warning: sources.celigo.token: empty: CELIGO will refuse every call made with it"
    );
    assert_eq!(
        warnings[1],
        "warning: sources.celigo.base_url: `https://api.integrator.io/v1` ends with /v1, which \
         Chronograph adds itself (calls would go to https://api.integrator.io/v1/v1/…): use \
         https://api.integrator.io"
    );
    let path = temp_config("no-source.toml", "[server]\nlisten = \"127.0.0.1:8000\"\n");
    let (code, stdout, stderr) = check_config_with_env(&path, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.ends_with("configuration is valid, with 1 warning\n"));
    assert!(
        stderr.starts_with("warning: sources: no source is configured"),
        "{stderr}"
    );
}

/// A started `chronograph`, killed if the test ends before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Start `chronograph args…` with stdout and stderr captured, as under a service manager
    /// (stderr is not a terminal).
    fn start(args: &[&str], env: &[(&str, &str)]) -> Running {
        let child = Command::new(env!("CARGO_BIN_EXE_chronograph"))
            .args(args)
            .envs(env.iter().copied())
            .env_remove("NO_COLOR")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        Running(child)
    }

    /// The first stdout line containing `needle` (the test fails after 30 s without it).
    fn stdout_line(&mut self, needle: &str) -> String {
        let stdout = self.0.stdout.take().expect("stdout is captured");
        let (lines, received) = mpsc::channel();
        // Keeps reading to the end: a closed pipe would make the process's next println! fail.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no stdout line with {needle:?} within 30 s"),
            }
        }
    }

    /// Its exit status and whatever stdout (unless already read) and stderr it wrote.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after 30 s");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stdout = String::new();
        if let Some(mut pipe) = self.0.stdout.take() {
            let _ = pipe.read_to_string(&mut stdout);
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (status, stdout, stderr)
    }
}

#[test]
fn a_taken_port_fails_before_the_banner_naming_the_address_and_its_origin() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let addr = taken.local_addr().expect("bound address").to_string();

    let (status, stdout, stderr) = Running::start(&["demo", "--listen", &addr], &[]).finish();
    assert!(!status.success(), "{stdout}");
    assert!(
        !stdout.contains("open http://"),
        "the banner came before the bind: {stdout}"
    );
    let expected = format!("cannot listen on {addr} (--listen): ");
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(!stderr.contains("backtrace"), "{stderr}");

    let source = "[sources.celigo]\nbase_url = \"http://127.0.0.1:9\"\ntoken = \"t\"\n";
    let path = temp_config(
        "listen.toml",
        &format!("[server]\nlisten = \"{addr}\"\n{source}"),
    );
    let file = path.to_str().expect("utf8");
    let (status, _, stderr) = Running::start(&["serve", "--config", file], &[]).finish();
    assert!(!status.success());
    let expected = format!("cannot listen on {addr} (server.listen in {file}): ");
    assert!(stderr.contains(&expected), "{stderr}");

    let path = temp_config("listen-env.toml", source);
    let file = path.to_str().expect("utf8");
    let env = [("CHRONOGRAPH_SERVER__LISTEN", addr.as_str())];
    let (status, _, stderr) = Running::start(&["serve", "--config", file], &env).finish();
    assert!(!status.success());
    let expected = format!("cannot listen on {addr} (CHRONOGRAPH_SERVER__LISTEN): ");
    assert!(stderr.contains(&expected), "{stderr}");
    drop(taken);
}

#[test]
fn sigterm_logs_the_start_and_the_end_of_shutdown_without_colour() {
    let mut running = Running::start(&["demo", "--listen", "127.0.0.1:0"], &[]);
    let banner = running.stdout_line("open http://");
    let addr = banner
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    assert!(
        !addr.ends_with(":0"),
        "the banner shows the bound port: {banner}"
    );
    let mut health = std::net::TcpStream::connect(addr).expect("the gateway listens");
    std::io::Write::write_all(&mut health, b"GET /healthz HTTP/1.0\r\n\r\n").expect("request");
    let mut answer = String::new();
    health.read_to_string(&mut answer).expect("answer");
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );

    let pid = i32::try_from(running.0.id()).expect("a pid fits in i32");
    // SAFETY: kill(2) with a valid signal number has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "SIGTERM sent");
    let (status, _, stderr) = running.finish();
    assert!(status.success(), "{status}: {stderr}");
    let starts: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("SIGTERM received: shutting down"))
        .collect();
    let ends: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("shutdown complete in"))
        .collect();
    assert_eq!(starts.len(), 1, "{stderr}");
    assert_eq!(ends.len(), 1, "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes on a stderr that is not a terminal: {stderr:?}"
    );
}
