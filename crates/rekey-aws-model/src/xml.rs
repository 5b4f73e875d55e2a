//! Just enough XML for moto's answers: the elements directly inside a piece of XML (by depth,
//! so nested `<member>`s stay with their parent), and the text of a named element. moto writes
//! no comments, CDATA or processing instructions inside its documents.

use std::ops::Range;

/// One element directly inside the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Tag name.
    pub name: String,
    /// From its `<` to just after its closing `>`.
    pub span: Range<usize>,
    /// Its content (empty for `<x/>`).
    pub inner: Range<usize>,
}

/// The elements directly inside `xml` (offsets into `xml`), in order.
pub fn children(xml: &str) -> Vec<Element> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut open: Option<(String, usize, usize)> = None;
    let mut i = 0;
    while let Some(rel) = xml[i..].find('<') {
        let lt = i + rel;
        let Some(gt) = xml[lt..].find('>').map(|g| lt + g) else { break };
        let tag = &xml[lt + 1..gt];
        i = gt + 1;
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if tag.starts_with('/') {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                if let Some((name, start, inner_start)) = open.take() {
                    out.push(Element { name, span: start..i, inner: inner_start..lt });
                }
            }
            continue;
        }
        let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or_default().to_owned();
        let self_closing = tag.ends_with('/');
        match (depth, self_closing) {
            (0, true) => out.push(Element { name, span: lt..i, inner: i..i }),
            (0, false) => {
                open = Some((name, lt, i));
                depth = 1;
            }
            (_, true) => {}
            (_, false) => depth += 1,
        }
    }
    out
}

/// The element named `name` directly inside `xml`.
pub fn child(xml: &str, name: &str) -> Option<Element> {
    children(xml).into_iter().find(|e| e.name == name)
}

/// The element at `path` (each step a direct child of the previous), with offsets into `xml`.
pub fn at(xml: &str, path: &[&str]) -> Option<Element> {
    let mut base = 0;
    let mut found: Option<Element> = None;
    let mut scope = xml;
    for name in path {
        let mut e = child(scope, name)?;
        e.span = e.span.start + base..e.span.end + base;
        e.inner = e.inner.start + base..e.inner.end + base;
        base = e.inner.start;
        scope = &xml[e.inner.clone()];
        found = Some(e);
    }
    found
}

/// The unescaped text of the first `<tag>…</tag>` anywhere in `xml`.
pub fn text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(unescape(&xml[start..end]))
}

/// The document's root element (after any `<?xml …?>` declaration).
pub fn root(xml: &str) -> Option<Element> {
    children(xml).into_iter().next()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Escapes text for an element's content.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "<?xml version=\"1.0\"?><R xmlns=\"x\"><Res><Users><member><Name>a</Name><Tags><member>\
                       <Key>k&amp;1</Key></member></Tags></member><member><Name>b</Name></member></Users><Empty/>\
                       <IsTruncated>false</IsTruncated></Res></R>";

    #[test]
    fn finds_direct_children_by_depth() {
        let res = at(DOC, &["R", "Res"]).unwrap();
        let names: Vec<String> = children(&DOC[res.inner.clone()]).into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["Users", "Empty", "IsTruncated"]);
        let users = at(DOC, &["R", "Res", "Users"]).unwrap();
        let members = children(&DOC[users.inner.clone()]);
        assert_eq!(members.len(), 2, "the nested member stays inside the first user");
        assert_eq!(text(&DOC[users.inner.clone()], "Key").as_deref(), Some("k&1"));
        assert!(at(DOC, &["R", "Res", "Empty"]).unwrap().inner.is_empty());
        assert_eq!(root(DOC).unwrap().name, "R");
    }
}
