//! The cost–shortfall chart: the `diurnal` planner's frontier against each policy's single point,
//! so a reader sees which policy is cheaper *at equal shortfall*.

use plotters::prelude::*;

use super::html::{COLOURS, HEIGHT, WIDTH, escape};
use crate::study::Study;

/// SVG of cost (× oracle) against shortfall (%), or a paragraph saying why it is absent.
pub fn chart(s: &Study) -> String {
    if s.frontier.is_empty() || s.oracle.cost <= 0.0 {
        return "<p>No frontier: the scenario runs no <code>diurnal</code> policy.</p>".into();
    }
    let ratio = |cost: f64| cost / s.oracle.cost;
    let front: Vec<(f64, f64)> = s.frontier.iter().map(|p| (p.shortfall * 100.0, ratio(p.cost))).collect();
    let policies: Vec<(String, f64, f64)> = s
        .policies
        .iter()
        .map(|p| (p.outcome.name.clone(), p.outcome.shortfall * 100.0, p.cost_ratio_to_oracle))
        .collect();
    let all = front.iter().copied().chain(policies.iter().map(|p| (p.1, p.2)));
    let (x_max, y_max) = all.fold((0.0_f64, 1.0_f64), |(x, y), (px, py)| (x.max(px), y.max(py)));
    let x_max = if x_max > 0.0 { x_max * 1.15 } else { 0.01 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("cost against shortfall on the held-out window", ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(0.0..x_max, 0.9..(y_max * 1.1))?;
            chart
                .configure_mesh()
                .x_desc("shortfall (% of demand not served)")
                .y_desc("cost (x oracle)")
                .light_line_style(WHITE)
                .draw()?;
            let line = BLACK.mix(0.6);
            chart
                .draw_series(LineSeries::new(front.iter().copied(), line.stroke_width(1)))?
                .label("diurnal planner settings (frontier)")
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], line));
            chart.draw_series(front.iter().map(|&p| Circle::new(p, 3, line.filled())))?;
            for (i, (name, x, y)) in policies.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                chart
                    .draw_series(std::iter::once(Cross::new((*x, *y), 6, colour.stroke_width(2))))?
                    .label(name.as_str())
                    .legend(move |(x, y)| Cross::new((x + 7, y), 5, colour.stroke_width(2)));
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            root.present()?;
            Ok(())
        };
        if let Err(e) = draw() {
            return format!("<p>the cost–shortfall chart could not be drawn: {}</p>", escape(&e.to_string()));
        }
    }
    svg
}
