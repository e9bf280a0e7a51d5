//! Parsing a schedule: descriptors, the six (or five) cron fields with names, `L`, `W`, `#`,
//! `@every` and `@date`, each error naming the field; and describing the fields for the legacy
//! reading.

use std::fmt::Write as _;

use croner::Cron;
use croner::parser::{CronParser, Seconds};
use jiff::SignedDuration;
use jiff::civil::{Date, DateTime, Time};

use super::search::Search;
use super::{Dialect, Kind, ScheduleError};

/// Field names, ranges and extra syntax, in six-field order.
pub(super) struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    kind: FieldKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FieldKind {
    Time,
    Dom,
    Month,
    Dow,
}

pub(super) const FIELDS: [FieldSpec; 6] = [
    FieldSpec { name: "sec", min: 0, max: 59, kind: FieldKind::Time },
    FieldSpec { name: "min", min: 0, max: 59, kind: FieldKind::Time },
    FieldSpec { name: "hour", min: 0, max: 23, kind: FieldKind::Time },
    FieldSpec { name: "day-of-month", min: 1, max: 31, kind: FieldKind::Dom },
    FieldSpec { name: "month", min: 1, max: 12, kind: FieldKind::Month },
    FieldSpec { name: "day-of-week", min: 0, max: 7, kind: FieldKind::Dow },
];

pub(super) const MONTHS: [&str; 12] =
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
pub(super) const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

pub(super) fn parse_descriptor(trimmed: &str) -> Result<Kind, ScheduleError> {
    let (word, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (trimmed, ""),
    };
    let lower = word.to_ascii_lowercase();
    let expansion = match lower.as_str() {
        "@yearly" | "@annually" => "0 0 0 1 1 *",
        "@monthly" => "0 0 0 1 * *",
        "@weekly" => "0 0 0 * * 0",
        "@daily" | "@midnight" => "0 0 0 * * *",
        "@hourly" => "0 0 * * * *",
        "@every" => return parse_every(rest).map(Kind::Every),
        "@date" => return parse_date(rest).map(Kind::Date),
        _ => return Err(ScheduleError::UnknownDescriptor { descriptor: word.to_owned() }),
    };
    if !rest.is_empty() {
        return Err(ScheduleError::DescriptorArgument {
            descriptor: word.to_owned(),
            extra: rest.to_owned(),
        });
    }
    let fields: [String; 6] = split6(expansion);
    let cron = build_cron(trimmed, &fields)?;
    Ok(Kind::Cron {
        search: Box::new(Search::new(&cron)),
        dialect: Dialect::Descriptor,
        interval: is_interval_fields(&fields),
        fields: fields.join(" ").into_boxed_str(),
    })
}

pub(super) fn split6(expansion: &str) -> [String; 6] {
    let mut it = expansion.split(' ').map(str::to_owned);
    std::array::from_fn(|_| it.next().unwrap_or_default())
}

pub(super) fn parse_fields(trimmed: &str) -> Result<Kind, ScheduleError> {
    let written: Vec<&str> = trimmed.split_whitespace().collect();
    let (dialect, offset) = match written.len() {
        6 => (Dialect::Seconds, 0),
        5 => (Dialect::Standard, 1),
        count => return Err(ScheduleError::FieldCount { count, expr: trimmed.to_owned() }),
    };
    let mut fields: [String; 6] = std::array::from_fn(|_| "0".to_owned());
    for (i, raw) in written.iter().enumerate() {
        let slot = i + offset;
        let spec = &FIELDS[slot];
        fields[slot] = normalize_field(spec, raw).map_err(|reason| ScheduleError::Field {
            position: i + 1,
            name: spec.name,
            field: (*raw).to_owned(),
            reason,
        })?;
    }
    check_some_day_exists(trimmed, &fields)?;
    let cron = build_cron(trimmed, &fields).map_err(|e| locate_cron_error(&written, offset, e))?;
    Ok(Kind::Cron {
        search: Box::new(Search::new(&cron)),
        dialect,
        interval: is_interval_fields(&fields),
        fields: fields.join(" ").into_boxed_str(),
    })
}

pub(super) fn is_interval_fields(fields: &[String; 6]) -> bool {
    fields[..3].iter().any(|f| f.contains('*') || f.contains('/'))
}

pub(super) fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Required).dom_and_dow(false).sloppy_ranges(true).build()
}

pub(super) fn build_cron(expr: &str, fields: &[String; 6]) -> Result<Cron, ScheduleError> {
    parser()
        .parse(&fields.join(" "))
        .map_err(|e| ScheduleError::Cron { expr: expr.to_owned(), message: e.to_string() })
}

/// Croner rejected what our own checks accepted: find the field by parsing it alone.
pub(super) fn locate_cron_error(written: &[&str], offset: usize, err: ScheduleError) -> ScheduleError {
    for (i, raw) in written.iter().enumerate() {
        let slot = i + offset;
        let mut probe: [String; 6] = std::array::from_fn(|i| if i == 0 { "0" } else { "*" }.to_owned());
        match normalize_field(&FIELDS[slot], raw) {
            Ok(f) => probe[slot] = f,
            Err(_) => continue,
        }
        if let Err(e) = parser().parse(&probe.join(" ")) {
            return ScheduleError::Field {
                position: i + 1,
                name: FIELDS[slot].name,
                field: (*raw).to_owned(),
                reason: e.to_string(),
            };
        }
    }
    err
}

/// Checks one field and returns it with names replaced by numbers.
///
/// Hand-written because croner's messages name neither the field nor the value ("Number out of
/// bounds."), and croner replaces month and weekday names in every field, so it would accept `MON`
/// as a month.
pub(super) fn normalize_field(spec: &FieldSpec, raw: &str) -> Result<String, String> {
    let upper = raw.to_ascii_uppercase();
    let mut out = String::with_capacity(upper.len());
    let mut chars = upper.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if c.is_ascii_alphabetic() {
            let mut end = start + c.len_utf8();
            while let Some(&(i, n)) = chars.peek() {
                if n.is_ascii_alphabetic() {
                    end = i + n.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &upper[start..end];
            let prev_is_dash = out.ends_with('-');
            replace_word(spec, word, prev_is_dash, &mut out)?;
        } else {
            let allowed = c.is_ascii_digit()
                || matches!(c, '*' | ',' | '-' | '/')
                || (c == '?' && matches!(spec.kind, FieldKind::Dom | FieldKind::Dow))
                || (c == '#' && spec.kind == FieldKind::Dow);
            if !allowed {
                return Err(format!("unexpected character `{c}`{}", allowed_hint(spec)));
            }
            out.push(c);
        }
    }
    let single = !out.contains(',');
    for item in out.split(',') {
        check_item(spec, item, single)?;
    }
    Ok(out)
}

pub(super) fn allowed_hint(spec: &FieldSpec) -> &'static str {
    match spec.kind {
        FieldKind::Time => " (allowed: numbers and `* , - /`)",
        FieldKind::Dom => " (allowed: numbers, `* , - / ?`, `L` and `W`)",
        FieldKind::Month => " (allowed: numbers, JAN-DEC and `* , - /`)",
        FieldKind::Dow => " (allowed: numbers, SUN-SAT, `* , - / ?`, `L` and `#`)",
    }
}

pub(super) fn replace_word(
    spec: &FieldSpec,
    word: &str,
    prev_is_dash: bool,
    out: &mut String,
) -> Result<(), String> {
    match spec.kind {
        FieldKind::Month => {
            let Some(i) = MONTHS.iter().position(|m| *m == word) else {
                return Err(format!("unknown month name `{word}` (use JAN-DEC or 1-12)"));
            };
            let _ = write!(out, "{}", i + 1);
        }
        FieldKind::Dow => {
            if word == "L" {
                out.push('L');
            } else if let Some(i) = WEEKDAYS.iter().position(|d| *d == word) {
                // `FRI-SUN` is Friday to Sunday: a range ending in Sunday uses 7.
                let n = if i == 0 && prev_is_dash { 7 } else { i };
                let _ = write!(out, "{n}");
            } else if let Some(i) = WEEKDAYS.iter().position(|d| word.strip_suffix('L') == Some(*d)) {
                let _ = write!(out, "{i}L");
            } else {
                return Err(format!("unknown weekday name `{word}` (use SUN-SAT or 0-7)"));
            }
        }
        FieldKind::Dom => {
            if matches!(word, "L" | "W" | "LW") {
                out.push_str(word);
            } else {
                return Err(format!("unexpected `{word}` (day-of-month allows numbers, `L`, `W` and `LW`)"));
            }
        }
        FieldKind::Time => {
            return Err(format!("unexpected `{word}`{}", allowed_hint(spec)));
        }
    }
    Ok(())
}

pub(super) fn parse_number(spec: &FieldSpec, text: &str, single: bool) -> Result<u32, String> {
    if text.is_empty() {
        return Err("missing number".to_owned());
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{text}` is not a number"));
    }
    let value = text.parse::<u32>().unwrap_or(u32::MAX);
    if value < spec.min || value > spec.max {
        return Err(if single {
            format!("value out of range {}-{}", spec.min, spec.max)
        } else {
            format!("value {text} out of range {}-{}", spec.min, spec.max)
        });
    }
    Ok(value)
}

/// One comma-separated item: `*`, `?`, `N`, `N-M`, any of those with `/step`, or the
/// day-of-month and day-of-week specials.
pub(super) fn check_item(spec: &FieldSpec, item: &str, single: bool) -> Result<(), String> {
    if item.is_empty() {
        return Err("empty list item (two commas, or a comma at an end)".to_owned());
    }
    let days = matches!(spec.kind, FieldKind::Dom | FieldKind::Dow);
    if item == "*" || (days && item == "?") {
        return Ok(());
    }
    if item.contains('?') {
        return Err("`?` must stand alone".to_owned());
    }
    if let Some((base, step)) = item.split_once('/') {
        if step.contains('/') {
            return Err(format!("`{item}` has more than one `/`"));
        }
        if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("step `{step}` in `{item}` is not a number"));
        }
        let step_value = step.parse::<u32>().unwrap_or(u32::MAX);
        if step_value == 0 {
            return Err(format!("step in `{item}` must be at least 1"));
        }
        if step_value > spec.max {
            return Err(format!(
                "step {step} in `{item}` is larger than the field's range {}-{}",
                spec.min, spec.max
            ));
        }
        if base.is_empty() {
            return Err(format!("`{item}` needs a start: write `*/{step}`"));
        }
        if base == "*" {
            return Ok(());
        }
        if base.contains(['L', 'W', '#']) {
            return Err(format!("`{item}`: `L`, `W` and `#` cannot be stepped"));
        }
        return check_range(spec, base, single);
    }
    match spec.kind {
        FieldKind::Dom if item.contains(['L', 'W']) => {
            if item == "L" || item == "LW" {
                return Ok(());
            }
            if let Some(day) = item.strip_suffix('W') {
                if day.contains(['L', 'W', '-']) {
                    return Err(format!("`{item}`: write `NW` (nearest weekday to day N) or `LW`"));
                }
                parse_number(spec, day, single)?;
                return Ok(());
            }
            Err(format!("`{item}`: `L` means the last day of the month and stands alone (or `LW`)"))
        }
        FieldKind::Dow if item.contains(['L', '#']) => {
            if item == "L" {
                return Err(
                    "`L` in day-of-week needs a weekday, e.g. `5L` or `FRIL` (last Friday)".to_owned()
                );
            }
            if let Some(day) = item.strip_suffix('L') {
                if day.contains(['L', '#', '-']) {
                    return Err(format!("`{item}`: write `NL` for the last weekday N of the month"));
                }
                parse_number(spec, day, single)?;
                return Ok(());
            }
            let Some((day, nth)) = item.split_once('#') else {
                return Err(format!("`{item}`: `L` follows a weekday, as in `5L`"));
            };
            if day.contains(['L', '#', '-']) || nth.contains(['L', '#', '-']) {
                return Err(format!("`{item}`: write `N#K` for the K-th weekday N of the month"));
            }
            parse_number(spec, day, single)?;
            let k = nth.parse::<u32>().map_err(|_| format!("`{item}`: `#` needs a number 1-5 after it"))?;
            if !(1..=5).contains(&k) {
                return Err(format!("`{item}`: occurrence #{k} out of range 1-5"));
            }
            Ok(())
        }
        _ => check_range(spec, item, single),
    }
}

pub(super) fn check_range(spec: &FieldSpec, text: &str, single: bool) -> Result<(), String> {
    if let Some((a, b)) = text.split_once('-') {
        if b.contains('-') {
            return Err(format!("`{text}` has more than one `-`"));
        }
        let lo = parse_number(spec, a, false)?;
        let hi = parse_number(spec, b, false)?;
        if lo > hi {
            return Err(format!("range `{text}` runs backwards; write `{b}-{a}` or a list"));
        }
        Ok(())
    } else {
        parse_number(spec, text, single).map(|_| ())
    }
}

/// Rejects fields that no calendar day satisfies, like `0 0 0 30 2 *`, which croner would search
/// until the year 5000 on every call. Only plain day-of-month numbers with an unrestricted
/// day-of-week can be impossible; `L`, `W` and weekdays always occur.
pub(super) fn check_some_day_exists(expr: &str, fields: &[String; 6]) -> Result<(), ScheduleError> {
    let (dom, month, dow) = (&fields[3], &fields[4], &fields[5]);
    if !(dow == "*" || dow == "?") || dom.contains(['L', 'W']) {
        return Ok(());
    }
    let days = expand_simple(dom, 1, 31);
    let months: Vec<u32> = expand_simple(month, 1, 12);
    let longest = |m: u32| match m {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if months.iter().any(|&m| days.iter().any(|&d| d <= longest(m))) {
        return Ok(());
    }
    let names: Vec<&str> = months.iter().filter_map(|&m| MONTHS.get(m as usize - 1).copied()).collect();
    Err(ScheduleError::NeverFires {
        expr: expr.to_owned(),
        reason: format!("day {dom} does not exist in {}", names.join(", ")),
    })
}

/// The values of a names-replaced numeric field (`*`, lists, ranges, steps).
pub(super) fn expand_simple(field: &str, min: u32, max: u32) -> Vec<u32> {
    let mut values = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, s.parse::<u32>().unwrap_or(1).max(1)),
            None => (item, 1),
        };
        let (lo, hi) = if base == "*" || base == "?" {
            (min, max)
        } else if let Some((a, b)) = base.split_once('-') {
            (a.parse().unwrap_or(min), b.parse().unwrap_or(max))
        } else {
            let v = base.parse().unwrap_or(min);
            (v, if item.contains('/') { max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            if !values.contains(&v) {
                values.push(v);
            }
            v += step;
        }
    }
    values.sort_unstable();
    values
}

/// Parses a Go duration (`90s`, `1h30m`, `1.5h`, `500ms`) into a whole number of seconds.
///
/// Hand-written: this is Go's `time.ParseDuration` syntax, which the old controller took, and it
/// is small enough that parsing it here lets each error say which part is wrong.
pub(super) fn parse_every(text: &str) -> Result<SignedDuration, ScheduleError> {
    let err = |reason: &str| ScheduleError::Every { duration: text.to_owned(), reason: reason.to_owned() };
    if text.is_empty() {
        return Err(err("missing duration; write e.g. `@every 90s` or `@every 1h30m`"));
    }
    if text.split_whitespace().count() > 1 {
        return Err(err("the duration must be one word, like `1h30m`"));
    }
    let body = text.strip_prefix('+').unwrap_or(text);
    if body.starts_with('-') {
        return Err(err("the duration must be positive"));
    }
    let mut total_nanos: i128 = 0;
    let mut rest = body;
    if rest == "0" {
        return Err(err("the duration must be more than zero"));
    }
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err("expected a number before each unit (units: h, m, s, ms, us, ns)"));
        }
        rest = &rest[number_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: i128 = match unit {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" | "μs" => 1_000,
            "ns" => 1,
            "" => return Err(err(&format!("`{number}` needs a unit (h, m, s, ms, us, ns)"))),
            other => return Err(err(&format!("unknown unit `{other}` (units: h, m, s, ms, us, ns)"))),
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        let whole: i128 =
            if whole.is_empty() { 0 } else { whole.parse().map_err(|_| err("number too large"))? };
        let mut part = whole.checked_mul(unit_nanos).ok_or_else(|| err("duration too large"))?;
        let mut scale = unit_nanos;
        for digit in frac.bytes().take(18) {
            scale /= 10;
            part += i128::from(digit - b'0') * scale;
        }
        total_nanos = total_nanos.checked_add(part).ok_or_else(|| err("duration too large"))?;
        // About 300 years: beyond that jiff cannot add it to a timestamp anyway.
        if total_nanos > 10_000_000_000_000_000_000 {
            return Err(err("duration too large"));
        }
    }
    if total_nanos == 0 {
        return Err(err("the duration must be more than zero"));
    }
    if total_nanos % 1_000_000_000 != 0 {
        return Err(err("the duration must be a whole number of seconds"));
    }
    let secs = i64::try_from(total_nanos / 1_000_000_000).map_err(|_| err("duration too large"))?;
    Ok(SignedDuration::from_secs(secs))
}

/// Parses `YYYY-MM-DD HH:MM:SS` strictly, with messages naming the bad part.
pub(super) fn parse_date(text: &str) -> Result<DateTime, ScheduleError> {
    let err = |reason: String| ScheduleError::Date { value: text.to_owned(), reason };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [date, time] = parts.as_slice() else {
        return Err(err("expected `YYYY-MM-DD HH:MM:SS`, e.g. `@date 2026-11-16 23:59:00`".to_owned()));
    };
    let date = parse_iso_date(date).map_err(&err)?;
    let numbers: Vec<&str> = time.split(':').collect();
    let [h, m, s] = numbers.as_slice() else {
        return Err(err(format!("time `{time}` is not `HH:MM:SS`")));
    };
    let num = |part: &str, what: &str, max: i8| -> Result<i8, ScheduleError> {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(format!("{what} `{part}` in `{time}` is not two digits")));
        }
        let v: i8 = part.parse().map_err(|_| err(format!("{what} `{part}` is not a number")))?;
        if v > max {
            return Err(err(format!("{what} {v} in `{time}` out of range 0-{max}")));
        }
        Ok(v)
    };
    let time = Time::new(num(h, "hour", 23)?, num(m, "minute", 59)?, num(s, "second", 59)?, 0)
        .map_err(|e| err(e.to_string()))?;
    Ok(date.to_datetime(time))
}

/// Parses a strict `YYYY-MM-DD`; the message names the bad part. Shared with exclusions.
pub(crate) fn parse_iso_date(text: &str) -> Result<Date, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(format!("date `{text}` is not `YYYY-MM-DD`"));
    };
    let digits = |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(y, 4) {
        return Err(format!("year `{y}` in `{text}` is not four digits"));
    }
    if !digits(m, 2) {
        return Err(format!("month `{m}` in `{text}` is not two digits"));
    }
    if !digits(d, 2) {
        return Err(format!("day `{d}` in `{text}` is not two digits"));
    }
    let year: i16 = y.parse().map_err(|_| format!("year `{y}` is not a number"))?;
    let month: i8 = m.parse().map_err(|_| format!("month `{m}` is not a number"))?;
    let day: i8 = d.parse().map_err(|_| format!("day `{d}` is not a number"))?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} in `{text}` out of range 01-12"));
    }
    Date::new(year, month, day)
        .map_err(|_| format!("`{text}` does not exist (day {day} is past the end of the month)"))
}

// ---------------------------------------------------------------------------------------------
// Describing, for legacy_reading

/// How the old controller would read `f0 f1 f2 f3 f4` (as `sec min hour dom month`), or `None`
/// when it would reject it.
pub(super) fn legacy_description(written: &[&str; 5]) -> Option<String> {
    // robfig/cron, which the old controller used, has no L, W or # and 0-6 weekdays; the month
    // field is the fifth, so weekday names there are errors.
    let specs = [&FIELDS[0], &FIELDS[1], &FIELDS[2], &FIELDS[3], &FIELDS[4]];
    let mut fields: [String; 6] = std::array::from_fn(|_| "*".to_owned());
    for (i, (spec, raw)) in specs.iter().zip(written).enumerate() {
        let f = normalize_field(spec, raw).ok()?;
        if f.contains(['L', 'W', '#']) {
            return None;
        }
        fields[i] = f;
    }
    parser().parse(&fields.join(" ")).ok()?;
    Some(describe_fields(&fields))
}

/// A short English description of six normalised fields, precise enough to tell two readings
/// apart: "every hour at minute 8 (second 0)", "at 08:00:00 every day".
pub(super) fn describe_fields(fields: &[String; 6]) -> String {
    let [sec, min, hour, dom, month, dow] = fields;
    let plain = |f: &str| f.bytes().all(|b| b.is_ascii_digit());
    let time = if plain(sec) && plain(min) && plain(hour) {
        let n = |f: &str| f.parse::<u32>().unwrap_or(0);
        format!("at {:02}:{:02}:{:02}", n(hour), n(min), n(sec))
    } else if plain(sec) && plain(min) && hour == "*" {
        format!("every hour at minute {min} (second {sec})")
    } else if plain(sec) && min == "*" && hour == "*" {
        format!("every minute at second {sec}")
    } else if sec == "*" && min == "*" && hour == "*" {
        "every second".to_owned()
    } else if min == "*" && hour == "*" {
        format!("every minute at seconds `{sec}`")
    } else if plain(sec) && hour == "*" {
        format!("every hour at minutes `{min}` (second {sec})")
    } else {
        format!("at second `{sec}`, minute `{min}`, hour `{hour}`")
    };
    let star = |f: &str| f == "*" || f == "?";
    let days = match (star(dom), star(dow)) {
        // "every hour at minute 8" already says every day.
        (true, true) if time.starts_with("every") => String::new(),
        (true, true) => " every day".to_owned(),
        (false, true) => format!(" on day-of-month `{dom}`"),
        (true, false) => format!(" on day-of-week `{dow}`"),
        (false, false) => format!(" on day-of-month `{dom}` or day-of-week `{dow}`"),
    };
    let months = if star(month) { String::new() } else { format!(" in month `{month}`") };
    format!("{time}{days}{months}")
}
