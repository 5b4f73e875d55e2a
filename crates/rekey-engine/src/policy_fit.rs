//! Fitting the least-privilege policy into IAM's size limits: a managed policy holds at most
//! 6,144 characters, all of a user's inline policies together 2,048 (a group's 5,120, a role's
//! 10,240); IAM does not count whitespace. Listing every managed user's ARN stops fitting at a
//! hundred or so users, so the users' statement can instead be scoped by user path (per AWS
//! account, the longest path the users share) or by a resource tag the operator puts on them;
//! or the ARNs are split over several documents (managed policies: a principal may attach
//! several). Each document is checked against the limit; one near or over it is warned about.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The kind of policy the document is for, which sets its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// A customer-managed policy: 6,144 characters.
    Managed,
    /// A user's inline policies together: 2,048.
    UserInline,
    /// A group's inline policies together: 5,120.
    GroupInline,
    /// A role's inline policies together: 10,240.
    RoleInline,
}

impl PolicyKind {
    /// IAM's limit, characters without whitespace.
    pub fn limit(self) -> usize {
        match self {
            Self::Managed => 6_144,
            Self::UserInline => 2_048,
            Self::GroupInline => 5_120,
            Self::RoleInline => 10_240,
        }
    }

    /// The name used by `--fit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Managed => "managed",
            Self::UserInline => "user-inline",
            Self::GroupInline => "group-inline",
            Self::RoleInline => "role-inline",
        }
    }
}

impl std::str::FromStr for PolicyKind {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "managed" => Ok(Self::Managed),
            "user-inline" => Ok(Self::UserInline),
            "group-inline" => Ok(Self::GroupInline),
            "role-inline" => Ok(Self::RoleInline),
            other => Err(crate::Error::usage(
                format!("unknown policy kind {other:?}"),
                "use managed, user-inline, group-inline or role-inline",
            )),
        }
    }
}

/// How the users' statement names the users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Their ARNs if the document fits, else their path.
    Auto,
    /// Every user's ARN.
    Arns,
    /// Per AWS account, the longest user path the users share (`user/ops/*`).
    Path,
    /// Every user of their accounts that carries this tag (`aws:ResourceTag/KEY` = VALUE).
    Tag(String, String),
}

impl std::str::FromStr for Scope {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "arns" => Ok(Self::Arns),
            "path" => Ok(Self::Path),
            other => match other.strip_prefix("tag:").and_then(|kv| kv.split_once('=')) {
                Some((k, v)) if !k.is_empty() => Ok(Self::Tag(k.to_owned(), v.to_owned())),
                _ => Err(crate::Error::usage(
                    format!("unknown scope {other:?}"),
                    "use auto, arns, path or tag:KEY=VALUE (users carrying that tag)",
                )),
            },
        }
    }
}

/// IAM's count of a document: its characters, whitespace left out.
pub fn size(doc: &Value) -> usize {
    doc.to_string().chars().filter(|c| !c.is_whitespace()).count()
}

/// The policy's parts: the users' statement (without its resources) and the other statements.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Actions on the managed users.
    pub on_users: Vec<&'static str>,
    /// The managed users' ARNs (`arn:aws:iam::*:user/*` when any user).
    pub users: Vec<String>,
    /// The other statements (account-wide actions, delivery), in the first document.
    pub rest: Vec<Value>,
}

/// The documents, how the users were named, and warnings about sizes.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// One document, or several when split.
    pub documents: Vec<Value>,
    /// `arns`, `path` or `tag`.
    pub scope: &'static str,
    /// What the operator should know (a document near or over the limit, a broadened scope).
    pub warnings: Vec<String>,
}

fn users_statement(actions: &[&str], resources: Vec<String>, condition: Option<Value>) -> Value {
    let mut st = json!({ "Sid": "RekeyManagedUsers", "Effect": "Allow", "Action": actions, "Resource": resources });
    if let Some(c) = condition {
        st["Condition"] = c;
    }
    st
}

fn document(statements: Vec<Value>) -> Value {
    json!({ "Version": "2012-10-17", "Statement": statements })
}

/// `(account, path)` of a user ARN `arn:aws:iam::ACCOUNT:user/PATH/NAME` (path `/` for none).
fn account_and_path(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, _service, _region, account, resource) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let within = resource.strip_prefix("user")?;
    let path = within.rsplit_once('/').map_or("/", |(p, _)| p);
    let path = if path.is_empty() { "/".to_owned() } else { format!("{path}/") };
    Some((account.to_owned(), path))
}

/// Per account, a resource covering the users: the longest path (whole segments) they share.
fn by_path(users: &[String]) -> Vec<String> {
    let mut shared: BTreeMap<String, String> = BTreeMap::new();
    let mut opaque = Vec::new();
    for arn in users {
        let Some((account, path)) = account_and_path(arn) else {
            opaque.push(arn.clone());
            continue;
        };
        shared
            .entry(account)
            .and_modify(|p| {
                while !path.starts_with(p.as_str()) {
                    let trimmed = p.trim_end_matches('/');
                    *p = trimmed.rsplit_once('/').map_or("/".to_owned(), |(head, _)| format!("{head}/"));
                }
            })
            .or_insert(path);
    }
    let prefix = |arn: &String| arn.split(":user").next().unwrap_or("arn:aws:iam::*").to_owned();
    let heads: BTreeMap<String, String> =
        users.iter().filter_map(|a| Some((account_and_path(a)?.0, prefix(a)))).collect();
    let mut out: Vec<String> = shared
        .iter()
        .map(|(account, path)| format!("{}:user{path}*", heads.get(account).cloned().unwrap_or_default()))
        .collect();
    out.extend(opaque);
    out
}

/// Per account, every user (for a tag condition).
fn every_user(users: &[String]) -> Vec<String> {
    let mut out: Vec<String> =
        users.iter().map(|a| format!("{}:user/*", a.split(":user").next().unwrap_or("arn:aws:iam::*"))).collect();
    out.sort();
    out.dedup();
    out
}

/// Builds the documents for `parts` under `kind`'s limit.
pub fn fit(parts: &Parts, kind: PolicyKind, scope: &Scope, split: bool) -> Fitted {
    let limit = kind.limit();
    let one = |resources: Vec<String>, condition: Option<Value>| {
        let mut statements = vec![users_statement(&parts.on_users, resources, condition)];
        statements.extend(parts.rest.iter().cloned());
        document(statements)
    };
    let arns = one(parts.users.clone(), None);
    let mut warnings = Vec::new();
    let (documents, named) = match scope {
        Scope::Arns if split => (split_arns(parts, limit), "arns"),
        Scope::Arns => (vec![arns], "arns"),
        Scope::Path => (vec![one(by_path(&parts.users), None)], "path"),
        Scope::Tag(k, v) => {
            let condition = json!({ "StringEquals": { format!("aws:ResourceTag/{k}"): v } });
            (vec![one(every_user(&parts.users), Some(condition))], "tag")
        }
        Scope::Auto if size(&arns) <= limit => (vec![arns], "arns"),
        Scope::Auto if split => (split_arns(parts, limit), "arns"),
        Scope::Auto => {
            warnings.push(format!(
                "listing the {} managed users' ARNs takes {} characters, over the {limit} of a {} policy: the users \
                 are named by their path instead (or pass --split for several documents naming each user, or \
                 --scope tag:KEY=VALUE for users carrying a tag)",
                parts.users.len(),
                size(&arns),
                kind.as_str()
            ));
            (vec![one(by_path(&parts.users), None)], "path")
        }
    };
    let every_user_of_an_account = |d: &Value| {
        d["Statement"][0]["Resource"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r.as_str().is_some_and(|r| r.ends_with(":user/*"))))
    };
    if named == "path" && documents.iter().any(every_user_of_an_account) {
        warnings.push(
            "the managed users share no path below /: the policy covers every user of their accounts (give them \
             a common path, or use --scope tag:KEY=VALUE)"
                .into(),
        );
    }
    for (i, d) in documents.iter().enumerate() {
        let n = size(d);
        let which = if documents.len() > 1 { format!("document {} is", i + 1) } else { "the policy is".into() };
        if n > limit {
            warnings.push(format!(
                "{which} {n} characters, over IAM's limit of {limit} for a {} policy: IAM will refuse it",
                kind.as_str()
            ));
        } else if n * 10 >= limit * 9 {
            warnings
                .push(format!("{which} {n} characters, near IAM's limit of {limit} for a {} policy", kind.as_str()));
        }
    }
    Fitted { documents, scope: named, warnings }
}

/// The ARNs spread over as few documents as fit; the first also holds the other statements.
fn split_arns(parts: &Parts, limit: usize) -> Vec<Value> {
    let mut documents = Vec::new();
    let mut chunk: Vec<String> = Vec::new();
    let build = |chunk: &[String], first: bool| {
        let mut statements = vec![users_statement(&parts.on_users, chunk.to_vec(), None)];
        if first {
            statements.extend(parts.rest.iter().cloned());
        }
        document(statements)
    };
    for arn in &parts.users {
        chunk.push(arn.clone());
        if chunk.len() > 1 && size(&build(&chunk, documents.is_empty())) > limit {
            let last = chunk.pop().unwrap_or_default();
            documents.push(build(&chunk, documents.is_empty()));
            chunk = vec![last];
        }
    }
    documents.push(build(&chunk, documents.is_empty()));
    documents
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(n: usize, path: &str) -> Parts {
        Parts {
            on_users: vec!["iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:GetUser", "iam:ListAccessKeys"],
            users: (0..n).map(|i| format!("arn:aws:iam::123456789012:user{path}service-account-{i:04}")).collect(),
            rest: vec![
                json!({ "Sid": "RekeyAccountWide", "Effect": "Allow", "Action": ["iam:GetAccountPasswordPolicy"], "Resource": "*" }),
            ],
        }
    }

    #[test]
    fn arns_while_they_fit_then_the_shared_path() {
        let small = fit(&parts(5, "/ops/"), PolicyKind::Managed, &Scope::Auto, false);
        assert_eq!((small.scope, small.documents.len()), ("arns", 1));
        assert!(small.warnings.is_empty(), "{:?}", small.warnings);
        let big = fit(&parts(300, "/ops/team/"), PolicyKind::Managed, &Scope::Auto, false);
        assert_eq!(big.scope, "path");
        assert_eq!(big.documents[0]["Statement"][0]["Resource"], json!(["arn:aws:iam::123456789012:user/ops/team/*"]));
        assert!(size(&big.documents[0]) <= 6_144);
        assert!(
            big.warnings[0].contains("300 managed users") && big.warnings[0].contains("over the 6144"),
            "{:?}",
            big.warnings
        );
    }

    #[test]
    fn split_documents_each_fit_and_name_every_user_once() {
        let p = parts(300, "/");
        let f = fit(&p, PolicyKind::Managed, &Scope::Arns, true);
        assert!(f.documents.len() > 1);
        assert!(f.documents.iter().all(|d| size(d) <= 6_144), "every document fits");
        let named: Vec<&str> = f
            .documents
            .iter()
            .flat_map(|d| d["Statement"][0]["Resource"].as_array().into_iter().flatten().filter_map(Value::as_str))
            .collect();
        assert_eq!(named.len(), 300);
        assert_eq!(f.documents.iter().filter(|d| d["Statement"].as_array().map_or(0, Vec::len) == 2).count(), 1);
    }

    #[test]
    fn sizes_over_or_near_the_limit_are_warned_with_the_size() {
        let f = fit(&parts(60, "/"), PolicyKind::UserInline, &Scope::Arns, false);
        let n = size(&f.documents[0]);
        assert!(n > 2_048);
        assert!(
            f.warnings.iter().any(|w| w.contains(&format!("{n} characters, over IAM's limit of 2048"))),
            "{:?}",
            f.warnings
        );
        let tag = fit(&parts(60, "/"), PolicyKind::UserInline, &"tag:team=ops".parse().unwrap_or(Scope::Auto), false);
        assert_eq!(tag.documents[0]["Statement"][0]["Condition"]["StringEquals"]["aws:ResourceTag/team"], "ops");
        assert_eq!(tag.documents[0]["Statement"][0]["Resource"], json!(["arn:aws:iam::123456789012:user/*"]));
    }

    #[test]
    fn paths_are_shared_by_whole_segments() {
        let users = vec![
            "arn:aws:iam::1:user/ops/a/x".to_owned(),
            "arn:aws:iam::1:user/ops/ab/y".to_owned(),
            "arn:aws:iam::2:user/z".to_owned(),
        ];
        assert_eq!(by_path(&users), vec!["arn:aws:iam::1:user/ops/*", "arn:aws:iam::2:user/*"]);
        assert_eq!(size(&json!({"a": "b c"})), 10);
    }
}
