//! IAM's quotas that moto does not enforce: 50 tags per user (moto checks only the tags of one
//! request), 6,144 characters per managed policy and 2,048 for all of a user's inline policies
//! together (IAM counts neither whitespace). To count a user's tags the model keeps a shadow of
//! them, learnt from what passes through it (`CreateUser`, `TagUser`, `UntagUser`, `DeleteUser`
//! and every answer that lists a user's tags); a user it has not seen yet is read once from
//! moto's state (`/moto-api/data.json`).

use crate::{request::Call, xml};
use std::collections::{HashMap, HashSet};

/// A quota a request would break: the error message IAM gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded(pub String);

/// What the model knows of users' tags and inline policies.
#[derive(Debug, Default)]
pub struct Shadow {
    /// Lower-cased tag keys by user name (IAM compares tag keys without case).
    tags: HashMap<String, HashSet<String>>,
    /// Inline policy sizes by user name and policy name.
    inline: HashMap<String, HashMap<String, usize>>,
}

/// Characters IAM counts in a policy document: all but whitespace.
pub fn policy_size(document: &str) -> usize {
    document.chars().filter(|c| !c.is_whitespace()).count()
}

impl Shadow {
    /// Whether the user's tags are known.
    pub fn knows(&self, user: &str) -> bool {
        self.tags.contains_key(user)
    }

    /// Replaces the shadow of every user with moto's state (the JSON of `/moto-api/data.json`).
    pub fn load_state(&mut self, state: &serde_json::Value) {
        for user in state["iam"]["User"].as_array().into_iter().flatten() {
            let Some(name) = user["name"].as_str() else { continue };
            let keys = user["tags"].as_array().into_iter().flatten().filter_map(|t| t["Key"].as_str());
            self.tags.insert(name.to_owned(), keys.map(str::to_lowercase).collect());
        }
    }

    /// Checks `call` against the quotas before it is forwarded.
    pub fn check(&self, call: &Call, q: &crate::config::Quotas) -> Result<(), Exceeded> {
        let user = call.param("UserName").unwrap_or_default();
        match call.action.as_deref() {
            Some("TagUser") => {
                let mut keys = self.tags.get(user).cloned().unwrap_or_default();
                keys.extend(call.list_param("Tags.member.", ".Key").iter().map(|k| k.to_lowercase()));
                if keys.len() > q.tags_per_user {
                    return Err(Exceeded(format!("Cannot exceed quota for TagsPerUser: {}", q.tags_per_user)));
                }
            }
            Some("CreatePolicy" | "CreatePolicyVersion") => {
                let size = policy_size(call.param("PolicyDocument").unwrap_or_default());
                if size > q.managed_policy {
                    return Err(Exceeded(format!("Cannot exceed quota for PolicySize: {}", q.managed_policy)));
                }
            }
            Some("PutUserPolicy") => {
                let name = call.param("PolicyName").unwrap_or_default();
                let others: usize =
                    self.inline.get(user).into_iter().flatten().filter(|(n, _)| *n != name).map(|(_, s)| s).sum();
                let size = others + policy_size(call.param("PolicyDocument").unwrap_or_default());
                if size > q.inline_user_policy {
                    return Err(Exceeded(format!(
                        "Maximum policy size of {} bytes exceeded for user {user}",
                        q.inline_user_policy
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Learns from a call moto answered with success (`body` is the full answer).
    pub fn learn(&mut self, call: &Call, body: &str) {
        let user = call.param("UserName").unwrap_or_default().to_owned();
        match call.action.as_deref() {
            Some("CreateUser") => {
                let keys = call.list_param("Tags.member.", ".Key").iter().map(|k| k.to_lowercase()).collect();
                self.tags.insert(user, keys);
            }
            Some("TagUser") => {
                let keys = call.list_param("Tags.member.", ".Key");
                self.tags.entry(user).or_default().extend(keys.iter().map(|k| k.to_lowercase()));
            }
            Some("UntagUser") => {
                let gone: HashSet<String> =
                    call.list_param("TagKeys.member.", "").iter().map(|k| k.to_lowercase()).collect();
                self.tags.entry(user).or_default().retain(|k| !gone.contains(k));
            }
            Some("DeleteUser") => {
                self.tags.remove(&user);
                self.inline.remove(&user);
            }
            Some("PutUserPolicy") => {
                let size = policy_size(call.param("PolicyDocument").unwrap_or_default());
                let name = call.param("PolicyName").unwrap_or_default().to_owned();
                self.inline.entry(user).or_default().insert(name, size);
            }
            Some("DeleteUserPolicy") => {
                let name = call.param("PolicyName").unwrap_or_default();
                self.inline.entry(user).or_default().remove(name);
            }
            Some("GetUser" | "ListUserTags" | "GetAccountAuthorizationDetails") => self.learn_listed(call, body),
            _ => {}
        }
    }

    /// Tags listed in an answer: `GetUser`'s user, `ListUserTags`' (of the request's user; moto
    /// answers with all of them) and each user of `GetAccountAuthorizationDetails`.
    fn learn_listed(&mut self, call: &Call, body: &str) {
        let keys_of = |xml_part: &str| -> HashSet<String> {
            let Some(tags) = xml::children(xml_part).into_iter().find(|e| e.name == "Tags") else {
                return HashSet::new();
            };
            let list = &xml_part[tags.inner];
            xml::children(list)
                .iter()
                .filter_map(|m| xml::text(&list[m.inner.clone()], "Key"))
                .map(|k| k.to_lowercase())
                .collect()
        };
        let action = call.action.as_deref().unwrap_or_default();
        let Some(root) = xml::root(body) else { return };
        let Some(result) = xml::at(&body[root.inner.clone()], &[&format!("{action}Result")]) else { return };
        let result = &body[root.inner.start + result.inner.start..root.inner.start + result.inner.end];
        match action {
            "GetUser" => {
                let Some(u) = xml::child(result, "User") else { return };
                let user = &result[u.inner];
                if let Some(name) = xml::text(user, "UserName") {
                    self.tags.insert(name, keys_of(user));
                }
            }
            "ListUserTags" => {
                let user = call.param("UserName").unwrap_or_default().to_owned();
                self.tags.insert(user, keys_of(result));
            }
            _ => {
                let Some(list) = xml::child(result, "UserDetailList") else { return };
                let list = &result[list.inner];
                for m in xml::children(list) {
                    let user = &list[m.inner];
                    if let Some(name) = xml::text(user, "UserName") {
                        self.tags.insert(name, keys_of(user));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;

    fn call(body: &str) -> Call {
        Call::parse(None, body.as_bytes())
    }

    fn tag(user: &str, keys: std::ops::Range<usize>) -> Call {
        let mut body = format!("Action=TagUser&UserName={user}");
        for (i, k) in keys.enumerate() {
            body.push_str(&format!("&Tags.member.{}.Key=k{k}&Tags.member.{}.Value=v", i + 1, i + 1));
        }
        call(&body)
    }

    #[test]
    fn the_fifty_first_tag_of_a_user_is_refused() {
        let q = ModelConfig::default().quotas;
        let mut s = Shadow::default();
        s.learn(&call("Action=CreateUser&UserName=u&Tags.member.1.Key=K0&Tags.member.1.Value=x"), "");
        let first = tag("u", 1..49);
        assert_eq!(s.check(&first, &q), Ok(()));
        s.learn(&first, "");
        assert_eq!(s.check(&tag("u", 0..1), &q), Ok(()), "k0 is K0 again: tag keys ignore case");
        assert!(s.check(&tag("u", 49..51), &q).is_err());
        s.learn(&call("Action=UntagUser&UserName=u&TagKeys.member.1=k1"), "");
        assert_eq!(s.check(&tag("u", 49..50), &q), Ok(()));
    }

    #[test]
    fn policy_sizes_do_not_count_whitespace() {
        let q = ModelConfig::default().quotas;
        let s = Shadow::default();
        let doc = |n: usize| format!("Action=CreatePolicy&PolicyDocument={}", "x ".repeat(n));
        assert_eq!(s.check(&call(&doc(6_144)), &q), Ok(()));
        assert!(s.check(&call(&doc(6_145)), &q).is_err());
    }

    #[test]
    fn inline_user_policies_count_together() {
        let q = ModelConfig::default().quotas;
        let mut s = Shadow::default();
        let put = |name: &str, n: usize| {
            call(&format!("Action=PutUserPolicy&UserName=u&PolicyName={name}&PolicyDocument={}", "x".repeat(n)))
        };
        s.learn(&put("a", 1_500), "");
        assert!(s.check(&put("b", 600), &q).is_err(), "1,500 + 600 > 2,048");
        assert_eq!(s.check(&put("a", 2_000), &q), Ok(()), "replacing a policy does not add to it");
    }

    #[test]
    fn tags_listed_in_answers_are_learnt() {
        let mut s = Shadow::default();
        let body = "<GetUserResponse><GetUserResult><User><UserName>u</UserName><Tags><member><Key>A</Key>\
                    <Value>1</Value></member></Tags></User></GetUserResult></GetUserResponse>";
        s.learn(&call("Action=GetUser&UserName=u"), body);
        assert!(s.knows("u"));
        assert_eq!(s.tags["u"], HashSet::from(["a".to_owned()]));
        let state = serde_json::json!({"iam": {"User": [{"name": "w", "tags": [{"Key": "B", "Value": "2"}]}]}});
        s.load_state(&state);
        assert_eq!(s.tags["w"], HashSet::from(["b".to_owned()]));
    }
}
