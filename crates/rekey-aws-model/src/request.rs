//! What a request asks for, read without changing a byte of it (moto checks the SigV4 signature,
//! which covers the body): the service and access key from the `Authorization` header's
//! credential scope, and the action and parameters from the form-encoded body (IAM and STS speak
//! the query protocol).

/// The services the model acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// IAM.
    Iam,
    /// STS.
    Sts,
    /// Anything else (passed through untouched).
    Other,
}

/// One call.
#[derive(Debug, Clone)]
pub struct Call {
    /// Which service.
    pub service: Service,
    /// The access key that signed it.
    pub key_id: Option<String>,
    /// `Action=…`.
    pub action: Option<String>,
    /// Every form parameter, decoded.
    pub params: Vec<(String, String)>,
}

impl Call {
    /// Reads a request's `Authorization` header and body.
    pub fn parse(authorization: Option<&str>, body: &[u8]) -> Self {
        let (key_id, scope_service) = authorization.and_then(credential_scope).unzip();
        let params: Vec<(String, String)> =
            form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let action = params.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.clone());
        let service = match scope_service.as_deref() {
            Some("iam") => Service::Iam,
            Some("sts") => Service::Sts,
            _ => Service::Other,
        };
        Self { service, key_id, action, params }
    }

    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The values of a list parameter (`Tags.member.1.Key`, … for `prefix` `Tags.member.` and
    /// `suffix` `.Key`; `TagKeys.member.1`, … with an empty suffix), in index order.
    pub fn list_param(&self, prefix: &str, suffix: &str) -> Vec<String> {
        let mut items: Vec<(u32, String)> = self
            .params
            .iter()
            .filter_map(|(k, v)| {
                let index = k.strip_prefix(prefix)?.strip_suffix(suffix)?;
                Some((index.parse().ok()?, v.clone()))
            })
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Whether the action changes something (IAM's second bucket counts these).
    pub fn is_mutating(&self) -> bool {
        let action = self.action.as_deref().unwrap_or_default();
        const READS: [&str; 4] = ["Get", "List", "Simulate", "Generate"];
        !READS.iter().any(|p| action.starts_with(p))
    }
}

/// `(access key, service)` of `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, …`.
fn credential_scope(authorization: &str) -> Option<(String, String)> {
    let scope = authorization.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    let key = parts.next()?.to_owned();
    let service = parts.nth(2)?.to_owned();
    Some((key, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261124/us-east-1/iam/aws4_request, \
                        SignedHeaders=content-type;host;x-amz-date, Signature=abc";

    #[test]
    fn reads_service_key_action_and_parameters() {
        let body = b"Action=TagUser&Version=2010-05-08&UserName=svc&Tags.member.2.Key=b&Tags.member.1.Key=a%2Fx\
                     &Tags.member.1.Value=1&Tags.member.2.Value=2";
        let call = Call::parse(Some(AUTH), body);
        assert_eq!(call.service, Service::Iam);
        assert_eq!(call.key_id.as_deref(), Some("AKIAEXAMPLE"));
        assert_eq!(call.action.as_deref(), Some("TagUser"));
        assert_eq!(call.param("UserName"), Some("svc"));
        assert_eq!(call.list_param("Tags.member.", ".Key"), ["a/x", "b"]);
        assert!(call.is_mutating());
    }

    #[test]
    fn reads_are_not_mutating_and_unsigned_calls_have_no_service() {
        let call = Call::parse(None, b"Action=GetAccountAuthorizationDetails");
        assert_eq!(call.service, Service::Other);
        assert!(!call.is_mutating());
        let sts = AUTH.replace("/iam/", "/sts/");
        assert_eq!(Call::parse(Some(&sts), b"Action=GetCallerIdentity").service, Service::Sts);
    }
}
