//! The answers the model gives itself, in IAM's and STS's error shape (the query protocol's
//! `ErrorResponse` XML), and what it counts about the traffic (`/model/stats`).

use crate::request::Service;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use std::collections::BTreeMap;

/// An error answer: status, code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: StatusCode,
    /// AWS error code.
    pub code: &'static str,
    /// The `Message` element of the error answer, as AWS words it.
    pub message: String,
}

impl Refusal {
    /// `Throttling`, HTTP 400, as IAM and STS send it.
    pub fn throttling() -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "Throttling", message: "Rate exceeded".into() }
    }

    /// A key that does not (yet) exist where the request landed: 403 `InvalidClientTokenId`.
    pub fn invalid_token() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "InvalidClientTokenId",
            message: "The security token included in the request is invalid.".into(),
        }
    }

    /// An IAM quota: 409 `LimitExceeded`.
    pub fn limit(message: String) -> Self {
        Self { status: StatusCode::CONFLICT, code: "LimitExceeded", message }
    }

    /// A malformed request: 400 `ValidationError`.
    pub fn validation(message: &str) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "ValidationError", message: message.into() }
    }

    /// The answer in `service`'s XML.
    pub fn response(&self, service: Service, request_id: u64) -> Response<Full<Bytes>> {
        let ns = match service {
            Service::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
            _ => "https://iam.amazonaws.com/doc/2010-05-08/",
        };
        let body = format!(
            "<ErrorResponse xmlns=\"{ns}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error>\
             <RequestId>{}</RequestId></ErrorResponse>",
            self.code,
            crate::xml::escape(&self.message),
            request_id_text(request_id)
        );
        let mut resp = Response::new(Full::new(Bytes::from(body)));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        headers.insert("content-type", hyper::header::HeaderValue::from_static("text/xml"));
        if let Ok(v) = request_id_text(request_id).parse() {
            headers.insert("x-amzn-requestid", v);
        }
        resp
    }
}

fn request_id_text(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// What the model saw and did, since it started (or since moto was reset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests by action (`METHOD PATH` when there is none).
    pub requests: BTreeMap<String, u64>,
    /// Throttled requests by bucket: `iam`, `iam-mutating`, `sts`.
    pub throttled: BTreeMap<String, u64>,
    /// Throttled requests by action.
    pub throttled_actions: BTreeMap<String, u64>,
    /// Requests rejected because their key had not propagated yet.
    pub not_yet_propagated: u64,
    /// Requests rejected within a key's flapping window.
    pub flapped: u64,
    /// List answers cut into a page that has a next one.
    pub truncated_pages: u64,
    /// Paged list requests that asked for a page after the first (carried a marker).
    pub marker_requests: u64,
    /// Requests refused by a quota, by action.
    pub quota_refusals: BTreeMap<String, u64>,
}

impl Stats {
    /// The counts as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "throttled": self.throttled,
            "throttled_actions": self.throttled_actions,
            "not_yet_propagated": self.not_yet_propagated,
            "flapped": self.flapped,
            "truncated_pages": self.truncated_pages,
            "marker_requests": self.marker_requests,
            "quota_refusals": self.quota_refusals,
        })
    }

    /// All throttled requests.
    pub fn throttled_total(&self) -> u64 {
        self.throttled.values().sum()
    }
}
