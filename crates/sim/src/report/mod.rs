//! Report writers: the terminal table, JSON and the HTML page.

mod frontier_chart;
pub mod html;

use std::fmt::Write as _;

use crate::study::Study;

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn day(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M").to_string()
}

/// Where the prices come from and the size a virtual-node pod is billed as, when a preset or a
/// provider's size rule is in play (the default scenario's prices need no line).
fn prices_line(s: &Study) -> Option<String> {
    let cluster = s.scenario.cluster();
    let v = &cluster.virtual_node;
    let w = &cluster.workload;
    if s.scenario.prices.is_none() && v.sizes == crate::billing::BillableSizes::Requested {
        return None;
    }
    let source =
        s.scenario.prices.as_ref().map_or_else(|| "the scenario's".to_owned(), |p| format!("preset {p}"));
    let billed = v
        .billed_size(w)
        .map_or_else(|| "no billable size".to_owned(), |(cpu, mem)| format!("{cpu} vCPU / {mem} GiB"));
    let rule = format!("{:?}", v.sizes).to_lowercase();
    Some(format!(
        "prices: {source} ({}); a virtual-node pod requests {} vCPU / {} GiB, billed as {billed} ({rule} sizes)",
        s.currency, w.pod_cpu, w.pod_memory_gib
    ))
}

/// The terminal table.
#[allow(clippy::too_many_lines, clippy::many_single_char_names)] // one line after another
pub fn table(s: &Study) -> String {
    let mut out = String::new();
    let c = &s.currency;
    let _ = writeln!(out, "diurnal simulate: {}", s.name);
    let _ = writeln!(out, "trace {} ({}s interval): {}", s.trace, s.interval_seconds, s.gaps);
    let _ = writeln!(
        out,
        "fit on {} .. {} ({:.1} days); every policy evaluated on the held-out {} .. {} ({:.1} days)",
        day(s.fit.start),
        day(s.fit.end),
        s.fit.days,
        day(s.evaluation.start),
        day(s.evaluation.end),
        s.evaluation.days
    );
    if let Some(line) = prices_line(s) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<12} {:>12} {:>11} {:>11} {:>8} {:>9} {:>6} {:>8} {:>6} {:>8} {:>10}",
        "policy",
        format!("cost {c}"),
        "regular",
        "virtual",
        "x oracle",
        "shortfall",
        "peak",
        "mean",
        "nodes",
        "actions",
        "saved/VM"
    );
    for p in &s.policies {
        let o = &p.outcome;
        let _ = writeln!(
            out,
            "{:<12} {:>12.2} {:>11.2} {:>11.2} {:>8.3} {:>9} {:>6} {:>8.1} {:>6} {:>8} {:>10}",
            o.name,
            o.cost,
            o.regular_cost,
            o.virtual_cost,
            p.cost_ratio_to_oracle,
            pct(o.shortfall),
            o.peak_replicas,
            o.mean_replicas,
            o.peak_nodes,
            o.scaling_actions,
            p.savings_vs_static_peak.map_or_else(|| "-".into(), pct),
        );
    }
    let o = &s.oracle;
    let _ = writeln!(
        out,
        "{:<12} {:>12.2} {:>11.2} {:>11.2} {:>8.3} {:>9} {:>6} {:>8.1} {:>6} {:>8} {:>10}",
        "oracle",
        o.cost,
        o.regular_cost,
        o.virtual_cost,
        1.0,
        pct(o.shortfall),
        o.peak_replicas,
        o.mean_replicas,
        o.baseline_nodes,
        "-",
        s.savings.oracle_savings.map_or_else(|| "-".into(), pct),
    );
    let p = &s.planner;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "planner: {} profile (quantile {}, head-room {:.0}%), {} CronHPA jobs (at most {} fires a day), baseline {} regular node(s), HPA {}..{} at {:.0}% target",
        p.profile,
        p.quantile,
        p.headroom * 100.0,
        p.jobs,
        p.max_fires_per_day,
        p.baseline_nodes,
        p.hpa_min,
        p.hpa_max,
        p.target_utilization * 100.0
    );
    let _ = writeln!(
        out,
        "  in sample (fit window): {:.3} x oracle, shortfall {}; held out: {:.3} x oracle, shortfall {}",
        p.in_sample.cost_ratio_to_oracle,
        pct(p.in_sample.shortfall),
        p.held_out.cost_ratio_to_oracle,
        pct(p.held_out.shortfall)
    );
    let g = &s.gap;
    let _ = writeln!(
        out,
        "gap to the oracle: slot-level clairvoyant {:.3} x ({} of the gap: bursts inside a {}-minute slot); \
         plan fitted on the held-out window itself {:.3} x ({} of the gap); forecast error {}",
        g.slot_oracle_cost / s.oracle.cost,
        pct(g.share_within_slot_bursts),
        s.scenario.planner.slot_minutes,
        g.hindsight_cost / s.oracle.cost,
        pct(g.share_hindsight),
        pct(g.share_forecast_error),
    );
    let v = &s.savings;
    let _ = writeln!(
        out,
        "vs a VM-only cluster (static-peak): diurnal saves {}, the oracle {}. Peak/mean replicas {:.2}; \
         a virtual pod-hour costs {:.2} x a pod-hour on a full regular node. Saving 2/3 all-virtual needs \
         peak/mean >= {:.2} at this price ratio, or a price ratio <= {:.2} at this peak/mean.",
        v.diurnal_savings.map_or_else(|| "-".into(), pct),
        v.oracle_savings.map_or_else(|| "-".into(), pct),
        v.peak_to_mean,
        v.price_ratio,
        v.peak_to_mean_needed,
        v.price_ratio_needed,
    );
    if !s.goals.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "goals:");
        for goal in &s.goals {
            let _ = writeln!(
                out,
                "  [{}] {}: {}",
                if goal.met { "met" } else { "NOT met" },
                goal.name,
                goal.detail
            );
        }
    }
    out
}

/// The JSON report (schema in `docs/simulator.md`).
pub fn json(s: &Study) -> String {
    serde_json::to_string_pretty(s).expect("a study always serialises")
}
