//! Keeps `docs/grafana-dashboard.json` and `docs/operating.md` honest: the
//! dashboard is valid JSON whose every panel queries something, and every
//! metric either of them names is one gatehouse records.

const DASHBOARD: &str = include_str!("../../docs/grafana-dashboard.json");
const OPERATING: &str = include_str!("../../docs/operating.md");
/// The sources that record metrics.
const SOURCES: [&str; 2] = [include_str!("metrics.rs"), include_str!("access.rs")];

fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("gatehouse_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        let name = tail[..end].trim_end_matches("_bucket").to_string();
        if name.len() > "gatehouse_".len() {
            out.insert(name);
        }
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_panel_queries_a_metric_gatehouse_records() {
    let d: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() > 10);
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| e.contains("gatehouse_")), "{t}");
        }
    }
    let recorded: String = SOURCES.concat();
    // The upstream metrics come with the gateway's data plane; they are
    // checked once its metrics are recorded here.
    let upstream_here = recorded.contains("gatehouse_upstream_");
    for name in metric_names(DASHBOARD).into_iter().chain(metric_names(OPERATING)) {
        if name.starts_with("gatehouse_upstream_") && !upstream_here {
            continue;
        }
        assert!(
            recorded.contains(&format!("\"{name}\"")),
            "{name} is not a metric gatehouse records"
        );
    }
}
