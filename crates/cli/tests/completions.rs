//! `diurnal completions SHELL` and `diurnal man`: the scripts load in their shells and complete
//! subcommands, the man page renders without a warning. zsh and fish are checked where they are
//! installed (`scripts/install-test-deps` installs them; under it a missing one fails).

use std::path::Path;
use std::process::{Command, Output};

fn diurnal(args: &[&str]) -> Output {
    let out = assert_cmd::Command::cargo_bin("diurnal").unwrap().args(args).output().unwrap();
    assert!(out.status.success(), "diurnal {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn installed(shell: &str) -> bool {
    let present = Command::new(shell).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        present || std::env::var_os(diurnal_testing::go_tools::REQUIRE).is_none(),
        "{shell} is required under scripts/test"
    );
    if !present {
        eprintln!("skipped the {shell} part: {shell} is not installed");
    }
    present
}

/// What bash completes for the words of `line` (the last one being typed), as a user's Tab does.
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let program = format!(
        r#"source "$1" || exit 9
COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}
complete -p diurnal >/dev/null || exit 8
_diurnal diurnal "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        words = words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
        cword = words.len() - 1,
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program, "bash"])
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty(), "bash said: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn the_bash_script_loads_and_completes_subcommands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "diurnal.bash", &diurnal(&["completions", "bash"]).stdout);
    assert_eq!(bash_complete(&script, "diurnal si"), ["simulate"]);
    let all = bash_complete(&script, "diurnal ");
    for sub in ["next", "validate", "simulate", "controller", "webhook", "completions", "man"] {
        assert!(all.iter().any(|w| w == sub), "{sub} missing from {all:?}");
    }
    assert!(bash_complete(&script, "diurnal cronhpa l").contains(&"list".to_owned()));
    assert_eq!(bash_complete(&script, "diurnal completions z"), ["zsh"]);
}

#[test]
fn the_zsh_and_fish_scripts_parse() {
    let dir = tempfile::tempdir().unwrap();
    if installed("zsh") {
        let script = write(dir.path(), "_diurnal", &diurnal(&["completions", "zsh"]).stdout);
        let out = Command::new("zsh").arg("-n").arg(&script).output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "zsh -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if installed("fish") {
        let text = diurnal(&["completions", "fish"]).stdout;
        let script = write(dir.path(), "diurnal.fish", &text);
        let out = Command::new("fish").arg("--no-execute").arg(&script).output().unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "fish: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Loaded for real: fish lists the subcommands it would complete after `diurnal `.
        let out = Command::new("fish")
            .args(["--no-config", "-c"])
            .arg(format!("source {}; complete -C 'diurnal si'", script.display()))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.starts_with("simulate"),
            "fish completed: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for shell in ["elvish", "powershell"] {
        assert!(!diurnal(&["completions", shell]).stdout.is_empty());
    }
}

#[test]
fn the_man_page_renders_without_warnings_and_names_every_subcommand() {
    let page = diurnal(&["man"]).stdout;
    let groff = Command::new("groff").arg("--version").output();
    if groff.is_err() {
        assert!(
            std::env::var_os(diurnal_testing::go_tools::REQUIRE).is_none(),
            "groff is required under scripts/test"
        );
        eprintln!("skipped: no groff");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "diurnal.1", &page);
    // -ww: every warning; -z: parse and lay out, print nothing.
    let out = Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&file).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "groff: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("groff").args(["-man", "-Tascii", "-P", "-cbou"]).arg(&file).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("diurnal - The diurnal binary: schedules, controller"), "{text}");
    for sub in ["simulate", "controller", "cronhpa", "completions", "man"] {
        assert!(text.contains(&format!("diurnal-{sub}(1)")), "{sub} missing from the page:\n{text}");
    }

    let pages = dir.path().join("pages");
    diurnal(&["man", "--dir", pages.to_str().unwrap()]);
    for page in ["diurnal.1", "diurnal-simulate.1", "diurnal-cronhpa.1", "diurnal-cronhpa-list.1"] {
        assert!(pages.join(page).is_file(), "{page} not written");
    }
}
