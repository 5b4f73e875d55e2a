//! `rekey report`: the compliance report as a table, JSON, CSV or one self-contained HTML file.

use crate::{
    cli::{Format, Global, ReportArgs, ReportFormat},
    cmd::report_html,
    context,
    output::{self, opt, time, Tabular},
};
use rekey_engine::{
    report::{ReportOptions, Row},
    Error, Result,
};
use serde::Serialize;

pub async fn run(global: &Global, format: Format, a: ReportArgs) -> Result<()> {
    let opts = ReportOptions {
        max_age: chrono::Duration::milliseconds(a.max_age.ms_i64()),
        unused: chrono::Duration::milliseconds(a.unused.ms_i64()),
    };
    let html = a.format == Some(ReportFormat::Html);
    let format = match a.format {
        Some(ReportFormat::Output(f)) => f,
        _ => format,
    };
    let engine = context::engine(global).await?;
    let providers = match a.provider {
        Some(p) => vec![engine.provider(&p).await?.name],
        None => engine.providers().await?.into_iter().map(|p| p.name).collect(),
    };
    let tags = rekey_engine::discover::Tags { exempt: a.exempt_tag, owner: a.owner_tag };
    let report = engine.compliance(&providers, &opts, &tags).await?;
    let text = if html {
        report_html::render(&report)
    } else if format == Format::Json {
        output::json(&report)
    } else {
        output::render_list(format, &report.rows.iter().map(RowView).collect::<Vec<_>>())
    };
    match &a.out {
        Some(path) => rekey_engine::private_file::write(path, text.as_bytes()).map_err(|e| {
            let hint = if e.is_refusal() { e.hint() } else { "choose a writable --out path".into() };
            Error::usage(format!("cannot write {}: {e}", path.display()), hint)
        })?,
        None => output::emit(&text),
    }
    let with_findings = report.rows.iter().filter(|r| !r.findings.is_empty()).count();
    errln!(
        "{} credential(s), {with_findings} with findings: {}",
        report.rows.len(),
        report.findings.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    );
    if with_findings > 0 {
        return Err(Error::Findings(format!("{with_findings} credential(s) have findings")));
    }
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct RowView<'a>(&'a Row);

impl Tabular for RowView<'_> {
    fn headers() -> Vec<&'static str> {
        vec![
            "provider",
            "user",
            "kind",
            "key_id",
            "account",
            "owner",
            "age_days",
            "last_rotated",
            "last_used",
            "heartbeat",
            "standing",
            "findings",
        ]
    }
    fn cells(&self) -> Vec<String> {
        let r = self.0;
        vec![
            r.provider.clone(),
            r.user.clone(),
            r.kind.clone(),
            opt(r.key_id.clone()),
            opt(r.account.clone()),
            opt(r.owner.clone()),
            opt(r.age_days),
            opt(r.last_rotated.map(time)),
            opt(r.last_used.map(time)),
            opt(r.heartbeat),
            opt(r.standing.clone()),
            if r.findings.is_empty() { "-".into() } else { super::report_html::spelled(&r.findings) },
        ]
    }
}
