//! Output formatting: every command's result is a list of records (or one record) rendered as an
//! aligned table, JSON or CSV. JSON field names are part of the documented interface.

use crate::cli::Format;
use serde::Serialize;
use std::io::Write;

/// A record that can be shown as a table row.
pub trait Tabular: Serialize {
    /// Column headers.
    fn headers() -> Vec<&'static str>;
    /// Cells, in header order.
    fn cells(&self) -> Vec<String>;
}

/// Prints a list (JSON is streamed to standard output rather than built in memory first).
pub fn list<T: Tabular>(format: Format, items: &[T]) {
    match format {
        Format::Json => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            if serde_json::to_writer_pretty(&mut out, items).is_ok() {
                let _ = out.write_all(b"\n");
            }
            let _ = out.flush();
        }
        _ => emit(&render_list(format, items)),
    }
}

/// A list built record by record as it is read, rendered in memory: nothing is printed until
/// the whole list has been read, so a failure half-way reports an error rather than printing
/// half a list. JSON is appended record by record (no record is kept) and is byte for byte
/// what [`list`] prints; tables and CSV need every row for their layout and keep them.
#[derive(Debug)]
pub struct ListBuilder<T> {
    format: Format,
    json: Vec<u8>,
    count: usize,
    scratch: Vec<u8>,
    rows: Vec<T>,
    error: Option<serde_json::Error>,
}

impl<T: Tabular> ListBuilder<T> {
    pub fn new(format: Format) -> Self {
        Self { format, json: Vec::new(), count: 0, scratch: Vec::new(), rows: Vec::new(), error: None }
    }

    pub fn push(&mut self, item: T) {
        if self.format != Format::Json {
            self.rows.push(item);
            return;
        }
        // serde_json's pretty array: `[`, then each element on a new line indented one level.
        self.json.extend_from_slice(if self.count == 0 { b"[\n  " } else { b",\n  " });
        self.count += 1;
        self.scratch.clear();
        if let Err(e) = serde_json::to_writer_pretty(&mut self.scratch, &item) {
            self.error.get_or_insert(e);
            return;
        }
        // JSON strings escape their line breaks, so every `\n` here is one of the layout.
        let mut lines = self.scratch.split(|b| *b == b'\n');
        if let Some(first) = lines.next() {
            self.json.extend_from_slice(first);
        }
        for line in lines {
            self.json.extend_from_slice(b"\n  ");
            self.json.extend_from_slice(line);
        }
    }

    /// The rendered list.
    pub fn finish(mut self) -> Result<Vec<u8>, serde_json::Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        Ok(match (self.format, self.count) {
            (Format::Json, 0) => b"[]\n".to_vec(),
            (Format::Json, _) => {
                self.json.extend_from_slice(b"\n]\n");
                self.json
            }
            (format, _) => render_list(format, &self.rows).into_bytes(),
        })
    }
}

/// Renders a list.
pub fn render_list<T: Tabular>(format: Format, items: &[T]) -> String {
    match format {
        Format::Json => json(items),
        Format::Csv => csv(T::headers(), items.iter().map(Tabular::cells)),
        Format::Table => table(T::headers(), items.iter().map(Tabular::cells)),
    }
}

/// Prints one record (vertically as a table).
pub fn one<T: Tabular>(format: Format, item: &T) {
    match format {
        Format::Table => detail(format, item, T::headers().into_iter().zip(item.cells()).collect()),
        _ => detail(format, item, Vec::new()),
    }
}

/// Prints one record: in a table as the `label  value` lines `rows` (which may say more than a
/// list's columns: an account's settings, a provider's role), in JSON and CSV as the record.
pub fn detail<T: Tabular>(format: Format, item: &T, rows: Vec<(&str, String)>) {
    let text = match format {
        Format::Json => json(item),
        Format::Csv => csv(T::headers(), std::iter::once(item.cells())),
        Format::Table => vertical(&rows, WIDTH.get().copied().flatten()),
    };
    emit(&text);
}

/// `label  value` lines, values cut to what `max` leaves of a line.
fn vertical(rows: &[(&str, String)], max: Option<usize>) -> String {
    let width = rows.iter().map(|(h, _)| h.chars().count()).max().unwrap_or(0);
    let room = max.map(|w| w.saturating_sub(width + 2).max(20));
    let shown = |c: &str| {
        let c = readable_time(c.to_owned());
        room.map_or_else(|| c.clone(), |r| cut(&c, r))
    };
    rows.iter().map(|(h, c)| format!("{h:<width$}  {}\n", shown(c))).collect()
}

/// Prints any serialisable value as JSON (for records that have no table form).
pub fn json_out<T: Serialize + ?Sized>(value: &T) {
    emit(&json(value));
}

pub fn emit(text: &str) {
    emit_bytes(text.as_bytes());
}

pub fn emit_bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (e.g. `| head`) is not an error worth reporting.
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

pub fn json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// The width tables must fit, when they must fit one: set once by `main` (the terminal's width
/// when standard output is one and `--wide` was not given).
static WIDTH: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();

/// Fits tables to the terminal: `COLUMNS` if set, else the terminal's own width; nothing when
/// standard output is not a terminal (a pipe or file gets whole lines) or with `--wide`.
pub fn fit_tables(wide: bool) {
    use std::io::IsTerminal;
    let width = (!wide && std::io::stdout().is_terminal())
        .then(|| {
            let columns = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok());
            columns.or_else(|| terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)))
        })
        .flatten();
    let _ = WIDTH.set(width.filter(|w| *w >= 20));
}

/// Narrows the widest columns, one character at a time, until the row fits `max` (a column
/// keeps at least its header and 8 characters).
fn fit(widths: &mut [usize], headers: &[&str], max: usize) {
    let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
    while total(widths) > max {
        let floor = |i: usize| headers[i].len().max(8);
        let Some(i) = (0..widths.len()).filter(|&i| widths[i] > floor(i)).max_by_key(|&i| widths[i]) else {
            return;
        };
        widths[i] -= 1;
    }
}

/// A cell cut to `width` characters, its end marked with `…`.
fn cut(cell: &str, width: usize) -> String {
    if cell.chars().count() <= width {
        return cell.to_owned();
    }
    let mut s: String = cell.chars().take(width.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// A timestamp cell for people: `2026-11-24 08:06 UTC` (JSON and CSV keep RFC 3339).
fn readable_time(cell: String) -> String {
    match chrono::DateTime::parse_from_rfc3339(&cell) {
        // Only a timestamp [`time`] wrote: a title that happens to parse is left alone.
        Ok(t) if time(t.to_utc()) == cell => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        _ => cell,
    }
}

fn table(headers: Vec<&str>, rows: impl Iterator<Item = Vec<String>>) -> String {
    table_within(headers, rows, WIDTH.get().copied().flatten())
}

fn table_within(headers: Vec<&str>, rows: impl Iterator<Item = Vec<String>>, max: Option<usize>) -> String {
    let rows: Vec<Vec<String>> = rows.map(|r| r.into_iter().map(readable_time).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    if let Some(max) = max {
        fit(&mut widths, &headers, max);
    }
    let line = |cells: Vec<String>| {
        let mut l =
            cells.iter().zip(&widths).map(|(c, w)| format!("{:<w$}", cut(c, *w))).collect::<Vec<_>>().join("  ");
        l.truncate(l.trim_end().len());
        l + "\n"
    };
    let mut out = line(headers.iter().map(|h| h.to_uppercase()).collect());
    for r in rows {
        out += &line(r);
    }
    out
}

/// Whether a spreadsheet would read a cell as a formula (OWASP's CSV injection list).
fn formula_like(f: &str) -> bool {
    f.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

fn csv(headers: Vec<&str>, rows: impl Iterator<Item = Vec<String>>) -> String {
    let field = |f: &str| {
        if f == "-" {
            // Tables show a missing value as "-"; in CSV it is an empty field.
            String::new()
        } else if formula_like(f) {
            // A title such as `=HYPERLINK(…)` must stay text when the file is opened in a
            // spreadsheet: a leading apostrophe makes it one, and the field is quoted.
            format!("\"'{}\"", f.replace('"', "\"\""))
        } else if f.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", f.replace('"', "\"\""))
        } else {
            f.to_owned()
        }
    };
    let mut out = headers.iter().map(|h| field(h)).collect::<Vec<_>>().join(",") + "\n";
    for r in rows {
        out += &(r.iter().map(|c| field(c)).collect::<Vec<_>>().join(",") + "\n");
    }
    out
}

/// An optional value as a cell.
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

/// A timestamp as a cell: RFC 3339 with milliseconds, as every record's JSON has it
/// ([`rekey_domain::timestamp`]); tables show it as `2026-11-24 08:06 UTC`.
pub fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    rekey_domain::timestamp::rfc3339(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_fields_that_need_it() {
        let out = csv(vec!["a", "b"], std::iter::once(vec!["x,y".into(), "say \"hi\"".into()]));
        assert_eq!(out, "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n");
    }

    #[test]
    fn csv_neutralises_formulas() {
        let cells = ["=HYPERLINK(\"http://x\",\"y\")", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\r=1", "ok", "-"];
        let out = csv(vec!["a"; 8], std::iter::once(cells.iter().map(|c| c.to_string()).collect()));
        let row = out.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\"'+1+2\",\"'-2+3\",\"'@SUM(A1)\",\"'\tx\",\"'\r=1\",ok,"
        );
    }

    #[test]
    fn table_aligns_columns() {
        let out = table(
            vec!["id", "name"],
            vec![vec!["1".into(), "alice".into()], vec!["22".into(), "b".into()]].into_iter(),
        );
        assert_eq!(out, "ID  NAME\n1   alice\n22  b\n");
    }

    #[test]
    fn tables_fit_the_width_they_are_given_and_times_read_as_minutes() {
        let long = "x".repeat(300);
        let rows = vec![vec!["2026-11-24T08:06:59.000Z".to_owned(), long.clone(), "ok".to_owned()]];
        let whole = table_within(vec!["at", "detail", "outcome"], rows.clone().into_iter(), None);
        assert!(whole.contains("2026-11-24 08:06 UTC") && whole.contains(&long), "{whole}");
        let fitted = table_within(vec!["at", "detail", "outcome"], rows.into_iter(), Some(80));
        assert!(fitted.lines().all(|l| l.chars().count() <= 80), "{fitted}");
        assert!(fitted.contains('…') && fitted.contains("2026-11-24 08:06 UTC") && fitted.contains("ok"), "{fitted}");
        assert_eq!(readable_time("2026-11-24T08:06:59.5Z".into()), "2026-11-24T08:06:59.5Z", "not one of ours");
    }

    #[derive(Serialize)]
    struct Rec {
        name: String,
        nested: serde_json::Value,
        empty: Vec<u8>,
    }

    impl Tabular for Rec {
        fn headers() -> Vec<&'static str> {
            vec!["name"]
        }
        fn cells(&self) -> Vec<String> {
            vec![self.name.clone()]
        }
    }

    fn recs(n: usize) -> Vec<Rec> {
        (0..n)
            .map(|i| Rec {
                name: format!("line\nbreak \"{i}\""),
                nested: serde_json::json!({"a": [1, {"b": "c\n"}], "d": {}, "e": []}),
                empty: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn list_builder_renders_what_list_prints() {
        for n in [0, 1, 3] {
            for format in [Format::Json, Format::Table, Format::Csv] {
                let mut b = ListBuilder::new(format);
                recs(n).into_iter().for_each(|r| b.push(r));
                let expected = match format {
                    Format::Json => serde_json::to_string_pretty(&recs(n)).unwrap() + "\n",
                    _ => render_list(format, &recs(n)),
                };
                assert_eq!(String::from_utf8(b.finish().unwrap()).unwrap(), expected, "{n} records as {format:?}");
            }
        }
    }
}
