//! Reading what the user points at: manifest files, zone names, instants.

use std::path::Path;

use anyhow::Context as _;
use diurnal_api::CronHorizontalPodAutoscaler;
use diurnal_api::manifest::parse_documents;
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The zone a CronHPA's jobs use when neither the object nor the job names one: `--default-time-zone`,
/// else `$TZ`, else UTC — the same rule as the controller.
pub fn default_zone(flag: Option<&str>) -> anyhow::Result<TimeZone> {
    let name = match flag {
        Some(name) => name.to_owned(),
        None => diurnal_core::zone::default_zone_name(std::env::var("TZ").ok().as_deref()),
    };
    diurnal_core::resolve_zone(&name).with_context(|| format!("--default-time-zone / $TZ {name:?}"))
}

/// Parses an RFC 3339 instant given on the command line.
pub fn instant(flag: &str, value: &str) -> anyhow::Result<Timestamp> {
    value
        .parse()
        .with_context(|| format!("{flag} {value:?} is not an RFC 3339 instant (e.g. 2026-01-15T08:00:00Z)"))
}

/// A CronHPA read from a file, with where it came from.
pub struct Located {
    pub file: String,
    pub document: usize,
    pub object: CronHorizontalPodAutoscaler,
}

/// One document's problem, or a whole file's.
pub struct FileProblem {
    pub file: String,
    pub document: Option<usize>,
    pub finding: diurnal_api::Finding,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.document {
            Some(doc) => write!(f, "{}: document {doc}: {}", self.file, self.finding),
            None => write!(f, "{}: {}", self.file, self.finding),
        }
    }
}

/// A Calendar read from a file, with where it came from.
pub struct LocatedCalendar {
    pub file: String,
    pub document: usize,
    pub object: diurnal_api::Calendar,
}

/// Reads every CronHPA and Calendar document of a file. Documents of other kinds are skipped; a
/// file that cannot be read or parsed, or a document of those kinds that does not decode, is a
/// problem.
pub fn read_manifests(path: &Path) -> (Vec<Located>, Vec<LocatedCalendar>, Vec<FileProblem>) {
    let file = path.display().to_string();
    let problem = |document, finding| FileProblem { file: file.clone(), document, finding };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return (
                vec![],
                vec![],
                vec![problem(None, diurnal_api::Finding::error("", format!("cannot read: {e}")))],
            );
        }
    };
    let documents = match parse_documents(&text, &file) {
        Ok(docs) => docs,
        Err(e) => {
            return (vec![], vec![], vec![problem(None, diurnal_api::Finding::error("", e.message))]);
        }
    };
    let mut found = Vec::new();
    let mut calendars = Vec::new();
    let mut problems = Vec::new();
    for doc in &documents {
        if doc.is_cronhpa() {
            match doc.decode_cronhpa() {
                Ok(object) => found.push(Located { file: file.clone(), document: doc.index, object }),
                Err(finding) => problems.push(problem(Some(doc.index), finding)),
            }
        } else if doc.is_calendar() {
            match doc.decode_calendar() {
                Ok(object) => {
                    calendars.push(LocatedCalendar { file: file.clone(), document: doc.index, object });
                }
                Err(finding) => problems.push(problem(Some(doc.index), finding)),
            }
        }
    }
    (found, calendars, problems)
}

/// The calendars a CronHPA in `namespace` reads from files: those of its namespace, and those
/// that name none (they land wherever they are applied).
pub fn calendars_for(calendars: &[LocatedCalendar], namespace: Option<&str>) -> diurnal_api::Calendars {
    let namespace = namespace.unwrap_or("default");
    let mut known = diurnal_api::Calendars::none();
    for c in calendars {
        let ns = c.object.metadata.namespace.as_deref();
        if ns.is_none_or(|ns| ns == namespace) {
            known.insert(c.object.metadata.name.as_deref().unwrap_or_default(), &c.object.spec);
        }
    }
    known
}
