//! `diurnal calendar import`: an iCalendar (`.ics`) file of holidays as a `Calendar` manifest.
//!
//! Each `VEVENT` is one entry. An all-day event covers its `DTSTART` up to the day before its
//! `DTEND` (RFC 5545: the end of a `DATE` event is exclusive), one day without `DTEND`; an event
//! with times covers the days from its start's date to its end's date, as written (the file's
//! wall times, no zone conversion). An event whose summary or categories name a working day
//! (`--workday-word`, by default `补班`, `上班`, `班`, `workday`, `working day`, `make-up`) is a
//! make-up working day; every other event is a holiday. Recurring events (`RRULE`) are refused:
//! a holiday calendar lists each year's dates, and expanding rules by hand is where importers
//! go wrong.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use diurnal_api::{Calendar, CalendarSpec};
use diurnal_core::DaySpan;
use icalendar::{CalendarDateTime, Component as _, DatePerhapsTime};
use jiff::ToSpan as _;
use jiff::civil::Date;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Convert an iCalendar file of holidays (and make-up working days) into a `Calendar`
    /// manifest, printed to stdout (`| kubectl apply -f -`).
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The `.ics` file.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The Calendar's name (default: the file's name, lowercased, as a DNS name).
    #[arg(long)]
    name: Option<String>,
    /// The Calendar's namespace.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// `spec.source` (default: the file's calendar name, `X-WR-CALNAME`, or its file name).
    #[arg(long)]
    source: Option<String>,
    /// A word that marks an event as a make-up working day when its summary or categories
    /// contain it (case-insensitive; repeat for several). Replaces the defaults.
    #[arg(long = "workday-word", value_name = "WORD")]
    workday_words: Vec<String>,
}

/// Words that mark a make-up working day when none are given.
const WORKDAY_WORDS: [&str; 6] = ["补班", "上班", "班", "workday", "working day", "make-up"];

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Sub::Import(a) => import(a),
    }
}

fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("{file}: cannot read"))?;
    let words: Vec<String> = if args.workday_words.is_empty() {
        WORKDAY_WORDS.iter().map(|w| (*w).to_owned()).collect()
    } else {
        args.workday_words.clone()
    };
    let imported = convert(&text, &words).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => dns_name(args.file.file_stem().and_then(|s| s.to_str()).unwrap_or("calendar")),
    };
    if name.is_empty() {
        bail!("{file}: no Calendar name can be made from the file name; give --name");
    }
    let source = args.source.clone().or(imported.title).unwrap_or_else(|| format!("imported from {file}"));
    let spec = CalendarSpec {
        source: Some(source),
        holidays: imported.holidays.iter().map(ToString::to_string).collect(),
        workdays: imported.workdays.iter().map(ToString::to_string).collect(),
    };
    let resolution = diurnal_api::resolve_calendar(&spec);
    if let Some(err) = resolution.findings.iter().find(|f| f.is_error()) {
        bail!("{file}: the events make an invalid calendar: {err}");
    }
    let mut calendar = Calendar::new(&name, spec);
    calendar.metadata.namespace.clone_from(&args.namespace);
    let yaml = serde_saphyr::to_string(&calendar).context("writing the Calendar as YAML")?;
    print!("---\n{yaml}");
    Ok(ExitCode::SUCCESS)
}

/// What an iCalendar file holds, as days.
#[derive(Debug, PartialEq, Eq)]
struct Imported {
    title: Option<String>,
    holidays: Vec<DaySpan>,
    workdays: Vec<DaySpan>,
}

/// Reads the events of `text`. An error names the event (its position, line, summary).
fn convert(text: &str, workday_words: &[String]) -> Result<Imported, String> {
    let parsed: icalendar::Calendar =
        text.parse().map_err(|e: String| format!("not an iCalendar file: {e}"))?;
    let event_lines = event_lines(text);
    let mut holidays = Vec::new();
    let mut workdays = Vec::new();
    for (i, event) in parsed.events().enumerate() {
        let summary = event.get_summary().unwrap_or("").to_owned();
        let line = event_lines.get(i).map_or(String::new(), |l| format!(" (line {l})"));
        let which = format!("event {}{line} {summary:?}", i + 1);
        if event.property_value("RRULE").is_some() {
            return Err(format!(
                "{which}: recurring events (RRULE) are not imported; list each year's dates"
            ));
        }
        let start =
            event.get_start().ok_or_else(|| format!("{which}: no DTSTART (or one that cannot be read)"))?;
        let (first, all_day) = day_of(&start).map_err(|e| format!("{which}: DTSTART: {e}"))?;
        let last = match event.get_end() {
            None => first,
            Some(end) => {
                let (end, end_all_day) = day_of(&end).map_err(|e| format!("{which}: DTEND: {e}"))?;
                // RFC 5545: an all-day event's DTEND is the day after its last day.
                let last = if all_day && end_all_day { end.checked_sub(1.day()).unwrap_or(end) } else { end };
                last.max(first)
            }
        };
        let categories = event.property_value("CATEGORIES").unwrap_or("");
        let span = DaySpan { start: first, end: last };
        let label = format!("{summary} {categories}").to_lowercase();
        if workday_words.iter().any(|w| label.contains(&w.to_lowercase())) {
            workdays.push(span);
        } else {
            holidays.push(span);
        }
    }
    if holidays.is_empty() && workdays.is_empty() {
        return Err("no event (VEVENT) in the file".to_owned());
    }
    Ok(Imported {
        title: parsed.get_name().map(str::to_owned),
        holidays: merge(holidays),
        workdays: merge(workdays),
    })
}

/// The date of a `DATE` or `DATE-TIME` value (its wall date, as written), and whether it was a
/// `DATE`.
fn day_of(value: &DatePerhapsTime) -> Result<(Date, bool), String> {
    let (text, all_day) = match value {
        DatePerhapsTime::Date(d) => (d.to_string(), true),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(t)) => (t.date().to_string(), false),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(t)) => (t.date_naive().to_string(), false),
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, .. }) => {
            (date_time.date().to_string(), false)
        }
    };
    text.parse::<Date>().map(|d| (d, all_day)).map_err(|e| format!("{text}: {e}"))
}

/// Sorted, with overlapping and adjacent spans joined (a feed lists a holiday week day by day).
fn merge(mut spans: Vec<DaySpan>) -> Vec<DaySpan> {
    spans.sort();
    let mut out: Vec<DaySpan> = Vec::with_capacity(spans.len());
    for span in spans {
        match out.last_mut() {
            Some(last) if last.end.checked_add(1.day()).is_ok_and(|next| span.start <= next) => {
                last.end = last.end.max(span.end);
            }
            _ => out.push(span),
        }
    }
    out
}

/// The 1-based line of each `BEGIN:VEVENT`, in order (the parser keeps no positions).
fn event_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim().eq_ignore_ascii_case("BEGIN:VEVENT"))
        .map(|(i, _)| i + 1)
        .collect()
}

/// `China Holidays 2026` → `china-holidays-2026`.
fn dns_name(text: &str) -> String {
    let mut name = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    name.trim_end_matches('-').chars().take(63).collect::<String>().trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> Vec<String> {
        WORKDAY_WORDS.iter().map(|w| (*w).to_owned()).collect()
    }

    const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//demo//EN\r\nX-WR-CALNAME:Demo holidays\r\n\
        BEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Autumn holiday\r\nDTSTART;VALUE=DATE:20261001\r\nDTEND;VALUE=DATE:20261005\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:2\r\nSUMMARY:Autumn holiday\r\nDTSTART;VALUE=DATE:20261005\r\nDTEND;VALUE=DATE:20261009\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:3\r\nSUMMARY:补班\r\nDTSTART;VALUE=DATE:20261010\r\nEND:VEVENT\r\n\
        BEGIN:VEVENT\r\nUID:4\r\nSUMMARY:New Year\r\nDTSTART:20270101T000000\r\nDTEND:20270101T235959\r\nEND:VEVENT\r\n\
        END:VCALENDAR\r\n";

    #[test]
    fn all_day_events_end_the_day_before_dtend_and_adjacent_ones_are_joined() {
        let imported = convert(FEED, &words()).unwrap();
        let show = |s: &[DaySpan]| s.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(show(&imported.holidays), ["2026-10-01..2026-10-08", "2027-01-01"]);
        assert_eq!(show(&imported.workdays), ["2026-10-10"]);
        assert_eq!(imported.title.as_deref(), Some("Demo holidays"));
    }

    #[test]
    fn errors_name_the_event_and_its_line() {
        let no_start = FEED.replace("DTSTART;VALUE=DATE:20261010\r\n", "");
        let err = convert(&no_start, &words()).unwrap_err();
        assert_eq!(err, "event 3 (line 17) \"补班\": no DTSTART (or one that cannot be read)");
        let recurring = FEED.replace("UID:4\r\n", "UID:4\r\nRRULE:FREQ=YEARLY\r\n");
        let err = convert(&recurring, &words()).unwrap_err();
        assert!(err.starts_with("event 4 (line 22) \"New Year\": recurring events"), "{err}");
        assert!(convert("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", &words()).unwrap_err().contains("no event"));
    }

    #[test]
    fn names_are_made_dns_safe() {
        assert_eq!(dns_name("China Holidays_2026"), "china-holidays-2026");
        assert_eq!(dns_name("--x--"), "x");
    }
}
