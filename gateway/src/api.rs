//! The HTTP/JSON API (the OpenAPI document, `openapi.json`, describes it for callers).
//!
//! Every `/v1/` call needs an API token. Each answer that comes from the ledger was verified
//! by the client library against the genesis file before it is passed on: receipts, lookups
//! and status proofs that do not verify are `unverified-answer` problems, never results.

use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use evidence_client::{
    Client, ClientError, DocumentMeta, DocumentSource, LookupQuery, StatusSubject, Version,
    VersionStatus,
};
use evidence_core::digest::{Digest, HashAlgorithm};
use evidence_core::entry::{AnchorBody, MilestoneClaim, Record};
use evidence_core::receipt::{Receipt, Verdict};
use evidence_core::records::{DocumentRecord, VersionRecord};
use evidence_core::status::ProvenState;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::config::{Limits, token_hash};
use crate::idempotency::{self, IdempotencyStore, Slot};
use crate::problem::Problem;

/// The OpenAPI 3 document, served at [`OPENAPI_PATH`].
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Where the OpenAPI document is served (no token needed).
pub const OPENAPI_PATH: &str = "/openapi.json";

/// The court's web verifier (`web/dist/`, built by `scripts/build-web.sh`): one self-contained
/// page that verifies a document and its receipt in the browser, with nothing but the genesis
/// file; it makes no request of its own, so serving it here is a convenience, not a dependency.
pub(crate) const VERIFIER_PAGE: &str = include_str!("../../web/dist/evidence-verifier.html");

/// The project view (`web/dist/`): a project's milestones, payments and inspection reports,
/// read from this API and verified in the browser. The page needs no token to load; its
/// calls of the API carry the caller's.
pub(crate) const PROJECT_PAGE: &str = include_str!("../../web/dist/evidence-project.html");

/// Where the web verifier is served (no token needed).
pub(crate) const VERIFIER_PATH: &str = "/verifier";

/// Where the consortium's genesis file is served (no token needed): the trust anchor a court
/// verifies against, public to whoever holds a receipt.
pub(crate) const GENESIS_PATH: &str = "/genesis.json";

/// Refusals that say another filing of the document id came first.
const VERSION_CONFLICTS: [&str; 3] = [
    "not-a-first-version",
    "version-conflict",
    "supersedes-mismatch",
];

/// How long an upload may pause between two pieces before it is given up.
const UPLOAD_IDLE_MAX: Duration = Duration::from_secs(60);

/// The most lookup pages read to find one document version's receipt.
const RECEIPT_LOOKUP_PAGES_MAX: usize = 64;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Arc<Client>,
    /// The alerts followed from the node, when alerts are enabled.
    pub(crate) feed: Option<Arc<crate::alerts::Feed>>,
    pub(crate) member: String,
    pub(crate) algorithm: HashAlgorithm,
    pub(crate) source_system: String,
    pub(crate) limits: Limits,
    /// (token SHA-256, caller name).
    pub(crate) tokens: Vec<([u8; 32], String)>,
    /// The certificate roles that may call (with `[tls] client_ca`).
    pub(crate) client_roles: Vec<String>,
    /// Filings running (each holds one), bounded like requests.
    pub(crate) filings: Arc<tokio::sync::Semaphore>,
    pub(crate) idempotency: IdempotencyStore,
    /// The genesis file's bytes, served at [`GENESIS_PATH`].
    pub(crate) genesis_file: Vec<u8>,
}

type AppState = Arc<Shared>;

/// The router of the whole API.
pub(crate) fn router(shared: AppState) -> Router {
    let limits = shared.limits;
    Router::new()
        .route(OPENAPI_PATH, get(openapi))
        .route(VERIFIER_PATH, get(verifier_page))
        .route(GENESIS_PATH, get(genesis_file))
        .route("/projects/{project_id}", get(project_page))
        .route("/v1/health", get(health))
        .route(
            "/v1/documents",
            // The body is read by `read_body`, bounded and given up when it stalls.
            post(notarize),
        )
        .route(
            "/v1/documents/upload",
            post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/v1/receipts/{project_id}/{document_id}/{version}",
            get(receipt),
        )
        .route("/v1/lookup", get(lookup))
        .route("/v1/verify", post(verify))
        .route(
            "/v1/verify/upload",
            // The receipt part, the file, and room for the parts' headers and boundaries.
            post(verify_upload).layer(DefaultBodyLimit::max(
                usize::try_from(limits.upload_bytes_max)
                    .unwrap_or(usize::MAX)
                    .saturating_add(limits.request_bytes_max)
                    .saturating_add(64 << 10),
            )),
        )
        .route("/v1/status/{project_id}/{document_id}", get(status))
        .route("/v1/projects/{project_id}/payments", get(payments))
        .route("/v1/alerts", get(alerts))
        .fallback(|| async {
            Problem::not_found(
                "no-such-path",
                format!("no such path; the API is described at {OPENAPI_PATH}"),
            )
        })
        // One semaphore for the whole API (a plain concurrency layer would give each route
        // its own).
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            limits.concurrent_requests_max,
        ))
        .with_state(shared)
}

/// The caller, named by the API token it presented.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub String);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if let Some(certified) = parts.extensions.get::<crate::tls::CertifiedCaller>() {
            // A member's CA issues certificates for other roles too (auditors, courts, nodes):
            // only the configured roles may file through the gateway.
            let allowed = certified
                .role
                .as_ref()
                .is_some_and(|role| state.client_roles.contains(role));
            if !allowed {
                return Err(Problem::new(
                    StatusCode::FORBIDDEN,
                    "role-not-allowed",
                    "This certificate's role may not call the gateway",
                    format!(
                        "the certificate of {:?} has role {:?}; allowed: {}",
                        certified.name,
                        certified.role.as_deref().unwrap_or("none"),
                        state.client_roles.join(", ")
                    ),
                ));
            }
            // Named apart from token names, so the two never share idempotency keys.
            return Ok(Caller(format!("cert:{}", certified.name)));
        }
        let unauthorized = |detail: &str| {
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "An API token is needed",
                detail,
            )
        };
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("send `Authorization: Bearer <token>`"))?;
        // The scheme's name is case-insensitive (RFC 9110 §11.1).
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| unauthorized("the Authorization header is not `Bearer <token>`"))?;
        let presented: [u8; 32] = hex::decode(token_hash(token.trim()))
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| unauthorized("unreadable token"))?;
        // Compare every entry in full, whatever matches: no early exit to time.
        let mut found = None;
        for (hash, name) in &state.tokens {
            let difference = hash
                .iter()
                .zip(&presented)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if difference == 0 {
                found = Some(name.clone());
            }
        }
        found
            .map(Caller)
            .ok_or_else(|| unauthorized("the token is not one this gateway accepts"))
    }
}

type Answer = Result<Value, Problem>;

fn json_response(status: StatusCode, body: String, content_type: &str) -> Response {
    let mut response = (status, body).into_response();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn respond(answer: Answer) -> Response {
    match answer {
        Ok(value) => json_response(StatusCode::OK, value.to_string(), "application/json"),
        Err(problem) => problem.into_response(),
    }
}

async fn openapi() -> Response {
    json_response(StatusCode::OK, OPENAPI.to_owned(), "application/json")
}

async fn verifier_page() -> Response {
    html_page(VERIFIER_PAGE)
}

async fn project_page() -> Response {
    html_page(PROJECT_PAGE)
}

/// One of the court's pages (each self-contained, with its own content security policy).
fn html_page(page: &'static str) -> Response {
    let mut response = json_response(StatusCode::OK, page.to_owned(), "text/html; charset=utf-8");
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // The page's own policy is in a <meta> element, where frame-ancestors is ignored: no other
    // site may frame a page that asks for a token.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn genesis_file(State(state): State<AppState>) -> Response {
    let mut response = (StatusCode::OK, state.genesis_file.clone()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"genesis.json\""),
    );
    response
}

async fn health(State(state): State<AppState>, Caller(_): Caller) -> Response {
    respond(
        state
            .client
            .status()
            .await
            .map(|status| {
                json!({
                    "chain_id": status.chain_id,
                    "member": state.member,
                    "node_height": status.height,
                    "node_synced": status.synced,
                })
            })
            .map_err(Problem::from),
    )
}

// ---------------------------------------------------------------------------------------------
// Notarize

/// A notarize request: documents by digest and metadata.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotarizeRequest {
    pub(crate) documents: Vec<DocumentIn>,
}

/// One document to notarize.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DocumentIn {
    pub(crate) kind: String,
    pub(crate) project_id: String,
    pub(crate) document_id: String,
    /// `<algorithm>:<hex>`, under the chain's hash algorithm.
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) source_system: Option<String>,
    #[serde(default)]
    pub(crate) captured_at_ms: Option<u64>,
    /// Omitted: the next version (1 for a new document id).
    #[serde(default)]
    pub(crate) version: Option<u32>,
    /// With an explicit version above 1: the digest of the version before.
    #[serde(default)]
    pub(crate) supersedes: Option<String>,
    #[serde(default)]
    pub(crate) claim: Option<ClaimIn>,
}

/// A milestone claim: an inspection's result or a payment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum ClaimIn {
    Inspection {
        milestone: String,
        passed: bool,
    },
    Payment {
        milestone: String,
        amount_minor: u64,
    },
}

impl From<ClaimIn> for MilestoneClaim {
    fn from(claim: ClaimIn) -> Self {
        match claim {
            ClaimIn::Inspection { milestone, passed } => Self::Inspection { milestone, passed },
            ClaimIn::Payment {
                milestone,
                amount_minor,
            } => Self::Payment {
                milestone,
                amount_minor,
            },
        }
    }
}

fn parse_digest(text: &str, what: &str, algorithm: HashAlgorithm) -> Result<Digest, Problem> {
    let digest = Digest::from_str(text)
        .map_err(|error| Problem::bad_request("bad-digest", format!("{what}: {error}")))?;
    if digest.algorithm != algorithm {
        return Err(Problem::bad_request(
            "wrong-digest-algorithm",
            format!(
                "{what} is a {} digest; this chain hashes with {}",
                digest.algorithm.name(),
                algorithm.name()
            ),
        ));
    }
    Ok(digest)
}

impl Shared {
    fn meta(&self, document: DocumentIn) -> Result<(Digest, DocumentMeta), Problem> {
        let digest = parse_digest(&document.digest, "digest", self.algorithm)?;
        let version = match (document.version, document.supersedes) {
            (None, None) => Version::Next,
            (None, Some(_)) => {
                return Err(Problem::bad_request(
                    "invalid-request",
                    "supersedes is given only with an explicit version",
                ));
            }
            (Some(version), supersedes) => Version::Exact {
                version,
                supersedes: supersedes
                    .map(|text| parse_digest(&text, "supersedes", self.algorithm))
                    .transpose()?,
            },
        };
        let meta = DocumentMeta {
            kind: document.kind,
            project_id: document.project_id,
            document_id: document.document_id,
            source_system: document
                .source_system
                .unwrap_or_else(|| self.source_system.clone()),
            captured_at_ms: document.captured_at_ms,
            version,
            claim: document.claim.map(MilestoneClaim::from),
        };
        Ok((digest, meta))
    }

    /// The verified receipt of `member`'s version `version` of a document, if filed.
    async fn filed_version(
        &self,
        member: &str,
        project_id: &str,
        document_id: &str,
        version: u32,
    ) -> Result<Option<Receipt>, ClientError> {
        let query = LookupQuery::Document {
            project_id: project_id.to_owned(),
            document_id: document_id.to_owned(),
        };
        let mut token = Vec::new();
        for _ in 0..RECEIPT_LOOKUP_PAGES_MAX {
            let page = self.client.lookup(&query, &token, 0).await?;
            for result in page.results {
                let receipt = result.entry.receipt;
                if receipt.entry.anchor().is_some_and(|document| {
                    document.body.member == member && document.body.document_version == version
                }) {
                    return Ok(Some(receipt));
                }
            }
            if !page.more || page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        Ok(None)
    }

    /// The receipts of `documents` when every one names an explicit version that is already
    /// filed by this member as the same document (digest, kind, claim): a retry of a request
    /// whose first attempt was filed. `None` when any is not.
    async fn already_filed(
        &self,
        documents: &[(Digest, DocumentMeta)],
    ) -> Result<Option<Vec<Receipt>>, ClientError> {
        let mut receipts = Vec::with_capacity(documents.len());
        for (digest, meta) in documents {
            let Version::Exact { version, .. } = meta.version else {
                return Ok(None);
            };
            let found = self
                .filed_version(&self.member, &meta.project_id, &meta.document_id, version)
                .await?;
            match found {
                Some(receipt)
                    if receipt.entry.anchor().is_some_and(|document| {
                        document.body.digest == *digest
                            && document.body.kind == meta.kind
                            && document.body.claim == meta.claim
                    }) =>
                {
                    receipts.push(receipt);
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(receipts))
    }

    /// Notarizes `documents`. A version conflict means another filing of the same id
    /// committed first: possibly this very request's earlier attempt, still waiting when it
    /// was retried, or filed before the gateway could keep its answer. For documents filed as
    /// their next version, asked once more, the client library finds that filing and answers
    /// with its receipt when it is the same document; for explicit versions, the gateway looks
    /// each version up and answers with the receipts when all are the same documents.
    async fn notarize(
        &self,
        documents: Vec<(Digest, DocumentMeta)>,
    ) -> Result<Vec<Notarized>, Problem> {
        let sources = |documents: &[(Digest, DocumentMeta)]| {
            documents
                .iter()
                .map(|(digest, meta)| (DocumentSource::Digest(*digest), meta.clone()))
                .collect::<Vec<_>>()
        };
        let all_next = documents
            .iter()
            .all(|(_, meta)| meta.version == Version::Next);
        let receipts = match self.client.notarize_batch(sources(&documents)).await {
            Err(ClientError::Refused(refusal))
                if VERSION_CONFLICTS.contains(&refusal.reason.as_str()) =>
            {
                if all_next {
                    self.client.notarize_batch(sources(&documents)).await?
                } else if let Some(receipts) = self.already_filed(&documents).await? {
                    receipts
                } else {
                    return Err(ClientError::Refused(refusal).into());
                }
            }
            other => other?,
        };
        receipts.iter().map(notarized).collect()
    }
}

/// A notarized document's answer: where it is, how to fetch its receipt again, the receipt
/// (its JSON text as SPEC.md §8.1 writes it, passed through unparsed).
#[derive(Debug, Serialize)]
pub(crate) struct Notarized {
    project_id: String,
    document_id: String,
    version: u32,
    digest: String,
    entry_index: u64,
    checkpoint_height: u64,
    receipt_url: String,
    receipt: Box<RawValue>,
}

fn notarized(receipt: &Receipt) -> Result<Notarized, Problem> {
    let anchor = receipt
        .entry
        .anchor()
        .ok_or_else(|| Problem::internal("a notarized entry is not an anchor"))?;
    let body = &anchor.body;
    Ok(Notarized {
        project_id: body.project_id.clone(),
        document_id: body.document_id.clone(),
        version: body.document_version,
        digest: body.digest.to_string(),
        entry_index: receipt.entry.index,
        checkpoint_height: receipt.checkpoint.header.height,
        receipt_url: receipt_url(&body.project_id, &body.document_id, body.document_version),
        receipt: receipt_text(receipt)?,
    })
}

/// The answer to a notarize request.
#[derive(Debug, Serialize)]
struct NotarizeAnswer {
    documents: Vec<Notarized>,
}

/// `value` as JSON text.
fn json_text(value: &impl Serialize) -> Result<String, Problem> {
    serde_json::to_string(value).map_err(|error| Problem::internal(error.to_string()))
}

/// A receipt's JSON text (SPEC.md §8.1), to embed unparsed.
fn receipt_text(receipt: &Receipt) -> Result<Box<RawValue>, Problem> {
    RawValue::from_string(receipt.to_json())
        .map_err(|error| Problem::internal(format!("a receipt's JSON: {error}")))
}

/// The path of a document version's receipt.
pub fn receipt_url(project_id: &str, document_id: &str, version: u32) -> String {
    format!(
        "/v1/receipts/{}/{}/{version}",
        encode_segment(project_id),
        encode_segment(document_id)
    )
}

/// Percent-encodes a path segment (RFC 3986: everything but unreserved characters).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        Problem::bad_request("bad-idempotency-key", "the Idempotency-Key is not ASCII")
    })?;
    idempotency::check_key(key)?;
    Ok(Some(key.to_owned()))
}

/// The earlier answer under the key, if there is one: the same when the request is the same,
/// a problem when the key was used for another request.
fn replay(slot: &Slot, fingerprint: &str) -> Option<Response> {
    let earlier = slot.earlier.as_ref()?;
    if earlier.fingerprint != fingerprint {
        return Some(
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "This Idempotency-Key was used for another request",
                "use a new key for a new request",
            )
            .into_response(),
        );
    }
    let status = StatusCode::from_u16(earlier.status).unwrap_or(StatusCode::OK);
    let mut response = json_response(status, earlier.body.clone(), &earlier.content_type);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Some(response)
}

/// Keeps a success under the key, then answers. Refusals are not kept: nothing was filed, and
/// a retry asks the ledger again.
async fn keep(slot: Option<&Slot>, fingerprint: &str, answer: Result<String, Problem>) -> Response {
    let body = match answer {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    let Some(slot) = slot else {
        return json_response(StatusCode::OK, body, "application/json");
    };
    if let Err(error) = slot
        .keep(
            fingerprint,
            StatusCode::OK.as_u16(),
            "application/json",
            &body,
        )
        .await
    {
        tracing::warn!(%error, "an idempotency record could not be written");
    }
    json_response(StatusCode::OK, body, "application/json")
}

/// Runs `work` to its end even when the caller hangs up: a filing that reached the ledger
/// keeps its answer under the idempotency key. Filings hold a permit of their own while they
/// run, so callers that hang up cannot start more of them than the API takes requests.
async fn run_to_end(
    filings: &Arc<tokio::sync::Semaphore>,
    work: impl std::future::Future<Output = Response> + Send + 'static,
) -> Response {
    let Ok(permit) = Arc::clone(filings).acquire_owned().await else {
        return Problem::internal("the gateway is stopping").into_response();
    };
    tokio::spawn(async move {
        let answer = work.await;
        drop(permit);
        answer
    })
    .await
    .unwrap_or_else(|error| {
        Problem::internal(format!("the request failed: {error}")).into_response()
    })
}

/// Reads a request body of at most `max` bytes, giving up when it stalls for
/// [`UPLOAD_IDLE_MAX`] (a caller that sends slowly holds a request slot only that long).
async fn read_body(body: Body, max: usize) -> Result<Vec<u8>, Problem> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = idle(stream.next()).await? {
        let chunk = chunk.map_err(|error| {
            Problem::bad_request("unreadable-body", format!("the body broke off: {error}"))
        })?;
        if bytes.len() + chunk.len() > max {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request-too-large",
                "The request body is too large",
                format!("request bodies of at most {max} bytes are accepted"),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    serde_json::from_slice(bytes)
        .map_err(|error| Problem::bad_request("malformed-json", error.to_string()))
}

async fn notarize(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let run = async {
        let key = idempotency_key(&headers)?;
        let body = read_body(body, state.limits.request_bytes_max).await?;
        let request: NotarizeRequest = parse_json(&body)?;
        let count = request.documents.len();
        if count == 0 {
            return Err(Problem::bad_request(
                "invalid-request",
                "documents is empty",
            ));
        }
        if count > state.limits.documents_per_request_max {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-many-documents",
                "Too many documents in one request",
                format!(
                    "{count} documents; at most {} a request",
                    state.limits.documents_per_request_max
                ),
            ));
        }
        let canonical =
            serde_json::to_vec(&request).map_err(|e| Problem::internal(e.to_string()))?;
        let fingerprint = idempotency::fingerprint(&[b"POST /v1/documents", &canonical]);
        let slot = key
            .map(|key| state.idempotency.begin(&caller, &key))
            .transpose()?;
        if let Some(response) = slot.as_ref().and_then(|slot| replay(slot, &fingerprint)) {
            return Ok(response);
        }
        let documents = request
            .documents
            .into_iter()
            .map(|document| state.meta(document))
            .collect::<Result<Vec<_>, _>>()?;
        let filings = Arc::clone(&state.filings);
        let state = Arc::clone(&state);
        Ok::<_, Problem>(
            run_to_end(&filings, async move {
                let answer = state
                    .notarize(documents)
                    .await
                    .and_then(|documents| json_text(&NotarizeAnswer { documents }));
                tracing::info!(caller, documents = count, ok = answer.is_ok(), "notarize");
                keep(slot.as_ref(), &fingerprint, answer).await
            })
            .await,
        )
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

/// The query of an upload: the document's metadata (its bytes are the body).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadParams {
    pub(crate) kind: String,
    pub(crate) project_id: String,
    pub(crate) document_id: String,
    #[serde(default)]
    pub(crate) source_system: Option<String>,
    #[serde(default)]
    pub(crate) captured_at_ms: Option<u64>,
    #[serde(default)]
    pub(crate) version: Option<u32>,
    #[serde(default)]
    pub(crate) supersedes: Option<String>,
    /// A claim's milestone, with `passed` (an inspection) or `amount_minor` (a payment).
    #[serde(default)]
    pub(crate) milestone: Option<String>,
    #[serde(default)]
    pub(crate) passed: Option<bool>,
    #[serde(default)]
    pub(crate) amount_minor: Option<u64>,
}

fn query_problem(rejection: &QueryRejection) -> Problem {
    Problem::bad_request("bad-query", rejection.body_text())
}

fn path_problem(rejection: &PathRejection) -> Problem {
    Problem::bad_request("bad-path", rejection.body_text())
}

impl UploadParams {
    fn claim(&self) -> Result<Option<ClaimIn>, Problem> {
        match (&self.milestone, self.passed, self.amount_minor) {
            (None, None, None) => Ok(None),
            (Some(milestone), Some(passed), None) => Ok(Some(ClaimIn::Inspection {
                milestone: milestone.clone(),
                passed,
            })),
            (Some(milestone), None, Some(amount_minor)) => Ok(Some(ClaimIn::Payment {
                milestone: milestone.clone(),
                amount_minor,
            })),
            _ => Err(Problem::bad_request(
                "invalid-request",
                "a claim is milestone with passed (an inspection) or with amount_minor (a \
                 payment)",
            )),
        }
    }
}

/// Reads an upload to its end, hashing as it streams, never keeping it.
async fn hash_upload(
    body: Body,
    algorithm: HashAlgorithm,
    max: u64,
) -> Result<(Digest, u64), Problem> {
    let mut hasher = algorithm.hasher();
    let mut size = 0u64;
    let mut stream = body.into_data_stream();
    loop {
        let next = tokio::time::timeout(UPLOAD_IDLE_MAX, stream.next())
            .await
            .map_err(|_| {
                Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "upload-stalled",
                    "The upload stalled",
                    format!("no data for {} s", UPLOAD_IDLE_MAX.as_secs()),
                )
            })?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|error| {
            Problem::bad_request("unreadable-body", format!("the upload broke off: {error}"))
        })?;
        size += chunk.len() as u64;
        if size > max {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "upload-too-large",
                "The document is too large",
                format!("documents of at most {max} bytes are accepted"),
            ));
        }
        hasher.update(&chunk);
    }
    Ok((hasher.finalize(), size))
}

async fn upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    params: Result<Query<UploadParams>, QueryRejection>,
    body: Body,
) -> Response {
    let run = async {
        let key = idempotency_key(&headers)?;
        let Query(params) = params.map_err(|rejection| query_problem(&rejection))?;
        let claim = params.claim()?;
        // Take the key before reading: a retry racing the first upload waits, it does not
        // stream the document a second time.
        let slot = key
            .map(|key| state.idempotency.begin(&caller, &key))
            .transpose()?;
        let (digest, size) =
            hash_upload(body, state.algorithm, state.limits.upload_bytes_max).await?;
        let document = DocumentIn {
            kind: params.kind,
            project_id: params.project_id,
            document_id: params.document_id,
            digest: digest.to_string(),
            source_system: params.source_system,
            captured_at_ms: params.captured_at_ms,
            version: params.version,
            supersedes: params.supersedes,
            claim,
        };
        let canonical =
            serde_json::to_vec(&document).map_err(|e| Problem::internal(e.to_string()))?;
        let fingerprint = idempotency::fingerprint(&[b"POST /v1/documents/upload", &canonical]);
        if let Some(response) = slot.as_ref().and_then(|slot| replay(slot, &fingerprint)) {
            return Ok(response);
        }
        let document = state.meta(document)?;
        let filings = Arc::clone(&state.filings);
        let state = Arc::clone(&state);
        Ok::<_, Problem>(
            run_to_end(&filings, async move {
                // One document: answer with it alone.
                let answer = state
                    .notarize(vec![document])
                    .await
                    .and_then(|mut documents| {
                        documents
                            .pop()
                            .ok_or_else(|| Problem::internal("no receipt for the document"))
                    })
                    .and_then(|document| json_text(&document));
                tracing::info!(caller, bytes = size, ok = answer.is_ok(), "upload");
                keep(slot.as_ref(), &fingerprint, answer).await
            })
            .await,
        )
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------------------------------------
// Reading

/// Which member's document a read is about (the gateway's own by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberParam {
    #[serde(default)]
    member: Option<String>,
}

async fn receipt(
    State(state): State<AppState>,
    Caller(_): Caller,
    path: Result<Path<(String, String, u32)>, PathRejection>,
    params: Result<Query<MemberParam>, QueryRejection>,
) -> Response {
    let run = async {
        let Path((project_id, document_id, version)) =
            path.map_err(|rejection| path_problem(&rejection))?;
        let Query(params) = params.map_err(|rejection| query_problem(&rejection))?;
        let member = params.member.unwrap_or_else(|| state.member.clone());
        if let Some(receipt) = state
            .filed_version(&member, &project_id, &document_id, version)
            .await?
        {
            return Ok(json_response(
                StatusCode::OK,
                receipt.to_json(),
                "application/json",
            ));
        }
        Err(Problem::not_found(
            "not-found",
            format!(
                "no version {version} of document {document_id:?} of project {project_id:?} \
                 filed by {member:?}"
            ),
        ))
    };
    run.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupParams {
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    document_id: Option<String>,
    /// The previous page's `next_page_token`.
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

fn anchor_json(body: &AnchorBody) -> Value {
    json!({
        "member": body.member,
        "project_id": body.project_id,
        "document_id": body.document_id,
        "version": body.document_version,
        "kind": body.kind,
        "digest": body.digest.to_string(),
        "supersedes": body.supersedes.map(|d| d.to_string()),
        "filer": body.filer.to_string(),
        "source_system": body.source_system,
        "captured_at_ms": body.captured_at_ms,
        "claim": body.claim.as_ref().map(claim_json),
    })
}

fn claim_json(claim: &MilestoneClaim) -> Value {
    match claim {
        MilestoneClaim::Inspection { milestone, passed } => {
            json!({"type": "inspection", "milestone": milestone, "passed": passed})
        }
        MilestoneClaim::Payment {
            milestone,
            amount_minor,
        } => json!({"type": "payment", "milestone": milestone, "amount_minor": amount_minor}),
    }
}

fn reported_status(status: &VersionStatus) -> Value {
    let supersession = |s: &evidence_client::Supersession| {
        json!({
            "version": s.by_version,
            "digest": s.by_digest.map(|d| d.to_string()),
            "height": s.height,
        })
    };
    match status {
        VersionStatus::Current => json!({"status": "current"}),
        VersionStatus::Superseded(s) => {
            json!({"status": "superseded", "superseded_by": supersession(s)})
        }
        VersionStatus::Revoked {
            reason,
            revocation_entry_index,
            height,
            superseded,
        } => json!({
            "status": "revoked",
            "reason": reason,
            "revocation_entry_index": revocation_entry_index,
            "height": height,
            "superseded_by": superseded.as_ref().map(supersession),
        }),
        VersionStatus::Unknown => json!({"status": "unknown"}),
    }
}

fn record_type(record: &Record) -> &'static str {
    match record {
        Record::Anchor(_) => "anchor",
        Record::Revocation(_) => "revocation",
        Record::Registration(_) => "registration",
        Record::Governance(_) => "governance",
    }
}

async fn lookup(
    State(state): State<AppState>,
    Caller(_): Caller,
    params: Result<Query<LookupParams>, QueryRejection>,
) -> Response {
    let run = async {
        let Query(params) = params.map_err(|rejection| query_problem(&rejection))?;
        let query = match (&params.digest, &params.project_id, &params.document_id) {
            (Some(digest), None, None) => {
                LookupQuery::Digest(parse_digest(digest, "digest", state.algorithm)?)
            }
            (None, Some(project_id), Some(document_id)) => LookupQuery::Document {
                project_id: project_id.clone(),
                document_id: document_id.clone(),
            },
            (None, Some(project_id), None) => LookupQuery::Project(project_id.clone()),
            _ => {
                return Err(Problem::bad_request(
                    "bad-query",
                    "look up by digest, by project_id and document_id, or by project_id alone",
                ));
            }
        };
        let token = match &params.page_token {
            Some(text) => hex::decode(text).map_err(|_| {
                Problem::bad_request("bad-query", "page_token is not a token this API gave")
            })?,
            None => Vec::new(),
        };
        let page = state
            .client
            .lookup(&query, &token, params.limit.unwrap_or(0))
            .await?;
        let results = page
            .results
            .iter()
            .map(|result| {
                let receipt = &result.entry.receipt;
                Ok(LookupResultOut {
                    entry_index: receipt.entry.index,
                    record_type: record_type(&receipt.entry.record),
                    document: receipt.entry.anchor().map(|d| anchor_json(&d.body)),
                    reported_status: reported_status(&result.status),
                    receipt: receipt_text(receipt)?,
                })
            })
            .collect::<Result<Vec<_>, Problem>>()?;
        json_text(&LookupOut {
            results,
            next_page_token: (page.more && !page.next_page_token.is_empty())
                .then(|| hex::encode(&page.next_page_token)),
        })
    };
    match run.await {
        Ok(body) => json_response(StatusCode::OK, body, "application/json"),
        Err(problem) => problem.into_response(),
    }
}

/// One lookup result as the API answers it; the receipt is its JSON text as written.
#[derive(Debug, Serialize)]
struct LookupResultOut {
    entry_index: u64,
    record_type: &'static str,
    document: Option<Value>,
    reported_status: Value,
    receipt: Box<RawValue>,
}

#[derive(Debug, Serialize)]
struct LookupOut {
    results: Vec<LookupResultOut>,
    next_page_token: Option<String>,
}

/// A verify request: a receipt, and the digest of the file it should anchor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyRequest {
    receipt: Box<RawValue>,
    digest: String,
}

fn verdict_json(verdict: &Verdict) -> Value {
    json!({
        "valid": true,
        "document": anchor_json(&verdict.anchor),
        "entry_index": verdict.entry_index,
        "sequenced_height": verdict.sequenced_height,
        "sequenced_at_ms": verdict.sequenced_at_ms,
        "checkpoint": {
            "height": verdict.checkpoint.height,
            "time_ms": verdict.checkpoint.time_ms,
            "header_hash": verdict.checkpoint.header_hash.to_string(),
            "signed_power": verdict.checkpoint.signed_power,
            "total_power": verdict.checkpoint.total_power,
        },
        "signers": verdict.signers.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "validator_set": verdict.validator_set.to_string(),
    })
}

async fn verify(State(state): State<AppState>, Caller(_): Caller, body: Body) -> Response {
    let run = async {
        let body = read_body(body, state.limits.request_bytes_max).await?;
        let request: VerifyRequest = parse_json(&body)?;
        let receipt = Receipt::from_json(request.receipt.get())
            .map_err(|error| Problem::bad_request("not-a-receipt", format!("receipt: {error}")))?;
        let digest = Digest::from_str(&request.digest)
            .map_err(|error| Problem::bad_request("bad-digest", format!("digest: {error}")))?;
        verdict_answer(&state, &digest, &receipt)
    };
    respond(run.await)
}

/// A receipt verified against the genesis file for `digest`: the verdict, or `valid: false`
/// with the failed check's code (a verification that fails is an answer, not an error).
fn verdict_answer(state: &Shared, digest: &Digest, receipt: &Receipt) -> Answer {
    let anchor = state
        .client
        .genesis()
        .trust_anchor()
        .map_err(|error| Problem::internal(error.to_string()))?;
    Ok(
        match evidence_core::receipt::verify_receipt(digest, receipt, &anchor) {
            Ok(verdict) => verdict_json(&verdict),
            Err(error) => json!({
                "valid": false,
                "code": error.code(),
                "reason": error.to_string(),
            }),
        },
    )
}

/// `step`, unless the body stalls for [`UPLOAD_IDLE_MAX`] first.
async fn idle<T>(step: impl std::future::Future<Output = T>) -> Result<T, Problem> {
    tokio::time::timeout(UPLOAD_IDLE_MAX, step)
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::REQUEST_TIMEOUT,
                "upload-stalled",
                "The upload stalled",
                format!("no data for {} s", UPLOAD_IDLE_MAX.as_secs()),
            )
        })
}

/// Verifies an uploaded file against its receipt: a `multipart/form-data` body whose first
/// part, `receipt`, is the receipt's JSON and whose second, `file`, is the file, hashed as it
/// streams in (never stored) under the algorithm the receipt's anchor names.
async fn verify_upload(
    State(state): State<AppState>,
    Caller(_): Caller,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let run = async {
        let bad = |detail: String| Problem::bad_request("bad-multipart", detail);
        let mut multipart = multipart.map_err(|rejection| bad(rejection.body_text()))?;
        let mut field = idle(multipart.next_field())
            .await?
            .map_err(|e| bad(e.body_text()))?
            .ok_or_else(|| bad("no parts; send receipt, then file".into()))?;
        if field.name() != Some("receipt") {
            return Err(bad("the first part must be receipt (then file)".into()));
        }
        let mut text = Vec::new();
        while let Some(chunk) = idle(field.chunk()).await?.map_err(|e| bad(e.body_text()))? {
            text.extend_from_slice(&chunk);
            if text.len() > state.limits.request_bytes_max {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request-too-large",
                    "The receipt part is too large",
                    format!("at most {} bytes", state.limits.request_bytes_max),
                ));
            }
        }
        let receipt = std::str::from_utf8(&text)
            .map_err(|_| Problem::bad_request("not-a-receipt", "the receipt is not UTF-8"))
            .and_then(|text| {
                Receipt::from_json(text).map_err(|error| {
                    Problem::bad_request("not-a-receipt", format!("receipt: {error}"))
                })
            })?;
        drop(field);
        let mut file = idle(multipart.next_field())
            .await?
            .map_err(|e| bad(e.body_text()))?
            .ok_or_else(|| bad("no file part after the receipt".into()))?;
        if file.name() != Some("file") {
            return Err(bad("the second part must be file".into()));
        }
        // The document is hashed with the algorithm its anchor names (SPEC.md §3).
        let algorithm = receipt
            .entry
            .anchor()
            .map_or(state.algorithm, |document| document.body.digest.algorithm);
        let mut hasher = algorithm.hasher();
        let mut size = 0u64;
        loop {
            let chunk = idle(file.chunk()).await?.map_err(|e| bad(e.body_text()))?;
            let Some(chunk) = chunk else { break };
            size += chunk.len() as u64;
            if size > state.limits.upload_bytes_max {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "upload-too-large",
                    "The file is too large",
                    format!(
                        "files of at most {} bytes are accepted",
                        state.limits.upload_bytes_max
                    ),
                ));
            }
            hasher.update(&chunk);
        }
        let digest = hasher.finalize();
        verdict_answer(&state, &digest, &receipt)
    };
    respond(run.await)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusParams {
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    version: Option<u32>,
}

fn checkpoint_json(state: &ProvenState) -> Value {
    json!({
        "height": state.checkpoint.height,
        "time_ms": state.checkpoint.time_ms,
        "header_hash": state.checkpoint.header_hash.to_string(),
    })
}

fn version_json(version: u32, record: &VersionRecord) -> Value {
    let status = match (&record.revocation, &record.superseded_by) {
        (Some(_), _) => "revoked",
        (None, Some(_)) => "superseded",
        (None, None) => "current",
    };
    json!({
        "version": version,
        "status": status,
        "digest": record.digest.to_string(),
        "entry_index": record.entry_index,
        "height": record.height,
        "superseded_by": record.superseded_by.as_ref().map(|s| json!({
            "version": s.version,
            "digest": s.digest.to_string(),
            "height": s.height,
        })),
        "revocation": record.revocation.as_ref().map(|r| json!({
            "reason": r.reason,
            "entry_index": r.entry_index,
            "height": r.height,
        })),
    })
}

fn status_proof_json(proof: &evidence_core::status::StatusProof) -> Result<Value, Problem> {
    serde_json::from_str(&proof.to_json())
        .map_err(|error| Problem::internal(format!("a status proof's JSON: {error}")))
}

async fn status(
    State(state): State<AppState>,
    Caller(_): Caller,
    path: Result<Path<(String, String)>, PathRejection>,
    params: Result<Query<StatusParams>, QueryRejection>,
) -> Response {
    let run = async {
        let Path((project_id, document_id)) = path.map_err(|rejection| path_problem(&rejection))?;
        let Query(params) = params.map_err(|rejection| query_problem(&rejection))?;
        let member = params.member.unwrap_or_else(|| state.member.clone());
        let subject = StatusSubject::Document {
            member: member.clone(),
            project_id: project_id.clone(),
            document_id: document_id.clone(),
            version: params.version,
        };
        let verified = state.client.status_proof(&subject).await?;
        let proven = &verified.state;
        let unproved = |error: evidence_core::verify::VerifyError| {
            Problem::from(ClientError::Unverified(error))
        };
        let document: Option<&DocumentRecord> = proven
            .document(&member, &project_id, &document_id)
            .map_err(unproved)?;
        let version = match (document, params.version.filter(|v| *v != 0)) {
            (None, _) => Value::Null,
            (Some(document), None) => version_json(document.latest_version, &document.latest),
            (Some(_), Some(version)) => {
                match proven.version(&member, &project_id, &document_id, version) {
                    Ok(found) => version_json(version, &found.record),
                    Err(_) => {
                        return Err(Problem::not_found(
                            "not-found",
                            format!(
                                "version {version} of {document_id:?} was not filed as of height \
                                 {}",
                                proven.checkpoint.height
                            ),
                        ));
                    }
                }
            }
        };
        Ok(json!({
            "member": member,
            "project_id": project_id,
            "document_id": document_id,
            "as_of": checkpoint_json(proven),
            "filed": document.is_some(),
            "kind": document.map(|d| d.kind.clone()),
            "latest_version": document.map(|d| d.latest_version),
            "latest_digest": document.map(|d| d.latest_digest().to_string()),
            "version": version,
            "status_proof": status_proof_json(&verified.proof)?,
        }))
    };
    respond(run.await)
}

async fn payments(
    State(state): State<AppState>,
    Caller(_): Caller,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let run = async {
        let Path(project_id) = path.map_err(|rejection| path_problem(&rejection))?;
        let verified = state
            .client
            .status_proof(&StatusSubject::Project(project_id.clone()))
            .await?;
        let project = verified
            .state
            .project(&project_id)
            .map_err(|error| Problem::from(ClientError::Unverified(error)))?;
        let contract = project.map(|record| {
            json!({
                "registrar_member": record.registrar_member,
                "total_value_minor": record.total_value_minor,
                "paid_minor": record.paid_minor,
                "remaining_minor": record.total_value_minor.saturating_sub(record.paid_minor),
                "milestones": record.milestones.iter().map(|m| json!({
                    "id": m.id,
                    "amount_minor": m.amount_minor,
                    "paid_minor": m.paid_minor,
                    "remaining_minor": m.amount_minor.saturating_sub(m.paid_minor),
                })).collect::<Vec<_>>(),
            })
        });
        Ok(json!({
            "project_id": project_id,
            "as_of": checkpoint_json(&verified.state),
            "registered": contract.is_some(),
            "contract": contract,
            "status_proof": status_proof_json(&verified.proof)?,
        }))
    };
    respond(run.await)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsParams {
    /// The `next` token of the page read last (absent: from the oldest kept).
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// The most alerts one feed page carries.
const ALERTS_PAGE_MAX: usize = 1_000;

async fn alerts(
    State(state): State<AppState>,
    Caller(_): Caller,
    params: Result<Query<AlertsParams>, QueryRejection>,
) -> Response {
    let run = || {
        let Query(params) = params.map_err(|rejection| query_problem(&rejection))?;
        let feed = state.feed.as_ref().ok_or_else(|| {
            Problem::not_found(
                "alerts-disabled",
                "this gateway does not follow alerts (alerts.enabled is false)",
            )
        })?;
        let limit = params.limit.unwrap_or(100).clamp(1, ALERTS_PAGE_MAX);
        let (alerts, next) = feed
            .after(params.after.as_deref(), limit)
            .map_err(|reason| Problem::bad_request("bad-query", reason))?;
        Ok(json!({ "alerts": alerts, "next": next }))
    };
    respond(run())
}

/// How long a sweep of expired idempotency records waits for the next.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(3600);
