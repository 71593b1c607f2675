//! The README's examples run as written. This test starts the real `miaodan serve --demo` on a
//! free port of 127.0.0.1 with a fresh data directory, takes the ADMIN, MERCHANT and BUYER tokens
//! it prints, and runs every ```sh block of README.md that talks to the server (the ones using
//! `$H`) with bash, in README order, each `curl` checked: an answer of 4xx or 5xx fails the
//! test, unless the comment right above the request says it is "refused on purpose: <status>",
//! in which case exactly that status is required.
//!
//! Two kinds of lines are left out:
//! - `H=http://127.0.0.1:8080` and `M=http://127.0.0.1:9464`: `H` points at the test's server
//!   instead, `M` at its metrics listener;
//! - `cargo run …` lines: they build a release binary (minutes) and open the database the
//!   running server holds (`token create`), or print a report whose content depends on the
//!   day's provider statement (`reconcile`); the binary's commands have tests of their own.
//!
//! The server's simulated carriers move parcels on their own, but no request's status depends
//! on how far a parcel got, so the run is deterministic.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The comment that marks a request the README shows being refused, e.g.
/// `# a second tap: refused on purpose: 409 limit_reached`.
const REFUSAL_MARK: &str = "refused on purpose: ";

/// Every request goes through this function: it prints the answer's body, then fails the
/// script (exit 1, naming the request) on a transport error or an unexpected status. A
/// streaming request (`-N`) is cut after a second — curl then exits 28 (timed out), or 18
/// (partial transfer) when the cut falls inside an event — and its status is still checked.
const PRELUDE: &str = r#"
curl() {
  local expect="${EXPECT_STATUS:-}"
  unset EXPECT_STATUS
  local limit=30
  case " $* " in *" -N "*|*" -sN "*) limit=1 ;; esac
  local out rc code
  out=$(command curl -w '\n%{http_code}' "$@" --max-time "$limit")
  rc=$?
  code="${out##*$'\n'}"
  printf '%s\n' "${out%$'\n'*}"
  if [ "$rc" -ne 0 ] && { [ "$limit" -ne 1 ] || { [ "$rc" -ne 28 ] && [ "$rc" -ne 18 ]; }; }; then
    echo "README REQUEST FAILED (curl exit $rc): curl $*" >&2; exit 1
  fi
  if [ -n "$expect" ]; then
    [ "$code" = "$expect" ] || { echo "README REQUEST ANSWERED $code, NOT $expect: curl $*" >&2; exit 1; }
  elif [ "$code" = 000 ] || [ "$code" -ge 400 ]; then
    echo "README REQUEST ANSWERED $code: curl $*" >&2; exit 1
  fi
}
"#;

/// `miaodan serve --demo` on fresh data, killed on drop (the browser tests serve pages from it too).
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    metrics: String,
    tokens: Vec<(String, String)>,
    /// What the server wrote to stderr (its warnings and any panic), read to its end.
    stderr: Option<std::thread::JoinHandle<String>>,
    _data: tempfile::TempDir,
}

impl Server {
    /// The token `serve --demo` printed for `role` (`ADMIN`, `MERCHANT` or `BUYER`).
    pub(crate) fn token(&self, role: &str) -> &str {
        let printed = self.tokens.iter().find(|(name, _)| name == role);
        printed
            .map(|(_, token)| token.as_str())
            .unwrap_or_else(|| panic!("serve --demo printed no {role} token"))
    }

    /// Stops the server and returns what it wrote to stderr, to explain a failed example.
    fn stop_and_read_stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|reading| reading.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `miaodan serve --demo` and reads its output up to the last printed token.
pub(crate) fn serve_demo() -> Server {
    serve_demo_with(&[])
}

/// [`serve_demo`] with more arguments for `miaodan serve`.
pub(crate) fn serve_demo_with(arguments: &[&str]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let database = data.path().join("miaodan.db");
    // Port 0 for both listeners, and the addresses read from what the server prints: a port
    // probed free and released could be taken by a parallel test before the server binds it.
    let (listen, metrics) = ("127.0.0.1:0", "127.0.0.1:0");
    let mut child = Command::new(env!("CARGO_BIN_EXE_miaodan"))
        .args([
            "serve",
            "--demo",
            "--listen",
            listen,
            "--metrics-listen",
            metrics,
            "--database",
        ])
        .arg(&database)
        .args(arguments)
        .env_remove("MIAODAN_LISTEN")
        .env_remove("MIAODAN_DATABASE")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        // Read to the end even once nobody listens: a closed pipe would make the server's next
        // line (the demo prints more after its tokens) fail, and `println!` panic and stop it.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut stderr = child.stderr.take().unwrap();
    let stderr_text = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut tokens = Vec::new();
    let mut seen = Vec::new();
    let (mut base, mut metrics_base) = (None, None);
    while tokens.len() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = received.recv_timeout(left) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "miaodan serve --demo printed no three tokens within {START_TIMEOUT:?}.\nstdout:\n{}\nstderr:\n{}",
                seen.join("\n"),
                stderr_text.join().unwrap_or_default()
            );
        };
        // "miaodan is serving on http://127.0.0.1:PORT  (API reference: …"
        if let Some(rest) = line.strip_prefix("miaodan is serving on ") {
            base = rest.split_whitespace().next().map(str::to_string);
        }
        // "Prometheus metrics: http://127.0.0.1:PORT/metrics  (…"
        if let Some(rest) = line.strip_prefix("Prometheus metrics: ") {
            let url = rest.split_whitespace().next().unwrap_or_default();
            metrics_base = Some(url.trim_end_matches("/metrics").to_string());
        }
        // "  MERCHANT=mdn_…   # shop name"
        if let Some((name, rest)) = line.trim().split_once('=')
            && ["ADMIN", "MERCHANT", "BUYER"].contains(&name)
        {
            let token = rest.split_whitespace().next().unwrap_or_default();
            tokens.push((name.to_string(), token.to_string()));
        }
        seen.push(line);
    }
    Server {
        child,
        base: base.unwrap_or_else(|| panic!("serve --demo printed no address:\n{}", seen.join("\n"))),
        metrics: metrics_base
            .unwrap_or_else(|| panic!("serve --demo printed no metrics address:\n{}", seen.join("\n"))),
        tokens,
        stderr: Some(stderr_text),
        _data: data,
    }
}

/// The ```sh blocks of the README that talk to the server, as scripts for [`PRELUDE`]'s
/// `curl`: without the lines the module comment names, with `EXPECT_STATUS` set before each
/// request marked as refused on purpose.
fn readme_scripts(readme: &str) -> Vec<String> {
    let mut scripts = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```sh") => block = Some(Vec::new()),
            (Some(lines), "```") => {
                if lines.iter().any(|l| l.contains("$H")) {
                    scripts.push(script(lines));
                }
                block = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    assert!(block.is_none(), "an unclosed ```sh block in README.md");
    scripts
}

fn script(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut expect: Option<String> = None;
    let mut comment = String::new();
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with("H=") || trimmed.starts_with("M=") || trimmed.starts_with("cargo run") {
            continue;
        }
        if trimmed.starts_with('#') {
            comment.push_str(trimmed);
            comment.push(' ');
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if let Some((_, after)) = comment.split_once(REFUSAL_MARK) {
            let status: String = after.chars().take_while(char::is_ascii_digit).collect();
            assert_eq!(status.len(), 3, "no status after {REFUSAL_MARK:?} in {comment:?}");
            expect = Some(status);
        }
        comment.clear();
        if trimmed.starts_with("curl ")
            && let Some(status) = expect.take()
        {
            out.push_str(&format!("EXPECT_STATUS={status}\n"));
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(expect.is_none(), "a refusal mark with no request after it");
    out
}

#[test]
fn every_readme_example_runs_as_written_against_serve_demo() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let scripts = readme_scripts(&readme);
    assert!(scripts.len() >= 4, "the README's server examples were not found");
    for tool in ["bash", "curl"] {
        let found = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the README examples are run with bash and curl: {tool} was not found"
        );
    }
    let mut server = serve_demo();
    for (n, body) in scripts.iter().enumerate() {
        let script = format!("{PRELUDE}\n{body}");
        let output = Command::new("bash")
            .args(["-c", &script])
            .env("H", &server.base)
            .env("M", &server.metrics)
            .envs(server.tokens.iter().map(|(name, token)| (name, token)))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if !output.status.success() {
            panic!(
                "README example block {} failed ({}):\n{body}\nstdout:\n{}\nstderr:\n{}\nthe server's stderr:\n{}",
                n + 1,
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                server.stop_and_read_stderr()
            );
        }
    }
}
