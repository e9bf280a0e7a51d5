//! The kubectl plugin's krew manifest (deploy/krew/cronhpa.yaml, a template) rendered for
//! archives packed from this build (scripts/package-plugin, scripts/krew-manifest) and checked
//! with krew's own validator, which installs every platform with `kubectl krew install` — here
//! from a file server on the loopback, the way krew downloads a release. krew and its validator
//! are built from their Go module (e2e/controlplane/krew/build.sh); skipped where they cannot be
//! built, or where no kubectl is found, except under scripts/test or CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use diurnal_testing::go_tools;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn script(name: &str) -> Command {
    Command::new(go_tools::repo_root().join("scripts").join(name))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Packs `binary` for linux/amd64 and linux/arm64 into `dir`. The arm64 archive holds the same
/// (host) binary: krew's install checks the archive's hash and contents, never runs it.
fn pack(binary: &Path, dir: &Path) {
    for arch in ["amd64", "arm64"] {
        let out = script("package-plugin").arg(binary).args(["linux", arch]).arg(dir).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// Renders the manifest for the archives in `archives`, downloaded from `url`, into
/// `dir/cronhpa.yaml` (krew's validator takes the plugin's name from the file's).
fn render(version: &str, url: &str, archives: &Path, dir: &Path) -> Result<PathBuf, String> {
    let out = script("krew-manifest").args([version, url]).arg(archives).output().unwrap();
    if !out.status.success() {
        return Err(text(&out));
    }
    std::fs::create_dir_all(dir).unwrap();
    let manifest = dir.join("cronhpa.yaml");
    std::fs::write(&manifest, &out.stdout).unwrap();
    Ok(manifest)
}

/// kubectl's folder: the control plane's build (e2e/controlplane/build.sh), else `PATH`'s.
fn kubectl_folder() -> Option<PathBuf> {
    let root = go_tools::repo_root();
    let version = std::fs::read_to_string(root.join("e2e/controlplane/VERSION")).unwrap();
    let built = root.join("target/controlplane").join(version.trim());
    if built.join("kubectl").is_file() {
        return Some(built);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("kubectl").is_file())
}

/// Serves the files of `dir` on a free loopback port until the test ends; returns its URL.
fn serve(dir: &Path) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/{file}",
                axum::routing::get(move |axum::extract::Path(file): axum::extract::Path<String>| {
                    let path = dir.join(&file);
                    async move {
                        // Only the archives, by their plain names.
                        if file.contains('/') || file.starts_with('.') {
                            return Err(axum::http::StatusCode::NOT_FOUND);
                        }
                        std::fs::read(path).map_err(|_| axum::http::StatusCode::NOT_FOUND)
                    }
                }),
            );
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    url
}

#[test]
fn krews_validator_installs_the_plugin_on_every_platform_and_kubectl_runs_it() {
    let Some(krew) = go_tools::folder("krew") else { return };
    let Some(kubectl) = kubectl_folder() else {
        let required = std::env::var_os(go_tools::REQUIRE).is_some();
        assert!(!required, "no kubectl (e2e/controlplane/build.sh builds it)");
        eprintln!("skipped: no kubectl");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // This build's binary without its debug information (a tenth of a test build's 100 MB and
    // seconds to pack, not a minute); what krew installs below must still run.
    let binary = dir.path().join("diurnal");
    let out =
        Command::new("strip").arg("-o").arg(&binary).arg(assert_cmd::cargo::cargo_bin("diurnal")).output();
    if !out.as_ref().is_ok_and(|o| o.status.success()) {
        std::fs::copy(assert_cmd::cargo::cargo_bin("diurnal"), &binary).unwrap();
    }
    let archives = dir.path().join("release");
    pack(&binary, &archives);
    let url = serve(&archives);
    let manifest = render(VERSION, &url, &archives, &dir.path().join("manifest")).unwrap();
    // krew finds `kubectl krew` through kubectl's plugin lookup, as a user's shell does.
    let path =
        std::env::join_paths([krew.as_path(), kubectl.as_path(), Path::new("/usr/bin"), Path::new("/bin")])
            .unwrap();

    let out = Command::new(krew.join("validate-krew-manifest"))
        .arg("-manifest")
        .arg(&manifest)
        .env("PATH", &path)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "validate-krew-manifest refused the manifest:\n{said}");
    assert!(said.contains("all 2 spec.platforms installed fine"), "{said}");

    // As a user would: install with krew, then `kubectl cronhpa` runs the installed binary.
    let krew_root = dir.path().join("krew-root");
    let with_krew = |cmd: &mut Command| {
        cmd.env(
            "PATH",
            std::env::join_paths([
                krew_root.join("bin").as_path(),
                krew.as_path(),
                kubectl.as_path(),
                Path::new("/usr/bin"),
            ])
            .unwrap(),
        )
        .env("KREW_ROOT", &krew_root)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .output()
        .unwrap()
    };
    let out = with_krew(
        Command::new(kubectl.join("kubectl")).args(["krew", "install", "--manifest"]).arg(&manifest),
    );
    assert!(out.status.success(), "kubectl krew install:\n{}", text(&out));
    let sample = go_tools::repo_root().join("examples/cronhpa/legacy-sample.yaml");
    let out = with_krew(Command::new(kubectl.join("kubectl")).args(["cronhpa", "validate"]).arg(&sample));
    assert!(out.status.success(), "kubectl cronhpa validate:\n{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 valid CronHorizontalPodAutoscaler(s)\n");
    let installed = krew_root.join("store/cronhpa").join(format!("v{VERSION}"));
    assert!(
        installed.join("LICENSE").is_file() && installed.join("kubectl-cronhpa").is_file(),
        "{installed:?}"
    );
}

#[test]
fn the_template_renders_only_with_its_own_placeholders_and_values_of_their_shape() {
    let dir = tempfile::tempdir().unwrap();
    // The scripts never look inside the binary: a small stand-in keeps this test fast.
    let binary = dir.path().join("diurnal");
    std::fs::write(&binary, "#!/bin/sh\necho diurnal\n").unwrap();
    std::fs::set_permissions(&binary, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let archives = dir.path().join("release");
    pack(&binary, &archives);
    let first = std::fs::read(archives.join("kubectl-cronhpa_linux_amd64.tar.gz")).unwrap();
    pack(&binary, &archives);
    let second = std::fs::read(archives.join("kubectl-cronhpa_linux_amd64.tar.gz")).unwrap();
    assert!(first == second, "the same binary packed twice gave two archives (so two sha256)");

    let release = format!("https://example.org/releases/download/v{VERSION}");
    let manifest = render(VERSION, &release, &archives, &dir.path().join("ok")).unwrap();
    let yaml = std::fs::read_to_string(&manifest).unwrap();
    assert!(yaml.contains(&format!("version: \"v{VERSION}\"")), "{yaml}");
    assert!(yaml.contains(&format!("uri: \"{release}/kubectl-cronhpa_linux_arm64.tar.gz\"")), "{yaml}");
    assert!(!yaml.lines().filter(|l| !l.starts_with('#')).any(|l| l.contains("{{")), "{yaml}");

    let refused = |version: &str, url: &str, template: Option<&Path>, expected: &str| {
        let mut cmd = script("krew-manifest");
        if let Some(t) = template {
            cmd.env("DIURNAL_KREW_TEMPLATE", t);
        }
        let out = cmd.args([version, url]).arg(&archives).output().unwrap();
        assert!(!out.status.success(), "{version} {url} {template:?} was accepted");
        let said = text(&out);
        assert!(said.contains(expected), "expected {expected:?} in: {said}");
    };
    refused("9.9.9", &release, None, "differs from Cargo.toml's workspace version");
    refused(&format!("v{VERSION}"), &release, None, "is not a semantic version without its v");
    refused(VERSION, "ftp://example.org/x", None, "must be an http(s) URL");
    refused(VERSION, &format!("{release}/"), None, "without a trailing slash");
    let template = std::fs::read_to_string(go_tools::repo_root().join("deploy/krew/cronhpa.yaml")).unwrap();
    let unknown = dir.path().join("unknown.yaml");
    std::fs::write(&unknown, template.replace("{{SHA256_LINUX_ARM64}}", "{{SHA256_DARWIN_ARM64}}")).unwrap();
    refused(VERSION, &release, Some(&unknown), "unknown placeholder {{SHA256_DARWIN_ARM64}}");
    let empty = tempfile::tempdir().unwrap();
    let out = script("krew-manifest").args([VERSION, &release]).arg(empty.path()).output().unwrap();
    assert!(!out.status.success() && text(&out).contains("no such archive"), "{}", text(&out));

    // The rendered template passes krew's structural checks (the install is the test above).
    let Some(krew) = go_tools::folder("krew") else { return };
    let out = Command::new(krew.join("validate-krew-manifest"))
        .arg("-skip-install")
        .arg("-manifest")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}
