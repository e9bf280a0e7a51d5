//! A `diurnal controller` process for a test: started as a user of its own against the run's
//! cluster (or another, see [`crate::launch::Launch`]), killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command};

use crate::{cluster_dir, diurnal_bin, launch, repo_root, unique_suffix};

/// A `diurnal controller` process against the run's cluster; killed when dropped.
#[derive(Debug)]
pub struct Controller {
    child: Child,
    /// Where its log goes.
    pub log: PathBuf,
    /// The user its requests are made as (in the audit log), unless `--kubeconfig` was given.
    user: Option<String>,
}

impl Controller {
    /// Starts `diurnal controller` with `extra` arguments, logging to a file named after `name`.
    /// Unless `extra` names a `--kubeconfig`, it runs as a `system:masters` user of its own,
    /// `diurnal-e2e-controller:<name>-<n>` ([`Controller::user`]).
    pub fn start(name: &str, extra: &[&str]) -> Self {
        Self::start_with(name, extra, &launch::Launch::default())
    }

    /// [`Controller::start`], with a shifted clock, other groups or another API server address
    /// (see [`launch::Launch`]).
    pub fn start_with(name: &str, extra: &[&str], options: &launch::Launch) -> Self {
        let suffix = unique_suffix();
        let log = repo_root().join(format!("target/e2e-logs/{name}-{suffix}.log"));
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let file = std::fs::File::create(&log).unwrap();
        let mut args: Vec<String> = extra.iter().map(|&a| a.to_owned()).collect();
        if !extra.contains(&"--metrics-addr") {
            args.extend(["--metrics-addr".into(), "127.0.0.1:0".into()]);
        }
        // The tests fire every few seconds so as not to wait minutes; the default minimum is 60 s.
        if !extra.iter().any(|a| a.starts_with("--min-fire-interval")) {
            args.push("--min-fire-interval=1s".into());
        }
        let mut user = None;
        if !extra.contains(&"--kubeconfig") {
            let name = format!("diurnal-e2e-controller:{name}-{suffix}");
            let groups = options.groups.clone().unwrap_or_else(|| vec!["system:masters".into()]);
            let cluster = options.cluster_dir.clone().unwrap_or_else(cluster_dir);
            let path = launch::user_kubeconfig_in(&cluster, &name, &groups, options.api_server);
            args.extend(["--kubeconfig".into(), path.to_string_lossy().into_owned()]);
            user = Some(name);
        }
        let mut command = Command::new(diurnal_bin());
        command
            .arg("controller")
            .args(["--identity", name])
            .args(&args)
            .env("RUST_LOG", "info,kube=warn")
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        options.apply_clock(&mut command);
        let child = command.spawn().expect("start diurnal controller");
        Self { child, log, user }
    }

    /// The user the process's requests are made as: `user.username` in the audit log.
    ///
    /// # Panics
    /// When the process was given its own `--kubeconfig`.
    pub fn user(&self) -> &str {
        self.user.as_deref().expect("started with its own --kubeconfig: the harness did not choose the user")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process abruptly (SIGKILL): no lease release, no final status write.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the process gracefully (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    /// The process's log so far (for assertion messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}
