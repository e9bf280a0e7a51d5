//! The GitHub Actions workflows under `.github/workflows/` pass actionlint (built from its Go
//! module by `e2e/controlplane/actionlint/build.sh`), with shellcheck checking their `run:`
//! scripts where it is installed (`scripts/install-test-deps` installs it). Skipped where
//! actionlint cannot be built, except under `scripts/test` or CI.

use std::path::Path;
use std::process::{Command, Output};

use diurnal_testing::go_tools;

fn actionlint(dir: &Path, files: &[&Path]) -> Option<Output> {
    let bin = go_tools::folder("actionlint")?.join("actionlint");
    Some(Command::new(bin).current_dir(dir).args(["-no-color", "-oneline"]).args(files).output().unwrap())
}

fn shellcheck_installed() -> bool {
    Command::new("shellcheck").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn the_workflows_pass_actionlint() {
    let root = go_tools::repo_root();
    let workflows: Vec<_> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    assert!(workflows.iter().any(|p| p.ends_with("release.yml")), "{workflows:?}");
    let files: Vec<&Path> = workflows.iter().map(std::path::PathBuf::as_path).collect();
    let Some(out) = actionlint(&root, &files) else { return };
    assert!(
        out.status.success(),
        "actionlint found problems in .github/workflows:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn actionlint_fails_on_a_broken_workflow() {
    // The linter is only worth running if it fails on mistakes: an undefined job output, an
    // expression on an unknown context and, through shellcheck, an unquoted variable.
    let dir = tempfile::tempdir().unwrap();
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).unwrap();
    let broken = workflows.join("broken.yml");
    std::fs::write(
        &broken,
        r#"on: push
jobs:
  a:
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ secret.TOKEN }}"
  b:
    needs: a
    runs-on: ubuntu-24.04
    steps:
      - run: echo "${{ needs.a.outputs.digest }}"
      - run: |
          files=$(ls)
          rm $files
"#,
    )
    .unwrap();
    let Some(out) = actionlint(dir.path(), &[broken.as_path()]) else { return };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("undefined variable \"secret\""), "{text}");
    assert!(text.contains("property \"digest\" is not defined"), "{text}");
    // scripts/test installs shellcheck: there, a missing one fails rather than skips.
    if shellcheck_installed() || std::env::var_os(go_tools::REQUIRE).is_some() {
        assert!(text.contains("SC2086"), "shellcheck did not run through actionlint:\n{text}");
    }
}
