//! The self-contained HTML report: SVG charts drawn with plotters' SVG backend, inline styles,
//! no script, no external font, image or stylesheet — it opens offline from a file.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::study::Study;

pub(super) const WIDTH: u32 = 960;
pub(super) const HEIGHT: u32 = 320;
/// Longest series drawn per line: longer ones keep each bucket's largest value (bursts stay
/// visible).
const MAX_POINTS: usize = 1500;

/// Policy colours, in report order; demand is black.
pub(super) const COLOURS: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// One self-contained page.
pub fn page(s: &Study) -> String {
    let mut body = String::new();
    let title = format!("diurnal simulate: {}", s.name);
    let _ = write!(
        body,
        "<h1>{}</h1><p>Trace <code>{}</code> ({} s interval; {}). Every policy is evaluated on the held-out \
         window {} .. {} ({:.1} days); the planner learned from {} .. {}.</p>",
        escape(&title),
        escape(&s.trace),
        s.interval_seconds,
        escape(&s.gaps),
        s.evaluation.start,
        s.evaluation.end,
        s.evaluation.days,
        s.fit.start,
        s.fit.end
    );
    body.push_str("<h2>Results</h2><pre>");
    body.push_str(&escape(&super::table(s)));
    body.push_str("</pre>");

    let (day_from, day_to) = typical_day(s);
    body.push_str("<h2>A typical day: demand and ready capacity per policy</h2>");
    let _ = write!(
        body,
        "<p>The held-out day whose total demand is the median, {}; requests per second.</p>",
        s.eval_trace.at(day_from)
    );
    for (i, p) in s.policies.iter().enumerate() {
        body.push_str(&capacity_chart(s, i, day_from, day_to, &format!("{} — typical day", p.outcome.name)));
    }
    body.push_str("<h2>The whole held-out window</h2>");
    for (i, p) in s.policies.iter().enumerate() {
        body.push_str(&capacity_chart(
            s,
            i,
            0,
            s.eval_trace.rate.len(),
            &format!("{} — whole window", p.outcome.name),
        ));
    }
    body.push_str("<h2>Cost</h2>");
    body.push_str(&cost_chart(s));
    body.push_str(
        "<h2>Cost at equal shortfall</h2><p>One run of a policy is one point. The line is the \
        <code>diurnal</code> planner's other settings (slot quantile, head-room, HPA target), each planned \
        on the fit window and run on the held-out one; a policy is beaten at equal shortfall when the \
        line passes below and left of its cross.</p>",
    );
    body.push_str(&super::frontier_chart::chart(s));
    body.push_str("<h2>Planner's CronHPA</h2><pre>");
    body.push_str(&escape(&s.planner.cronhpa_yaml));
    body.push_str("</pre><h2>Scenario</h2><pre>");
    body.push_str(&escape(&serde_saphyr::to_string(&s.scenario).unwrap_or_default()));
    body.push_str("</pre><p>Trace data: public logs (see <code>examples/traces/README.md</code>).</p>");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}\
         pre{{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}}svg{{display:block;margin:1em 0}}</style>\
         </head><body>{}</body></html>\n",
        escape(&title),
        body
    )
}

/// The day (grid-aligned from the window's start) whose known demand sums to the median.
fn typical_day(s: &Study) -> (usize, usize) {
    let t = &s.eval_trace;
    let per_day = usize::try_from(86_400 / t.interval).unwrap_or(1).max(1);
    let days = t.rate.len() / per_day;
    if days == 0 {
        return (0, t.rate.len());
    }
    let mut totals: Vec<(f64, usize)> = (0..days)
        .map(|d| (t.rate[d * per_day..(d + 1) * per_day].iter().filter(|r| !r.is_nan()).sum(), d))
        .collect();
    totals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let d = totals[totals.len() / 2].1;
    (d * per_day, (d + 1) * per_day)
}

/// Keeps each bucket's largest value so that at most [`MAX_POINTS`] remain: `(index, value)`.
fn downsample(values: &[f64]) -> Vec<(usize, f64)> {
    let bucket = values.len().div_ceil(MAX_POINTS).max(1);
    values
        .chunks(bucket)
        .enumerate()
        .filter_map(|(k, c)| {
            let m = c.iter().copied().filter(|v| !v.is_nan()).fold(f64::NAN, f64::max);
            (!m.is_nan()).then_some((k * bucket, m))
        })
        .collect()
}

fn capacity_chart(s: &Study, policy: usize, from: usize, to: usize, caption: &str) -> String {
    let demand: Vec<f64> = s.eval_trace.rate[from..to].to_vec();
    let capacity: Vec<f64> = s.policies[policy]
        .outcome
        .capacity
        .get(from..to)
        .unwrap_or_default()
        .iter()
        .map(|&c| f64::from(c))
        .collect();
    let top = demand.iter().chain(&capacity).copied().filter(|v| !v.is_nan()).fold(1.0, f64::max) * 1.3; // room for the legend
    #[allow(clippy::cast_precision_loss)]
    let hours = |i: usize| (i as f64) * s.eval_trace.interval as f64 / 3600.0;
    let span = hours(to - from);
    let colour = COLOURS[policy % COLOURS.len()];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(caption, ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(55)
                .build_cartesian_2d(0.0..span.max(1e-9), 0.0..top)?;
            chart
                .configure_mesh()
                .x_desc("hours from start")
                .y_desc("requests/s")
                .light_line_style(WHITE)
                .draw()?;
            chart
                .draw_series(AreaSeries::new(
                    downsample(&capacity).into_iter().map(|(i, v)| (hours(i), v)),
                    0.0,
                    colour.mix(0.25),
                ))?
                .label("ready capacity")
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 14, y + 4)], colour.mix(0.5).filled())
                });
            chart
                .draw_series(LineSeries::new(
                    downsample(&demand).into_iter().map(|(i, v)| (hours(i), v)),
                    BLACK.stroke_width(1),
                ))?
                .label("demand")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK));
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            root.present()?;
            Ok(())
        };
        if let Err(e) = draw() {
            return format!(
                "<p>chart {} could not be drawn: {}</p>",
                escape(caption),
                escape(&e.to_string())
            );
        }
    }
    svg
}

fn cost_chart(s: &Study) -> String {
    let mut bars: Vec<(String, f64, f64)> = s
        .policies
        .iter()
        .map(|p| (p.outcome.name.clone(), p.outcome.regular_cost, p.outcome.virtual_cost))
        .collect();
    bars.push(("oracle".into(), s.oracle.regular_cost, s.oracle.virtual_cost));
    let top = bars.iter().map(|b| b.1 + b.2).fold(1.0, f64::max) * 1.3; // room for the legend
    let n = bars.len();
    #[allow(clippy::cast_precision_loss)]
    let n_f = n as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(format!("cost over the held-out window ({})", s.currency), ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(60)
                .build_cartesian_2d(-0.5..(n_f - 0.5), 0.0..top)?;
            let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
            chart
                .configure_mesh()
                .x_labels(n)
                .x_label_formatter(&|v| {
                    let i = v.round();
                    if (v - i).abs() < 1e-6 && i >= 0.0 {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let i = i as usize;
                        labels.get(i).cloned().unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .disable_x_mesh()
                .y_desc(s.currency.as_str())
                .light_line_style(WHITE)
                .draw()?;
            let regular = RGBColor(0x1f, 0x77, 0xb4);
            let virt = RGBColor(0xff, 0x7f, 0x0e);
            #[allow(clippy::cast_precision_loss)]
            let x = |i: usize| i as f64;
            chart
                .draw_series(
                    bars.iter().enumerate().map(|(i, b)| {
                        Rectangle::new([(x(i) - 0.3, 0.0), (x(i) + 0.3, b.1)], regular.filled())
                    }),
                )?
                .label("regular nodes")
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], regular.filled()));
            chart
                .draw_series(bars.iter().enumerate().map(|(i, b)| {
                    Rectangle::new([(x(i) - 0.3, b.1), (x(i) + 0.3, b.1 + b.2)], virt.filled())
                }))?
                .label("virtual-node pods")
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], virt.filled()));
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            root.present()?;
            Ok(())
        };
        if let Err(e) = draw() {
            return format!("<p>the cost chart could not be drawn: {}</p>", escape(&e.to_string()));
        }
    }
    svg
}

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
