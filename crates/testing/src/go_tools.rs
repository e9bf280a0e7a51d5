//! The Go-built tools the tests run (krew's validator, actionlint), built from the modules pinned
//! under `e2e/controlplane/<tool>/module/` by that folder's `build.sh` (cached in
//! `target/controlplane/<tool>/`, installed by `scripts/install-test-deps`).

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Set (by `scripts/test`, which built them) when a missing tool fails the test instead of
/// skipping it.
pub const REQUIRE: &str = "DIURNAL_REQUIRE_GO_TOOLS";

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The folder holding `tool`'s binaries, built first if its stamp is not current (seconds when
/// the Go build cache is warm, under a minute cold). `None` when it cannot be built here (no Go):
/// the caller skips, unless [`REQUIRE`] or `CI=true` is set, where this panics with the reason.
pub fn folder(tool: &str) -> Option<PathBuf> {
    let script = repo_root().join("e2e/controlplane").join(tool).join("build.sh");
    let built = Command::new(&script).arg("--path").stderr(Stdio::inherit()).output();
    let reason = match built {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            return Some(PathBuf::from(text.lines().last().unwrap_or_default().trim()));
        }
        Ok(out) => format!("{} --path failed ({})", script.display(), out.status),
        Err(e) => format!("{}: {e}", script.display()),
    };
    let required = std::env::var_os(REQUIRE).is_some() || std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!required, "{tool} is required ({REQUIRE} or CI=true): {reason}");
    eprintln!("skipped: {reason} (scripts/install-test-deps builds it)");
    None
}
