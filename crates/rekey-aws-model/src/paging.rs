//! Paging as IAM does it: moto answers a list call with every item whatever `MaxItems` and
//! `Marker` say, so the model cuts the answer to one page — at most `MaxItems` (IAM's default,
//! 100) and at most the configured page size — and adds `IsTruncated` and an opaque `Marker`
//! that the next request passes back. `GetAccountAuthorizationDetails` pages over its four lists
//! as one sequence, as IAM does.

use crate::xml;

/// The list calls the model pages, with the lists in their result.
const PAGED: &[(&str, &[&str])] = &[
    ("ListUsers", &["Users"]),
    ("ListAccessKeys", &["AccessKeyMetadata"]),
    ("ListUserTags", &["Tags"]),
    ("ListMFADevices", &["MFADevices"]),
    ("GetAccountAuthorizationDetails", &["UserDetailList", "GroupDetailList", "RoleDetailList", "Policies"]),
];

/// IAM's `MaxItems` when the request gives none.
const DEFAULT_MAX_ITEMS: usize = 100;

/// Whether the model pages `action`.
pub fn is_paged(action: &str) -> bool {
    PAGED.iter().any(|(a, _)| *a == action)
}

/// A marker the model did not hand out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMarker;

/// One page of a request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// `MaxItems`.
    pub max_items: Option<usize>,
    /// `Marker`.
    pub marker: Option<&'a str>,
    /// The model's page size.
    pub page_size: usize,
}

/// The page of moto's full answer `body` to `action` that `req` asks for, with whether more
/// follow; `None` when the answer is not a list the model knows how to page.
pub fn page(action: &str, body: &str, req: PageRequest<'_>) -> Option<Result<(String, bool), BadMarker>> {
    let lists = PAGED.iter().find(|(a, _)| *a == action)?.1;
    let root = xml::root(body)?;
    let result = xml::at(&body[root.inner.clone()], &[&format!("{action}Result")])?;
    let result_inner = root.inner.start + result.inner.start..root.inner.start + result.inner.end;
    let inner = &body[result_inner.clone()];
    let children = xml::children(inner);
    let items = items_of(inner, &children, lists);
    let start = match req.marker {
        None => 0,
        Some(m) => match decode_marker(m) {
            Some(s) if s <= items.len() => s,
            _ => return Some(Err(BadMarker)),
        },
    };
    let size = req.max_items.unwrap_or(DEFAULT_MAX_ITEMS).clamp(1, req.page_size.max(1));
    let end = (start + size).min(items.len());
    let truncated = end < items.len();
    let out = render(inner, &children, lists, &items[start..end], end, truncated);
    Some(Ok((format!("{}{out}{}", &body[..result_inner.start], &body[result_inner.end..]), truncated)))
}

/// Every member of the result's lists, in order, with the index of the list it belongs to.
fn items_of<'a>(inner: &'a str, children: &[xml::Element], lists: &[&str]) -> Vec<(usize, &'a str)> {
    let mut items = Vec::new();
    for (ci, c) in children.iter().enumerate().filter(|(_, c)| lists.contains(&c.name.as_str())) {
        let list = &inner[c.inner.clone()];
        items.extend(xml::children(list).into_iter().map(|m| (ci, &list[m.span])));
    }
    items
}

/// The result's content with its lists cut to `page` and the paging elements replaced.
fn render(
    inner: &str,
    children: &[xml::Element],
    lists: &[&str],
    page: &[(usize, &str)],
    next: usize,
    truncated: bool,
) -> String {
    let mut out = String::with_capacity(inner.len());
    for (ci, c) in children.iter().enumerate() {
        match c.name.as_str() {
            "IsTruncated" | "Marker" => {}
            name if lists.contains(&name) => {
                let members: String = page.iter().filter(|(i, _)| *i == ci).map(|(_, m)| *m).collect();
                if members.is_empty() {
                    out.push_str(&format!("<{name}/>"));
                } else {
                    out.push_str(&format!("<{name}>{members}</{name}>"));
                }
            }
            _ => out.push_str(&inner[c.span.clone()]),
        }
    }
    out.push_str(&format!("<IsTruncated>{truncated}</IsTruncated>"));
    if truncated {
        out.push_str(&format!("<Marker>{}</Marker>", encode_marker(next)));
    }
    out
}

/// Markers are opaque to clients; this one names the index of the next item.
fn encode_marker(next: usize) -> String {
    format!("rekey-model-page-{next:08x}")
}

fn decode_marker(marker: &str) -> Option<usize> {
    usize::from_str_radix(marker.strip_prefix("rekey-model-page-")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: usize) -> String {
        let members: String = (0..n)
            .map(|i| format!("<member><UserName>u{i}</UserName><Tags><member><Key>k</Key></member></Tags></member>"))
            .collect();
        format!(
            "<?xml version=\"1.0\"?><ListUsersResponse xmlns=\"x\"><ListUsersResult><Users>{members}</Users>\
             <IsTruncated>false</IsTruncated></ListUsersResult><ResponseMetadata><RequestId>r</RequestId>\
             </ResponseMetadata></ListUsersResponse>"
        )
    }

    fn names(body: &str) -> Vec<String> {
        body.split("<UserName>").skip(1).map(|s| s.split('<').next().unwrap().to_owned()).collect()
    }

    fn req(max_items: Option<usize>, marker: Option<&str>) -> PageRequest<'_> {
        PageRequest { max_items, marker, page_size: 2 }
    }

    #[test]
    fn pages_follow_each_other_to_the_end() {
        let full = users(5);
        let mut marker: Option<String> = None;
        let mut seen = Vec::new();
        let mut pages = 0;
        loop {
            let (body, truncated) = page("ListUsers", &full, req(None, marker.as_deref())).unwrap().unwrap();
            pages += 1;
            seen.extend(names(&body));
            assert_eq!(body.matches("<IsTruncated>").count(), 1, "{body}");
            assert!(body.ends_with("</ResponseMetadata></ListUsersResponse>"), "{body}");
            if !truncated {
                assert!(!body.contains("<Marker>"));
                break;
            }
            marker = xml::text(&body, "Marker");
        }
        assert_eq!(seen, ["u0", "u1", "u2", "u3", "u4"]);
        assert_eq!(pages, 3);
    }

    #[test]
    fn max_items_smaller_than_the_page_size_wins() {
        let (body, truncated) = page("ListUsers", &users(3), req(Some(1), None)).unwrap().unwrap();
        assert!(truncated);
        assert_eq!(names(&body), ["u0"]);
    }

    #[test]
    fn a_marker_the_model_did_not_make_is_refused() {
        assert_eq!(page("ListUsers", &users(3), req(None, Some("nonsense"))).unwrap(), Err(BadMarker));
        assert!(page("GetUser", &users(3), req(None, None)).is_none());
    }

    #[test]
    fn authorization_details_page_across_their_lists() {
        let body = "<GetAccountAuthorizationDetailsResponse><GetAccountAuthorizationDetailsResult>\
                    <UserDetailList><member><UserName>a</UserName></member></UserDetailList><GroupDetailList/>\
                    <RoleDetailList><member><RoleName>r1</RoleName></member><member><RoleName>r2</RoleName></member>\
                    </RoleDetailList><Policies/><IsTruncated>false</IsTruncated>\
                    </GetAccountAuthorizationDetailsResult></GetAccountAuthorizationDetailsResponse>";
        let action = "GetAccountAuthorizationDetails";
        let (first, truncated) = page(action, body, req(None, None)).unwrap().unwrap();
        assert!(truncated && first.contains("<UserName>a</UserName>") && first.contains("r1") && !first.contains("r2"));
        let marker = xml::text(&first, "Marker").unwrap();
        let (second, truncated) = page(action, body, req(None, Some(&marker))).unwrap().unwrap();
        assert!(!truncated && second.contains("r2") && second.contains("<UserDetailList/>"), "{second}");
    }
}
