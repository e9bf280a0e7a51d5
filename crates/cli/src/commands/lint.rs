//! `diurnal lint`: the placement webhook's validation, offline, for CI pipelines — every pod
//! template headed to a virtual node is checked before anything reaches a cluster.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use diurnal_api::manifest::{Document, parse_documents};
use diurnal_placement::{
    PROFILE_ANNOTATION, PlacementPolicy, Profile, Violation, headed_to_virtual, validate_pod_spec,
};
use k8s_openapi::api::core::v1::PodSpec;
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest files (multi-document YAML): Pods, Deployments, StatefulSets, ReplicaSets,
    /// DaemonSets, Jobs, CronJobs. Other kinds are skipped.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Built-in provider profile: alibabacloud, azure or fargate.
    #[arg(long, default_value = "alibabacloud", conflicts_with = "profile_file")]
    profile: String,
    /// A profile file (YAML; see docs/placement.md) instead of a built-in profile.
    #[arg(long, value_name = "FILE")]
    profile_file: Option<PathBuf>,
    /// Also list the documents skipped and the templates not headed to a virtual node.
    #[arg(long, short)]
    verbose: bool,
}

/// Where a kind keeps its pod spec.
fn spec_path(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "Pod" => &["spec"],
        "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet" | "Job" => &["spec", "template", "spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => return None,
    })
}

fn annotations(doc: &Value) -> BTreeMap<String, String> {
    doc.pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default()
}

/// The violations of one document (empty when it is not headed to a virtual node), or `None`
/// when its kind has no pod template.
fn lint_document(default: &Profile, doc: &Document, verbose: bool, label: &str) -> Option<Vec<Violation>> {
    let kind = doc.type_meta().1.unwrap_or_default();
    let Some(segments) = spec_path(kind) else {
        if verbose {
            eprintln!("{label}: skipped: kind {kind:?} has no pod template");
        }
        return None;
    };
    let base = segments.join(".");
    let at = |path: &str, reason: String| Violation { path: path.to_owned(), reason };
    let notes = annotations(&doc.value);
    let mut violations = Vec::new();
    if let Err(e) = PlacementPolicy::from_annotations(&notes) {
        violations.push(at("metadata.annotations", e.to_string()));
    }
    let override_name = notes.get(PROFILE_ANNOTATION);
    let profile = override_name.and_then(|name| Profile::builtin(name)).unwrap_or_else(|| default.clone());
    if let Some(name) = override_name.filter(|n| Profile::builtin(n).is_none()) {
        violations.push(at(
            "metadata.annotations",
            format!("annotation {PROFILE_ANNOTATION}: unknown profile {name:?}"),
        ));
    }
    let pointer = format!("/{}", segments.join("/"));
    let Some(raw) = doc.value.pointer(&pointer) else {
        violations.push(at(&base, "missing: a pod template is required".to_owned()));
        return Some(violations);
    };
    let spec: PodSpec = match serde_path_to_error::deserialize(raw) {
        Ok(spec) => spec,
        Err(e) => {
            violations
                .push(at(&format!("{base}.{}", e.path()), format!("not a valid pod spec: {}", e.inner())));
            return Some(violations);
        }
    };
    // A Pod's own annotations are its placement; a workload's are on the workload.
    if headed_to_virtual(&profile, &spec, &notes) {
        let owner = (kind == "DaemonSet").then_some("DaemonSet");
        // In a manifest the DaemonSet is the document itself, not an owner reference.
        violations.extend(validate_pod_spec(&profile, &spec, &base, owner).into_iter().map(|mut v| {
            if v.path == "metadata.ownerReferences" {
                "kind".clone_into(&mut v.path);
            }
            v
        }));
    } else if verbose {
        eprintln!("{label}: not headed to {}", profile.description);
    }
    Some(violations)
}

/// Prints `FILE:DOC:PATH: message` for every violation; exit 1 when there is any, 2 when a file
/// cannot be read or parsed, else 0 with a summary.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let profile = match &args.profile_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Profile::from_yaml(&text, &path.display().to_string())?
        }
        None => Profile::builtin(&args.profile).with_context(|| {
            format!(
                "--profile {:?}: built-in profiles are {}",
                args.profile,
                Profile::builtin_names().join(", ")
            )
        })?,
    };
    let (mut found, mut templates, mut unreadable) = (0usize, 0usize, false);
    for path in &args.files {
        let file = path.display().to_string();
        let documents = match std::fs::read_to_string(path) {
            Ok(text) => parse_documents(&text, &file).map_err(|e| e.to_string()),
            Err(e) => Err(format!("{file}: cannot read: {e}")),
        };
        let documents = match documents {
            Ok(docs) => docs,
            Err(message) => {
                eprintln!("error: {message}");
                unreadable = true;
                continue;
            }
        };
        for doc in &documents {
            let label = format!("{file}:{}", doc.index);
            let Some(violations) = lint_document(&profile, doc, args.verbose, &label) else { continue };
            templates += 1;
            for v in &violations {
                println!("{label}:{v}");
            }
            found += violations.len();
        }
    }
    if unreadable {
        return Ok(ExitCode::from(2));
    }
    if found > 0 {
        eprintln!("{found} problem(s) for {} in {templates} pod template(s)", profile.description);
        return Ok(ExitCode::FAILURE);
    }
    println!("{templates} pod template(s) checked against {}: no problem", profile.description);
    Ok(ExitCode::SUCCESS)
}
