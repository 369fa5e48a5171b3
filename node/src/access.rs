//! Who may call what, and a record of every call: the access rules of `node.toml`, applied to
//! the caller's certificate before a request is decoded, a global bound on calls in progress,
//! and the access audit log.
//!
//! A caller's identity comes from its TLS certificate (see [`crate::tls`]): the member whose
//! CA issued it, the role it names, and the caller's name. `[[access.grants]]` give methods to
//! roles, optionally only to callers of some members. Everything not granted is refused:
//! without a certificate `UNAUTHENTICATED` (reason `no-client-certificate`), with a
//! certificate that names no role `UNAUTHENTICATED` (`bad-client-certificate`), and a method
//! the caller's role was not granted `PERMISSION_DENIED` (`method-not-granted`). `Relay` may
//! be granted to member nodes only.
//!
//! Every call, refused or served, leaves one line in the audit log when it ends: the time, the
//! caller (member, role, name, certificate fingerprint, address), the method, the outcome (the
//! gRPC status code) and the request and response sizes in bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use evidence_genesis::pki::ROLE_MEMBER_NODE;
use http_body::{Body as HttpBody, Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Code;
use tonic::body::Body;
use tower::{Layer, Service};

use crate::api::{ERROR_DOMAIN, reason};
use crate::tls::{Caller, PeerInfo};

/// The gRPC service every method path starts with.
const SERVICE_PATH: &str = "/evidence.v1.Ledger/";

/// A method of the `evidence.v1.Ledger` service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Method {
    Notarize,
    Submit,
    GetReceipt,
    GetCheckpoint,
    GetConsistencyProof,
    Lookup,
    GetStatusProof,
    StreamCheckpoints,
    StreamRuleEvents,
    Status,
    GetFiler,
    ListFilers,
    GetConfiguration,
    GetProposal,
    ListProposals,
    Relay,
}

impl Method {
    pub const ALL: [Self; 16] = [
        Self::Notarize,
        Self::Submit,
        Self::GetReceipt,
        Self::GetCheckpoint,
        Self::GetConsistencyProof,
        Self::Lookup,
        Self::GetStatusProof,
        Self::StreamCheckpoints,
        Self::StreamRuleEvents,
        Self::Status,
        Self::GetFiler,
        Self::ListFilers,
        Self::GetConfiguration,
        Self::GetProposal,
        Self::ListProposals,
        Self::Relay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Notarize => "Notarize",
            Self::Submit => "Submit",
            Self::GetReceipt => "GetReceipt",
            Self::GetCheckpoint => "GetCheckpoint",
            Self::GetConsistencyProof => "GetConsistencyProof",
            Self::Lookup => "Lookup",
            Self::GetStatusProof => "GetStatusProof",
            Self::StreamCheckpoints => "StreamCheckpoints",
            Self::StreamRuleEvents => "StreamRuleEvents",
            Self::Status => "Status",
            Self::GetFiler => "GetFiler",
            Self::ListFilers => "ListFilers",
            Self::GetConfiguration => "GetConfiguration",
            Self::GetProposal => "GetProposal",
            Self::ListProposals => "ListProposals",
            Self::Relay => "Relay",
        }
    }

    /// The method an HTTP/2 request path names (`/evidence.v1.Ledger/Notarize`).
    pub fn from_path(path: &str) -> Option<Self> {
        let name = path.strip_prefix(SERVICE_PATH)?;
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One `[[access.grants]]` entry: `methods` to callers of `role`, from the members listed (all
/// members of the consortium when `members` is empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub role: String,
    #[serde(default)]
    pub members: Vec<String>,
    pub methods: Vec<Method>,
}

/// The `[access]` section of `node.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSection {
    /// What each role may call. The defaults: filing systems notarize and read what they
    /// need to verify; auditors and courts read; member nodes relay and read.
    pub grants: Vec<Grant>,
    /// The access audit log: one JSON object per line and per call. Relative to the home
    /// directory; empty turns the log off.
    pub audit_log: PathBuf,
}

impl Default for AccessSection {
    fn default() -> Self {
        use Method::*;
        let reads = [
            GetReceipt,
            GetCheckpoint,
            GetConsistencyProof,
            Lookup,
            GetStatusProof,
            StreamCheckpoints,
            StreamRuleEvents,
            Status,
            GetFiler,
            ListFilers,
            GetConfiguration,
            GetProposal,
            ListProposals,
        ];
        let grant = |role: &str, extra: &[Method]| Grant {
            role: role.to_owned(),
            members: Vec::new(),
            methods: extra.iter().chain(&reads).copied().collect(),
        };
        Self {
            grants: vec![
                grant(
                    evidence_genesis::pki::ROLE_FILER_SYSTEM,
                    &[Notarize, Submit],
                ),
                grant(evidence_genesis::pki::ROLE_AUDITOR, &[]),
                grant(evidence_genesis::pki::ROLE_COURT, &[]),
                grant(ROLE_MEMBER_NODE, &[Relay]),
            ],
            audit_log: PathBuf::from("audit.log"),
        }
    }
}

impl AccessSection {
    /// Checks the grants: `Relay` only to member nodes, roles and members named, no method
    /// listed twice.
    ///
    /// # Errors
    /// The first problem, naming the grant.
    pub fn check(&self) -> Result<(), String> {
        for (i, grant) in self.grants.iter().enumerate() {
            let at = format!("access.grants[{i}] (role {:?})", grant.role);
            if grant.role.is_empty() {
                return Err(format!("{at}: the role is empty"));
            }
            if grant.methods.contains(&Method::Relay) && grant.role != ROLE_MEMBER_NODE {
                return Err(format!(
                    "{at}: Relay may be granted only to role {ROLE_MEMBER_NODE:?}: it hands \
                     transactions between members' nodes"
                ));
            }
            let mut seen = BTreeSet::new();
            for method in &grant.methods {
                if !seen.insert(method) {
                    return Err(format!("{at}: {method} is listed twice"));
                }
            }
            if grant.members.iter().any(String::is_empty) {
                return Err(format!("{at}: a member id is empty"));
            }
        }
        Ok(())
    }

    /// Checks that every member a grant names is a member of the consortium.
    ///
    /// # Errors
    /// A grant names an unknown member.
    pub fn check_members(&self, genesis: &evidence_genesis::Genesis) -> Result<(), String> {
        for (i, grant) in self.grants.iter().enumerate() {
            for member in &grant.members {
                if genesis.member(member).is_none() {
                    return Err(format!(
                        "access.grants[{i}] names member {member:?}, which is not in genesis"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The grants, indexed by role.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    by_role: BTreeMap<String, Vec<RoleGrant>>,
}

/// One grant of methods to a role, for callers of `members` (every member when empty).
#[derive(Debug, Clone)]
struct RoleGrant {
    members: BTreeSet<String>,
    methods: BTreeSet<Method>,
}

impl RoleGrant {
    fn allows(&self, member: &str, method: Method) -> bool {
        self.methods.contains(&method) && (self.members.is_empty() || self.members.contains(member))
    }
}

/// Why a call is refused before it is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoCertificate,
    BadCertificate(String),
    NotGranted {
        caller: String,
        method: Method,
        roles: Vec<String>,
    },
    Busy {
        calls_max: usize,
    },
    TooManySubscribers {
        subscribers_max: usize,
    },
    CallerBusy {
        calls_per_caller_max: usize,
    },
}

impl Refusal {
    fn status(&self) -> tonic::Status {
        let (code, reason, message) = match self {
            Self::NoCertificate => (
                Code::Unauthenticated,
                reason::NO_CLIENT_CERTIFICATE,
                "this node serves only callers with a certificate issued by a consortium \
                 member's CA: present one (the CLI's --tls-cert and --tls-key)"
                    .to_owned(),
            ),
            Self::BadCertificate(why) => (
                Code::Unauthenticated,
                reason::BAD_CLIENT_CERTIFICATE,
                format!("the client certificate does not identify a caller: {why}"),
            ),
            Self::NotGranted {
                caller,
                method,
                roles,
            } => (
                Code::PermissionDenied,
                reason::METHOD_NOT_GRANTED,
                if roles.is_empty() {
                    format!(
                        "{caller} may not call {method}: this node grants it to no role of the \
                         caller's member"
                    )
                } else {
                    format!(
                        "{caller} may not call {method}: this node grants it to the roles {}",
                        roles.join(", ")
                    )
                },
            ),
            Self::Busy { calls_max } => (
                Code::ResourceExhausted,
                reason::BUSY,
                format!(
                    "the node is serving its limit of {calls_max} calls at once; retry with \
                     backoff"
                ),
            ),
            Self::CallerBusy {
                calls_per_caller_max,
            } => (
                Code::ResourceExhausted,
                reason::BUSY,
                format!(
                    "this caller already has {calls_per_caller_max} calls in progress, its \
                     share of the node; retry with backoff"
                ),
            ),
            Self::TooManySubscribers { subscribers_max } => (
                Code::ResourceExhausted,
                reason::BUSY,
                format!(
                    "the node already streams checkpoints to {subscribers_max} subscribers; \
                     retry later"
                ),
            ),
        };
        let mut details = tonic_types::ErrorDetails::new();
        details.set_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
        <tonic::Status as tonic_types::StatusExt>::with_error_details(code, message, details)
    }
}

impl Policy {
    pub fn new(grants: &[Grant]) -> Self {
        let mut by_role: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for grant in grants {
            by_role
                .entry(grant.role.clone())
                .or_default()
                .push(RoleGrant {
                    members: grant.members.iter().cloned().collect(),
                    methods: grant.methods.iter().copied().collect(),
                });
        }
        Self { by_role }
    }

    /// The roles whose callers of `member` may call `method`.
    fn roles_allowed(&self, member: &str, method: Method) -> impl Iterator<Item = &str> {
        self.by_role
            .iter()
            .filter(move |(_, grants)| grants.iter().any(|g| g.allows(member, method)))
            .map(|(role, _)| role.as_str())
    }

    /// Whether `caller` may call `method`.
    ///
    /// # Errors
    /// The refusal, to be answered.
    pub fn authorize(&self, caller: &Caller, method: Method) -> Result<(), Refusal> {
        let identity = match caller {
            Caller::Plaintext => return Ok(()),
            Caller::NoCertificate => return Err(Refusal::NoCertificate),
            Caller::Unreadable(why) => return Err(Refusal::BadCertificate(why.to_string())),
            Caller::Certified(identity) => identity,
        };
        let granted = self
            .by_role
            .get(&identity.role)
            .is_some_and(|grants| grants.iter().any(|g| g.allows(&identity.member, method)));
        if granted {
            return Ok(());
        }
        let roles = self
            .roles_allowed(&identity.member, method)
            .map(str::to_owned)
            .collect();
        Err(Refusal::NotGranted {
            caller: identity.to_string(),
            method,
            roles,
        })
    }
}

/// Bounds on calls in progress.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    /// Unary calls served at once over all connections; one more is answered
    /// `RESOURCE_EXHAUSTED` at once (load shedding).
    pub calls_max: usize,
    /// `StreamCheckpoints` streams open at once.
    pub subscribers_max: usize,
    /// Unary calls one caller (one certificate) may have in progress at once, so that one
    /// caller cannot take every place from the others.
    pub calls_per_caller_max: usize,
}

/// The tower layer that applies the access rules, the call bounds and the audit log to every
/// call.
#[derive(Debug, Clone)]
pub struct AccessLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    policy: Policy,
    audit: Option<AuditLog>,
    calls: Arc<Semaphore>,
    calls_max: usize,
    subscribers: Arc<Semaphore>,
    subscribers_max: usize,
    calls_per_caller_max: usize,
    /// Calls in progress per caller certificate (fingerprint); entries at zero are removed.
    per_caller: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// A caller's place among its own calls in progress, given back when dropped.
#[derive(Debug)]
struct CallerSlot {
    shared: Arc<Shared>,
    caller: String,
}

impl Shared {
    /// Takes a place for `caller` if it has fewer than its bound in progress.
    fn caller_slot(self: &Arc<Self>, caller: &str) -> Option<CallerSlot> {
        let mut counts = self.per_caller.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(caller.to_owned()).or_default();
        if *count >= self.calls_per_caller_max {
            return None;
        }
        *count += 1;
        Some(CallerSlot {
            shared: Arc::clone(self),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for CallerSlot {
    fn drop(&mut self) {
        let mut counts = self
            .shared
            .per_caller
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.caller);
            }
        }
    }
}

/// The places a call holds until its answer ends.
#[derive(Debug)]
struct Places {
    _global: OwnedSemaphorePermit,
    _caller: Option<CallerSlot>,
}

impl AccessLayer {
    pub fn new(policy: Policy, limits: CallLimits, audit: Option<AuditLog>) -> Self {
        Self {
            shared: Arc::new(Shared {
                policy,
                audit,
                calls: Arc::new(Semaphore::new(limits.calls_max.max(1))),
                calls_max: limits.calls_max.max(1),
                subscribers: Arc::new(Semaphore::new(limits.subscribers_max.max(1))),
                subscribers_max: limits.subscribers_max.max(1),
                calls_per_caller_max: limits.calls_per_caller_max.max(1),
                per_caller: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
        }
    }
}

impl<S> Layer<S> for AccessLayer {
    type Service = Access<S>;

    fn layer(&self, inner: S) -> Access<S> {
        Access {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`AccessLayer`] wraps around the API.
#[derive(Debug, Clone)]
pub struct Access<S> {
    inner: S,
    shared: Arc<Shared>,
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B> Service<http::Request<Body>> for Access<S>
where
    S: Service<http::Request<Body>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = http::Response<AuditedBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let started = Instant::now();
        let peer = request.extensions().get::<PeerInfo>().cloned();
        let path = request.uri().path().to_owned();
        let method = Method::from_path(&path);
        let shared = Arc::clone(&self.shared);
        let request_bytes = Arc::new(AtomicU64::new(0));
        let record = CallRecord {
            started,
            time_ms: unix_ms(),
            peer,
            method: method.map_or_else(|| path.clone(), |m| m.name().to_owned()),
            request_bytes: Arc::clone(&request_bytes),
        };
        let permit = method.map(|method| -> Result<Places, Refusal> {
            let caller = record
                .peer
                .as_ref()
                .map_or(Caller::NoCertificate, |p| p.caller.clone());
            shared.policy.authorize(&caller, method)?;
            let (semaphore, refusal) = if method == Method::StreamCheckpoints {
                (
                    &shared.subscribers,
                    Refusal::TooManySubscribers {
                        subscribers_max: shared.subscribers_max,
                    },
                )
            } else {
                (
                    &shared.calls,
                    Refusal::Busy {
                        calls_max: shared.calls_max,
                    },
                )
            };
            let global = Arc::clone(semaphore)
                .try_acquire_owned()
                .map_err(|_| refusal)?;
            let caller_slot = match &caller {
                Caller::Certified(identity) if method != Method::StreamCheckpoints => Some(
                    shared
                        .caller_slot(&identity.certificate)
                        .ok_or(Refusal::CallerBusy {
                            calls_per_caller_max: shared.calls_per_caller_max,
                        })?,
                ),
                _ => None,
            };
            Ok(Places {
                _global: global,
                _caller: caller_slot,
            })
        });
        match permit {
            Some(Err(refusal)) => {
                let response = refusal.status().into_http::<Body>();
                let audit = shared.audit.clone();
                Box::pin(async move { Ok(AuditedBody::wrap(response, record, audit, None)) })
            }
            permit => {
                let permit = permit.and_then(Result::ok);
                let (parts, body) = request.into_parts();
                let counted = Body::new(CountingBody {
                    inner: body,
                    bytes: request_bytes,
                });
                let request = http::Request::from_parts(parts, counted);
                // The inner service was made ready by poll_ready; take it and leave a clone.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                let audit = shared.audit.clone();
                Box::pin(async move {
                    let response = inner.call(request).await?;
                    let response = response.map(Body::new);
                    Ok(AuditedBody::wrap(response, record, audit, permit))
                })
            }
        }
    }
}

/// What the audit line of one call needs, gathered as the call goes.
#[derive(Debug)]
struct CallRecord {
    started: Instant,
    time_ms: u64,
    peer: Option<PeerInfo>,
    method: String,
    request_bytes: Arc<AtomicU64>,
}

/// A request body that counts its bytes.
struct CountingBody {
    inner: Body,
    bytes: Arc<AtomicU64>,
}

impl HttpBody for CountingBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that counts its bytes, notes the gRPC status, and writes the call's audit
/// line when it ends (or is dropped, if the caller went away). It also holds the call's place
/// under the call bounds until then.
pub struct AuditedBody {
    inner: Body,
    record: Option<CallRecord>,
    audit: Option<AuditLog>,
    response_bytes: u64,
    code: Option<i32>,
    places: Option<Places>,
}

impl fmt::Debug for AuditedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditedBody").finish_non_exhaustive()
    }
}

impl AuditedBody {
    fn wrap(
        response: http::Response<Body>,
        record: CallRecord,
        audit: Option<AuditLog>,
        permit: Option<Places>,
    ) -> http::Response<Self> {
        let code = grpc_status(response.headers());
        response.map(|inner| Self {
            inner,
            record: Some(record),
            audit,
            response_bytes: 0,
            code,
            places: permit,
        })
    }

    /// The call has ended (its trailers went out, or it failed or was dropped): give its
    /// places back and write its audit line, once.
    fn finish(&mut self) {
        self.places = None;
        let Some(record) = self.record.take() else {
            return;
        };
        let Some(audit) = &self.audit else {
            return;
        };
        // No status at all: the caller went away before the call ended.
        let code = self.code.map_or("CANCELLED", |c| code_name(Code::from(c)));
        audit.write(&record, code, self.response_bytes);
    }
}

impl HttpBody for AuditedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.response_bytes += data.len() as u64;
                } else if let Some(trailers) = frame.trailers_ref() {
                    // The trailers end a gRPC answer.
                    if let Some(code) = grpc_status(trailers) {
                        self.code = Some(code);
                    }
                    self.finish();
                }
            }
            Poll::Ready(Some(Err(status))) => {
                self.code = Some(status.code() as i32);
                self.finish();
            }
            Poll::Ready(None) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        self.finish();
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The name gRPC gives a status code (`OK`, `PERMISSION_DENIED`, ...).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Lines waiting for the audit writer; beyond, lines are counted as lost rather than holding
/// up the calls (the `evidence_audit_lines_lost` counter; a SIEM alert belongs on it).
const AUDIT_QUEUE_LINES: usize = 65_536;

/// The access audit log: JSON lines appended to a file by a thread of its own. When the last
/// handle is dropped (the API server gone), the writer writes what is queued and the drop
/// waits for it, so a node that stops keeps its last calls' lines.
#[derive(Debug, Clone)]
pub struct AuditLog {
    writer: Arc<AuditWriter>,
    lost: Counter,
}

/// The queue to the writer thread and the thread, joined when the last [`AuditLog`] goes.
#[derive(Debug)]
struct AuditWriter {
    lines: Option<std::sync::mpsc::SyncSender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        // Closing the queue ends the writer once it has written what waits (at most one
        // batch wait later).
        drop(self.lines.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the audit log's writer thread panicked");
        }
    }
}

/// One audit line, as written.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditLine {
    /// When the call arrived, RFC 3339 in UTC with milliseconds.
    pub time: String,
    /// The caller's address.
    pub remote: Option<String>,
    /// The member whose CA issued the caller's certificate.
    pub member: Option<String>,
    pub role: Option<String>,
    /// The caller's name (the certificate's common name).
    pub name: Option<String>,
    /// SHA-256 of the caller's certificate, hex.
    pub certificate: Option<String>,
    /// `authenticated`, `no-certificate`, `bad-certificate` or `plaintext`.
    pub authentication: String,
    pub method: String,
    /// The gRPC status the caller received (`OK`, `PERMISSION_DENIED`, ...).
    pub outcome: String,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub duration_ms: u64,
}

/// Why the audit log could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the audit log {path}: {source}")]
pub struct AuditLogError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl AuditLog {
    /// Appends to the file at `path` (created readable by its owner and group only).
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn open(path: &Path, lost: Counter) -> Result<Self, AuditLogError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| AuditLogError {
                path: path.to_owned(),
                source,
            })?;
        }
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o640);
        }
        let file = options.open(path).map_err(|source| AuditLogError {
            path: path.to_owned(),
            source,
        })?;
        let (lines, receiver) = std::sync::mpsc::sync_channel::<String>(AUDIT_QUEUE_LINES);
        let name = path.display().to_string();
        let writer_lost = lost.clone();
        let thread = std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || write_lines(file, &receiver, &name, &writer_lost))
            .map_err(|source| AuditLogError {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            writer: Arc::new(AuditWriter {
                lines: Some(lines),
                thread: Some(thread),
            }),
            lost,
        })
    }

    fn write(&self, record: &CallRecord, outcome: &str, response_bytes: u64) {
        let (authentication, identity) = match record.peer.as_ref().map(|p| &p.caller) {
            Some(Caller::Certified(identity)) => ("authenticated", Some(identity)),
            Some(Caller::Unreadable(_)) => ("bad-certificate", None),
            Some(Caller::Plaintext) => ("plaintext", None),
            Some(Caller::NoCertificate) | None => ("no-certificate", None),
        };
        let line = AuditLine {
            time: rfc3339_ms(record.time_ms),
            remote: record
                .peer
                .as_ref()
                .and_then(|p| p.remote)
                .map(|r| r.to_string()),
            member: identity.map(|i| i.member.clone()),
            role: identity.map(|i| i.role.clone()),
            name: identity.map(|i| i.name.clone()),
            certificate: identity.map(|i| i.certificate.clone()),
            authentication: authentication.to_owned(),
            method: record.method.clone(),
            outcome: outcome.to_owned(),
            request_bytes: record.request_bytes.load(Ordering::Relaxed),
            response_bytes,
            duration_ms: u64::try_from(record.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        };
        let Ok(text) = serde_json::to_string(&line) else {
            return;
        };
        let sent = self
            .writer
            .lines
            .as_ref()
            .is_some_and(|lines| lines.try_send(text).is_ok());
        if !sent {
            self.lost.inc();
        }
    }
}

/// How long the audit writer waits, after writing, before it takes the lines queued meanwhile.
/// Under load the writer then takes them in batches from a queue it is not parked on, so a
/// call's line never wakes it; a futex wake-up for each line had cost about 2 % of the CPU
/// at the single-signed maximum (BENCHMARKS.md, "The audit log's writer in batches"). A line
/// reaches the file about this much later.
const AUDIT_BATCH_WAIT: Duration = Duration::from_millis(10);

/// The writer thread: parked while no line comes; woken by the first, it writes whatever has
/// queued, flushes, then waits [`AUDIT_BATCH_WAIT`] and goes on while lines keep coming. When
/// every sender is gone it writes what is left and ends. When a batch's write or flush fails,
/// every line of the batch is counted in `lost` (how much of it reached the file is unknown).
fn write_lines(
    file: std::fs::File,
    lines: &std::sync::mpsc::Receiver<String>,
    name: &str,
    lost: &Counter,
) {
    use std::sync::mpsc::TryRecvError;
    let mut writer = std::io::BufWriter::new(file);
    let mut failing = false;
    let mut next = lines.recv();
    while let Ok(line) = next {
        let mut result = writeln!(writer, "{line}");
        let mut batch: u64 = 1;
        let mut open = true;
        loop {
            match lines.try_recv() {
                Ok(line) => {
                    batch += 1;
                    result = result.and_then(|()| writeln!(writer, "{line}"));
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        result = result.and_then(|()| writer.flush());
        if result.is_err() {
            lost.inc_by(batch);
        }
        match result {
            Err(error) if !failing => {
                failing = true;
                tracing::error!(file = name, %error, "the audit log cannot be written");
            }
            Err(_) => {}
            Ok(()) => failing = false,
        }
        if !open {
            return;
        }
        std::thread::sleep(AUDIT_BATCH_WAIT);
        next = match lines.try_recv() {
            Ok(line) => Ok(line),
            Err(TryRecvError::Empty) => lines.recv(),
            Err(TryRecvError::Disconnected) => return,
        };
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// `2026-12-04T16:01:44.123Z` for a Unix time in milliseconds.
pub fn rfc3339_ms(unix_ms: u64) -> String {
    let days = unix_ms / 86_400_000;
    let in_day = unix_ms % 86_400_000;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the algorithm of
/// H. Hinnant's "chrono-compatible low-level date algorithms", for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use evidence_genesis::pki::Identity;

    use super::*;

    fn certified(member: &str, role: &str) -> Caller {
        Caller::Certified(Arc::new(Identity {
            member: member.into(),
            role: role.into(),
            name: format!("{member}-{role}"),
            certificate: "00".into(),
        }))
    }

    /// The batching writer writes every line, in order: a line alone after a quiet spell,
    /// bursts larger than one batch, and what is still queued when the senders go.
    #[test]
    fn the_audit_writer_writes_every_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let file = std::fs::File::create(&path).unwrap();
        let (sender, receiver) = std::sync::mpsc::sync_channel::<String>(64);
        let lost = Counter::default();
        let writer_lost = lost.clone();
        let writer =
            std::thread::spawn(move || write_lines(file, &receiver, "audit.log", &writer_lost));
        let written = || std::fs::read_to_string(&path).unwrap();
        sender.send("first".into()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while written() != "first\n" {
            assert!(Instant::now() < deadline, "a lone line is written");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Idle again (parked), then a burst more than the queue holds at once, then a line
        // sent just before the senders go.
        std::thread::sleep(AUDIT_BATCH_WAIT * 3);
        let mut expected = vec!["first".to_owned()];
        for i in 0..500 {
            expected.push(format!("line {i}"));
            sender.send(format!("line {i}")).unwrap();
        }
        sender.send("last".into()).unwrap();
        expected.push("last".into());
        drop(sender);
        writer.join().unwrap();
        assert_eq!(written().lines().collect::<Vec<_>>(), expected);
        assert_eq!(lost.get(), 0);
    }

    /// Lines whose write fails (a full disk, here `/dev/full`) are counted as lost, and the
    /// writer goes on.
    #[cfg(target_os = "linux")]
    #[test]
    fn lines_a_failed_write_drops_are_counted() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let (sender, receiver) = std::sync::mpsc::sync_channel::<String>(64);
        let lost = Counter::default();
        let writer_lost = lost.clone();
        let writer = std::thread::spawn(move || write_lines(file, &receiver, "full", &writer_lost));
        for i in 0..3 {
            sender.send(format!("line {i}")).unwrap();
        }
        drop(sender);
        writer.join().unwrap();
        assert_eq!(lost.get(), 3);
    }

    /// The last handle's drop waits for the writer, so a line logged just before the node
    /// stops is in the file when the drop returns.
    #[test]
    fn dropping_the_audit_log_writes_what_is_queued() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, Counter::default()).unwrap();
        let copy = log.clone();
        for text in ["one", "two"] {
            assert!(
                log.writer
                    .lines
                    .as_ref()
                    .unwrap()
                    .try_send(text.into())
                    .is_ok()
            );
        }
        // A copy keeps the queue open.
        drop(log);
        copy.writer
            .lines
            .as_ref()
            .unwrap()
            .try_send("three".into())
            .unwrap();
        drop(copy);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");
    }

    #[test]
    fn default_grants_follow_the_roles() {
        let policy = Policy::new(&AccessSection::default().grants);
        let filer = certified("bureau", "filer-system");
        let auditor = certified("court", "auditor");
        let node = certified("finance", ROLE_MEMBER_NODE);
        assert_eq!(policy.authorize(&filer, Method::Notarize), Ok(()));
        assert_eq!(policy.authorize(&filer, Method::Lookup), Ok(()));
        assert!(matches!(
            policy.authorize(&filer, Method::Relay),
            Err(Refusal::NotGranted { ref roles, .. }) if roles == &[ROLE_MEMBER_NODE.to_owned()]
        ));
        assert!(policy.authorize(&auditor, Method::Submit).is_err());
        assert_eq!(
            policy.authorize(&auditor, Method::GetConsistencyProof),
            Ok(())
        );
        assert_eq!(policy.authorize(&node, Method::Relay), Ok(()));
        assert!(policy.authorize(&node, Method::Notarize).is_err());
        let stranger = certified("bureau", "cleaner");
        for method in Method::ALL {
            assert!(policy.authorize(&stranger, method).is_err(), "{method}");
        }
        assert_eq!(
            policy.authorize(&Caller::NoCertificate, Method::Status),
            Err(Refusal::NoCertificate)
        );
        assert!(matches!(
            policy.authorize(&Caller::Unreadable("no role".into()), Method::Status),
            Err(Refusal::BadCertificate(_))
        ));
        assert_eq!(policy.authorize(&Caller::Plaintext, Method::Relay), Ok(()));
    }

    #[test]
    fn grants_limited_to_members_apply_to_those_members_only() {
        let policy = Policy::new(&[Grant {
            role: "auditor".into(),
            members: vec!["court".into()],
            methods: vec![Method::Lookup],
        }]);
        assert_eq!(
            policy.authorize(&certified("court", "auditor"), Method::Lookup),
            Ok(())
        );
        assert!(matches!(
            policy.authorize(&certified("bureau", "auditor"), Method::Lookup),
            Err(Refusal::NotGranted { ref roles, .. }) if roles.is_empty()
        ));
    }

    #[test]
    fn relay_may_be_granted_to_member_nodes_only() {
        let mut access = AccessSection::default();
        access.check().unwrap();
        access.grants[0].methods.push(Method::Relay);
        let error = access.check().unwrap_err();
        assert!(error.contains("Relay may be granted only"), "{error}");
        let mut twice = AccessSection::default();
        twice.grants[1].methods.push(Method::Lookup);
        assert!(twice.check().unwrap_err().contains("twice"));
    }

    #[test]
    fn method_paths_are_read_exactly() {
        assert_eq!(
            Method::from_path("/evidence.v1.Ledger/Relay"),
            Some(Method::Relay)
        );
        assert_eq!(Method::from_path("/evidence.v1.Ledger/relay"), None);
        assert_eq!(Method::from_path("/other.Service/Relay"), None);
        for method in Method::ALL {
            assert_eq!(
                Method::from_path(&format!("{SERVICE_PATH}{method}")),
                Some(method)
            );
        }
    }

    #[test]
    fn one_caller_cannot_take_every_place() {
        let layer = AccessLayer::new(
            Policy::default(),
            CallLimits {
                calls_max: 10,
                subscribers_max: 1,
                calls_per_caller_max: 2,
            },
            None,
        );
        let shared = &layer.shared;
        let first = shared.caller_slot("a").unwrap();
        let second = shared.caller_slot("a").unwrap();
        assert!(
            shared.caller_slot("a").is_none(),
            "a third call of one caller"
        );
        let other = shared
            .caller_slot("b")
            .expect("another caller still gets a place");
        drop(first);
        let again = shared
            .caller_slot("a")
            .expect("a place given back is free again");
        drop((second, other, again));
        assert!(
            shared.per_caller.lock().unwrap().is_empty(),
            "no caller is remembered once its calls have ended"
        );
        assert_eq!(
            Refusal::CallerBusy {
                calls_per_caller_max: 2
            }
            .status()
            .code(),
            Code::ResourceExhausted
        );
    }

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_796_400_104_123), "2026-12-04T16:01:44.123Z");
    }

    #[test]
    fn refusals_carry_their_reason_and_code() {
        for (refusal, code, reason) in [
            (
                Refusal::NoCertificate,
                Code::Unauthenticated,
                reason::NO_CLIENT_CERTIFICATE,
            ),
            (
                Refusal::BadCertificate("x".into()),
                Code::Unauthenticated,
                reason::BAD_CLIENT_CERTIFICATE,
            ),
            (
                Refusal::NotGranted {
                    caller: "c".into(),
                    method: Method::Relay,
                    roles: vec![],
                },
                Code::PermissionDenied,
                reason::METHOD_NOT_GRANTED,
            ),
            (
                Refusal::Busy { calls_max: 1 },
                Code::ResourceExhausted,
                reason::BUSY,
            ),
        ] {
            let status = refusal.status();
            assert_eq!(status.code(), code);
            let details = tonic_types::StatusExt::get_error_details(&status);
            assert_eq!(details.error_info().unwrap().reason, reason);
        }
    }
}
