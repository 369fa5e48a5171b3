//! Errors as RFC 9457 problem details (`application/problem+json`), each with the machine-
//! readable `code` a filing system acts on: the ledger's rule codes (SPEC.md §11.4) when the
//! ledger refused, the gateway's own otherwise (the OpenAPI document lists them).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use evidence_client::ClientError;
use serde_json::{Map, Value, json};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One problem: an HTTP status, a code, a title for people and the details of this case.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: String,
    pub title: String,
    pub detail: String,
    /// Extension members (RFC 9457 §3.2), e.g. the receipts of a batch that was partly
    /// notarized.
    pub extensions: Map<String, Value>,
    /// Seconds a client should wait before trying again, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: impl Into<String>,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            title: title.into(),
            detail: detail.into(),
            extensions: Map::new(),
            retry_after: None,
        }
    }

    /// A request the gateway cannot read or that breaks its rules (never reached the ledger).
    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            code,
            "The request is not valid",
            detail,
        )
    }

    pub fn not_found(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not found", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "gateway-failure",
            "The gateway failed",
            detail,
        )
    }

    #[must_use]
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    /// The problem's JSON body.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert(
            "type".into(),
            json!(format!("urn:evidence-ledger:problem:{}", self.code)),
        );
        body.insert("title".into(), json!(self.title));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        body.insert("code".into(), json!(self.code));
        for (name, value) in &self.extensions {
            body.insert(name.clone(), value.clone());
        }
        Value::Object(body)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ClientError> for Problem {
    fn from(error: ClientError) -> Self {
        use tonic::Code;
        let detail = error.to_string();
        let transient = error.is_transient();
        match error {
            ClientError::Refused(refusal) => {
                let status = match refusal.code {
                    Code::NotFound => StatusCode::NOT_FOUND,
                    Code::PermissionDenied | Code::Unauthenticated => StatusCode::FORBIDDEN,
                    // (A busy node is `ClientError::Busy`, below, not a refusal.)
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                Self::new(
                    status,
                    refusal.reason,
                    "The ledger refused the request",
                    refusal.message,
                )
            }
            ClientError::Busy { .. } => {
                let mut problem = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "The ledger is busy",
                    detail,
                );
                problem.retry_after = Some(1);
                problem
            }
            ClientError::NotCommitted { tx_id } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "deadline-exceeded",
                "Accepted but not committed in time",
                detail,
            )
            .with("transaction_id", json!(tx_id.to_string())),
            ClientError::Timeout(_) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "The node did not answer in time",
                detail,
            ),
            ClientError::Connect { .. } => {
                let mut problem = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "node-unreachable",
                    "The node cannot be reached",
                    detail,
                );
                problem.retry_after = Some(1);
                problem
            }
            ClientError::Rpc {
                code: tonic::Code::DeadlineExceeded,
                ..
            } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "The node did not answer in time",
                detail,
            ),
            ClientError::Rpc { .. } if transient => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "node-unavailable",
                "The node is unavailable",
                detail,
            ),
            ClientError::Rpc { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "node-error",
                "The node failed the call",
                detail,
            ),
            ClientError::Unverified(_)
            | ClientError::BadAnswer(_)
            | ClientError::Inconsistent { .. } => Self::new(
                StatusCode::BAD_GATEWAY,
                "unverified-answer",
                "The node's answer did not verify and was discarded",
                detail,
            ),
            ClientError::Invalid(_) => Self::bad_request("invalid-request", detail),
            ClientError::PartlyNotarized { receipts, error } => {
                let mut problem = Self::from(*error);
                let notarized: Vec<Value> = receipts
                    .iter()
                    .map(|receipt| match receipt {
                        Some(receipt) => {
                            serde_json::from_str(&receipt.to_json()).unwrap_or(Value::Null)
                        }
                        None => Value::Null,
                    })
                    .collect();
                problem.detail = format!(
                    "{} of {} documents were notarized before: {}",
                    notarized.iter().filter(|r| !r.is_null()).count(),
                    notarized.len(),
                    problem.detail
                );
                problem.with("notarized", Value::Array(notarized))
            }
            ClientError::NoFilerKey
            | ClientError::NotAFiler(_)
            | ClientError::NotAGovernanceKey(_) => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "gateway-misconfigured",
                "The gateway's filer key cannot file",
                detail,
            ),
            ClientError::BadEndpoint { .. }
            | ClientError::WrongConsortium { .. }
            | ClientError::Read { .. } => Self::internal(detail),
        }
    }
}
