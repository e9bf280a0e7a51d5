//! The self-contained HTML report.

use crate::study::Study;

/// One self-contained page: no scripts, fonts or styles from elsewhere.
pub fn page(s: &Study) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>diurnal: {}</title></head><body><pre>{}</pre></body></html>",
        escape(&s.name),
        escape(&super::table(s))
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
