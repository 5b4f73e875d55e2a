//! The HTML compliance report: one self-contained file (no external assets) with the summary,
//! two inline SVG bar charts (age distribution, overdue per provider) and the table. Every
//! number carries a `data-k` attribute so tests can compare it with the JSON report.

use rekey_domain::Finding;
use rekey_engine::report::Compliance;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A credential's findings as one cell: their spellings, space-separated.
pub(super) fn spelled(findings: &[Finding]) -> String {
    findings.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(" ")
}

/// A horizontal bar chart of `(label, value)`.
fn bars(id: &str, title: &str, data: &[(String, usize)]) -> String {
    let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let (w, row) = (480, 26);
    let h = row * data.len() + 30;
    let mut svg = format!(
        r#"<svg id="{id}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{}"><text x="0" y="16" font-size="14" font-weight="bold">{}</text>"#,
        esc(title),
        esc(title)
    );
    for (i, (label, v)) in data.iter().enumerate() {
        let y = 26 + i * row;
        let bw = 300 * v / max;
        let _ = write!(
            svg,
            r##"<text x="0" y="{}" font-size="12">{}</text><rect class="bar" data-label="{}" data-value="{v}" x="110" y="{y}" width="{bw}" height="18" fill="#4a7bd0"/><text x="{}" y="{}" font-size="12">{v}</text>"##,
            y + 13,
            esc(label),
            esc(label),
            115 + bw,
            y + 13
        );
    }
    svg + "</svg>"
}

/// Renders the report.
pub fn render(r: &Compliance) -> String {
    let mut h = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>rekey compliance report</title><style>\
         body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}\
         td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}.f{color:#b00020;font-weight:600}\
         .charts{display:flex;gap:3em;flex-wrap:wrap;margin:1em 0}</style></head><body>",
    );
    let with = r.rows.iter().filter(|x| !x.findings.is_empty()).count();
    let _ = write!(
        h,
        "<h1>rekey compliance report</h1><p>Generated {} · maximum age {} days · unused after {} days</p>\
         <p><b data-k=\"credentials\">{}</b> credentials, <b data-k=\"with-findings\">{with}</b> with findings.</p><ul>",
        r.generated_at.to_rfc3339(),
        r.max_age_days,
        r.unused_days,
        r.rows.len()
    );
    for (f, n) in &r.findings {
        let _ = write!(h, "<li>{f}: <b data-k=\"finding-{f}\">{n}</b></li>");
    }
    h.push_str("</ul><div class=\"charts\">");
    h.push_str(&bars("age", "Credential age (days)", &r.age_buckets));
    let overdue: Vec<(String, usize)> = r.providers.iter().map(|(p, s)| (p.clone(), s.overdue)).collect();
    h.push_str(&bars("overdue", "Overdue per provider", &overdue));
    h.push_str("</div><table><thead><tr>");
    for c in [
        "provider",
        "user",
        "kind",
        "key",
        "account",
        "owner",
        "age (days)",
        "last rotated",
        "last used",
        "heartbeat",
        "standing",
        "findings",
    ] {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr></thead><tbody>");
    let t =
        |d: Option<chrono::DateTime<chrono::Utc>>| d.map_or_else(|| "-".into(), |d| d.format("%Y-%m-%d").to_string());
    for x in &r.rows {
        let cells = [
            esc(&x.provider),
            esc(&x.user),
            esc(&x.kind),
            esc(x.key_id.as_deref().unwrap_or("-")),
            esc(x.account.as_deref().unwrap_or("-")),
            esc(x.owner.as_deref().unwrap_or("-")),
            x.age_days.map_or_else(|| "-".into(), |d| d.to_string()),
            t(x.last_rotated),
            t(x.last_used),
            esc(x.heartbeat.map_or("-", |h| h.as_str())),
            esc(x.standing.as_deref().unwrap_or("-")),
        ];
        h.push_str("<tr class=\"row\">");
        for c in cells {
            let _ = write!(h, "<td>{c}</td>");
        }
        let _ = write!(h, "<td class=\"f\">{}</td></tr>", esc(&spelled(&x.findings)));
    }
    h.push_str("</tbody></table></body></html>\n");
    h
}
