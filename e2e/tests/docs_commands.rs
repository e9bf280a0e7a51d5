//! Every command the README, `docs/`, the examples' READMEs and the chart's README show, run as
//! a reader would run it: in a shell, from a directory holding the repository's `examples/` and `deploy/`, with
//! `~/.kube/config` pointing at the real control plane, `diurnal`, `kubectl-cronhpa`, `kubectl` and
//! `helm` on `PATH`.
//!
//! What a reader replaces is replaced here, and only that (see [`Session::rewrite`]): the
//! Prometheus host (a real Prometheus, backfilled), a trigger id (the one `trigger create` just
//! printed), `$TRIGGER_URL`/`$REGISTRY`/`$GIT_COMMIT` (a real trigger served by `diurnal trigger
//! serve`), and the benchmark's size. Long-running commands (`controller`, `... serve`) must start
//! and stay up. A command no rule knows fails the test: a new command in the docs cannot go
//! untested.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diurnal_e2e::docs;
use diurnal_e2e::{cluster_or_skip, diurnal_bin, kubeconfig, repo_root};

/// How a documented command is checked.
enum Step {
    /// Run to completion in a shell; it must exit 0.
    Run(String),
    /// A server: it must start and still be running after a few seconds.
    Serve(String),
    /// Not run here, with the reason (and where it is run instead).
    Elsewhere(&'static str),
}

struct Session {
    dir: PathBuf,
    home: PathBuf,
    work: PathBuf,
    path: String,
    env: Vec<(String, String)>,
    prometheus: Option<String>,
    prometheus_server: Option<diurnal_testing::prometheus::Prometheus>,
    last_trigger_id: Option<String>,
    children: Vec<Child>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http_ok(port: u16, path: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("symlink {} -> {}: {e}", link.display(), target.display()));
}

impl Session {
    fn new() -> Self {
        let dir = repo_root().join(format!("target/e2e-logs/docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (home, work, bin) = (dir.join("home"), dir.join("work"), dir.join("bin"));
        for d in [&home.join(".kube"), &work, &bin] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::copy(kubeconfig(), home.join(".kube/config")).unwrap();
        symlink(&diurnal_bin(), &bin.join("diurnal"));
        symlink(&diurnal_bin(), &bin.join("kubectl-cronhpa"));
        for d in ["examples", "deploy", "docs"] {
            symlink(&repo_root().join(d), &work.join(d));
        }
        // `--trace load.csv`: the reader's own trace; the bundled taxi trace has the default columns.
        std::fs::copy(repo_root().join("examples/traces/nyc_taxi.csv"), work.join("load.csv")).unwrap();
        let controlplane = diurnal_e2e::controlplane_dir();
        let path = format!(
            "{}:{}:{}",
            bin.display(),
            controlplane.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Self {
            dir,
            home,
            work,
            path,
            env: Vec::new(),
            prometheus: None,
            prometheus_server: None,
            last_trigger_id: None,
            children: Vec::new(),
        }
    }

    fn shell(&self, script: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", &format!("set -eo pipefail\n{script}")])
            .current_dir(&self.work)
            .env("HOME", &self.home)
            .env("PATH", &self.path)
            .env_remove("KUBECONFIG")
            .env_remove("TZ")
            .env("RUST_LOG", "warn");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `script` to completion (at most two minutes); returns stdout or why it failed.
    fn run(&self, script: &str) -> Result<String, String> {
        let log = self.dir.join("last-run.log");
        let mut child = self
            .shell(script)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
            s
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("still running after 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = reader.join().unwrap_or_default();
        if status.success() {
            Ok(out)
        } else {
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            Err(format!("{status}\n  stdout: {}\n  stderr: {}", out.trim(), err.trim()))
        }
    }

    /// Starts `script` in the background; it must still be running after three seconds. Kept
    /// running when `keep`, else stopped (two documented servers may use the same port).
    fn serve(&mut self, name: &str, script: &str, keep: bool) -> Result<(), String> {
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        // `exec` so that killing the child stops the server, not just its shell.
        let mut child = self
            .shell(&format!("exec {script}"))
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_secs(3));
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("exited ({status}): {}", std::fs::read_to_string(&log).unwrap_or_default()));
        }
        if keep {
            self.children.push(child);
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(())
    }

    /// A real Prometheus holding a month of `http_requests_total` up to now, for the
    /// `--prometheus http://prometheus:9090` commands.
    fn start_prometheus(&mut self) {
        if !diurnal_testing::prometheus::installed() {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "prometheus and promtool are required under CI (scripts/install-test-deps installs them)"
            );
            eprintln!("no prometheus/promtool: the --prometheus commands will fail");
            return;
        }
        let now = jiff::Timestamp::now().as_second() / 60 * 60;
        let start = now - 30 * 86_400;
        let mut om =
            String::from("# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n");
        let mut total = 0.0;
        // Busy 09:00-21:00 UTC+8, quiet otherwise; the last 10 minutes are left to the head block.
        for t in (start..now - 600).step_by(60) {
            let hour = (t + 8 * 3600).rem_euclid(86_400) / 3600;
            total += if (9..21).contains(&hour) { 200.0 * 60.0 } else { 20.0 * 60.0 };
            let _ = writeln!(om, "http_requests_total {total} {t}");
        }
        om.push_str("# EOF\n");
        let server = diurnal_testing::prometheus::Prometheus::start(&self.dir.join("prometheus"), &om);
        self.prometheus = Some(server.url());
        self.prometheus_server = Some(server);
    }

    /// `diurnal trigger serve` and a set-image trigger on the field report's business service:
    /// `$TRIGGER_URL`, `$REGISTRY` and `$GIT_COMMIT` for the CI commands.
    fn start_trigger_server(&mut self) {
        let port = free_port();
        self.serve(
            "trigger-serve",
            &format!("diurnal trigger serve --kubeconfig ~/.kube/config --addr 127.0.0.1:{port}"),
            true,
        )
        .expect("diurnal trigger serve");
        wait_until("trigger server ready", Duration::from_secs(30), || http_ok(port, "/readyz"));
        let url = self
            .run(&format!(
                "diurnal trigger create -n biz --deployment biz-server --action set-image \
                 --image-pattern 'registry.example.com/biz-server:*' --base-url http://127.0.0.1:{port} -q"
            ))
            .expect("trigger create");
        self.env.push(("TRIGGER_URL".into(), url.trim().to_owned()));
        self.env.push(("REGISTRY".into(), "registry.example.com".into()));
        self.env.push(("GIT_COMMIT".into(), "0123abc".into()));
        // The server watches trigger Secrets: give it a moment to see the new one.
        std::thread::sleep(Duration::from_secs(2));
    }

    /// What the reader would type instead of the documentation's placeholders.
    fn rewrite(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Some(url) = &self.prometheus {
            text = text.replace("http://prometheus:9090", url);
        }
        if let Some(id) = &self.last_trigger_id
            && (text.starts_with("diurnal trigger rotate") || text.starts_with("diurnal trigger delete"))
        {
            let placeholder = text.split_whitespace().last().unwrap_or_default().to_owned();
            text = text.replace(&placeholder, id);
        }
        if text.contains("simulate --bench") {
            // The full benchmark is BENCHMARKS.md's; here the command only has to work.
            text.push_str(" --bench-workloads 2 --bench-days 2");
        }
        text
    }

    /// A reader installs with Helm *or* with the plain files in deploy/rbac, which other pages
    /// apply in the same cluster; Helm refuses to adopt objects it did not create. So the plain
    /// install's objects (not its namespace) go first, the chart is installed as shown (the API
    /// server must accept every object; whether kwok's fake pods become ready depends on what
    /// else the shared cluster runs, so it is not waited for), and then the plain install comes
    /// back.
    fn helm_install(&self, install: &str) -> String {
        let plain = ["deploy/rbac/controller.yaml", "deploy/rbac/trigger.yaml", "deploy/rbac/webhook.yaml"];
        let mut objects = String::new();
        for file in plain {
            let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
            for doc in text.split("\n---\n").filter(|d| !d.contains("kind: Namespace")) {
                let _ = write!(objects, "{doc}\n---\n");
            }
        }
        let without_namespace = self.dir.join("plain-install-objects.yaml");
        std::fs::write(&without_namespace, objects).unwrap();
        // The release is removed and the plain install restored whether or not the install
        // worked, so one failure does not cascade into the next page's `helm install`.
        format!(
            "kubectl delete --ignore-not-found --wait -f {objects}\n\
             status=0\n\
             {install} || status=$?\n\
             helm uninstall diurnal --namespace diurnal-system --wait || true\n\
             kubectl apply -f {}\n\
             exit $status",
            plain.join(" -f "),
            objects = without_namespace.display(),
        )
    }

    fn step(&self, text: &str) -> Step {
        let text = self.rewrite(text);
        if text == "scripts/test" {
            return Step::Elsewhere("the whole suite: this test is part of it (.ci/run)");
        }
        if let Some(args) = text.strip_prefix("cargo run --release --bin diurnal -- ") {
            // The same binary, already built by this suite; a release build here would add minutes.
            return Step::Run(format!("diurnal {args}"));
        }
        let program = text.split_whitespace().next().unwrap_or_default();
        let long_running = ["diurnal controller", "diurnal trigger serve", "diurnal webhook serve"]
            .iter()
            .any(|p| text.starts_with(p));
        match program {
            _ if long_running => Step::Serve(text),
            "helm" if text.starts_with("helm install") => Step::Run(self.helm_install(&text)),
            "diurnal" | "kubectl" | "curl" | "helm" => Step::Run(text),
            _ => panic!("no rule for the documented command `{text}`: add one to e2e/tests/docs_commands.rs"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_command_runs_as_shown() {
    let client = cluster_or_skip!();
    // The chart's default webhook certificates come from cert-manager, which a reader installs
    // first: its CRDs (and the Prometheus Operator's) are in this cluster too.
    diurnal_e2e::install_third_party_crds(&client).await;
    let commands = docs::all(&repo_root());
    assert!(commands.len() > 20, "the docs show commands: {commands:#?}");

    let mut s = tokio::task::spawn_blocking(|| {
        let mut s = Session::new();
        // What the README's install section does first, so the order of the pages does not matter.
        s.run(
            "diurnal crd | kubectl apply --server-side -f - && kubectl apply -f examples/seed-architecture/",
        )
        .expect("install the CRD and the field report's example");
        s.start_prometheus();
        s.start_trigger_server();
        s
    })
    .await
    .unwrap();

    let (failures, ran) = tokio::task::spawn_blocking(move || {
        let mut failures = Vec::new();
        let mut ran = 0;
        for (i, cmd) in commands.iter().enumerate() {
            let started = Instant::now();
            let result = match s.step(&cmd.text) {
                Step::Run(script) => s.run(&script).map(|out| {
                    // `trigger rotate ID` and `trigger delete ID` act on the trigger just created.
                    if let Some(id) =
                        out.strip_prefix("Created trigger ").and_then(|r| r.split_whitespace().next())
                    {
                        s.last_trigger_id = Some(id.to_owned());
                    }
                }),
                Step::Serve(script) => s.serve(&format!("serve-{i}"), &script, false),
                Step::Elsewhere(why) => {
                    eprintln!("{cmd}: not run here: {why}");
                    continue;
                }
            };
            ran += 1;
            eprintln!("{cmd}: {:.1} s", started.elapsed().as_secs_f64());
            if let Err(e) = result {
                failures.push(format!("{cmd}\n  {e}"));
            }
        }
        (failures, ran)
    })
    .await
    .unwrap();
    assert!(
        failures.is_empty(),
        "{} of {ran} documented commands failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
