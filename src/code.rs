//! Every error code the gateway answers with, spelled once: GraphQL's `extensions.code` and
//! REST's `code` alike (as Apollo Router spells the ones it shares).

use std::fmt;

/// An error's stable, machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    BadRequest,
    InternalServerError,
    /// A dependency the request needs (the database) can't be reached now: retry (503).
    ServiceUnavailable,
    /// The keys that verify session tokens (the JWKS) can't be fetched now: retry (503).
    AuthenticationUnavailable,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    /// The request ran longer than the request timeout (504).
    Timeout,
    /// The request body didn't arrive within the body read timeout (408).
    RequestTimeout,
    DepthLimitExceeded,
    NestingLimitExceeded,
    TokenLimitExceeded,
    CostLimitExceeded,
    AliasLimitExceeded,
    DirectiveLimitExceeded,
    FieldLimitExceeded,
    RateLimited,
    BodyLimitExceeded,
    /// An operation's name, document id or extensions are past their bounds (400).
    ParameterLimitExceeded,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    /// REST: the body breaks the domain's rules (`details.errors` names each field).
    ValidationFailed,
    /// REST: the body is not `application/json` (415).
    UnsupportedMediaType,
    /// A subscription fell further behind its events than its buffer holds.
    SlowConsumer,
    /// A credential holds as many open subscriptions as it may.
    SubscriptionLimitExceeded,
    /// A subscription resumes from a cursor before events retention deleted: refetch, then
    /// subscribe without `after`.
    EventsExpired,
    /// REST: `If-Match` names another version than the one stored (412).
    PreconditionFailed,
    /// The `Idempotency-Key` header is malformed, or sent where it can't apply (400).
    IdempotencyKeyInvalid,
    /// The key was used with a different request within its lifetime (422).
    IdempotencyKeyReused,
    /// The first request with this key is still running (409).
    IdempotencyKeyInUse,
    /// The gateway runs trusted documents only, and this is not one of them (400).
    PersistedQueryNotAllowed,
    /// A keyed request's response is larger than a key may keep; nothing was written (422).
    IdempotentResponseTooLarge,
    /// The credential has kept as many idempotent responses as it may for now (429).
    IdempotencyStorageExceeded,
}

impl Code {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::BadRequest => "BAD_REQUEST",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::AuthenticationUnavailable => "AUTHENTICATION_UNAVAILABLE",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::Timeout => "TIMEOUT",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::DepthLimitExceeded => "DEPTH_LIMIT_EXCEEDED",
            Self::NestingLimitExceeded => "NESTING_LIMIT_EXCEEDED",
            Self::TokenLimitExceeded => "TOKEN_LIMIT_EXCEEDED",
            Self::CostLimitExceeded => "COST_LIMIT_EXCEEDED",
            Self::AliasLimitExceeded => "ALIAS_LIMIT_EXCEEDED",
            Self::DirectiveLimitExceeded => "DIRECTIVE_LIMIT_EXCEEDED",
            Self::FieldLimitExceeded => "FIELD_LIMIT_EXCEEDED",
            Self::RateLimited => "RATE_LIMITED",
            Self::BodyLimitExceeded => "BODY_LIMIT_EXCEEDED",
            Self::ParameterLimitExceeded => "PARAMETER_LIMIT_EXCEEDED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::SlowConsumer => "SLOW_CONSUMER",
            Self::SubscriptionLimitExceeded => "SUBSCRIPTION_LIMIT_EXCEEDED",
            Self::EventsExpired => "EVENTS_EXPIRED",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::IdempotencyKeyInvalid => "IDEMPOTENCY_KEY_INVALID",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
            Self::PersistedQueryNotAllowed => "PERSISTED_QUERY_NOT_ALLOWED",
            Self::IdempotentResponseTooLarge => "IDEMPOTENT_RESPONSE_TOO_LARGE",
            Self::IdempotencyStorageExceeded => "IDEMPOTENCY_STORAGE_EXCEEDED",
        }
    }
}

/// The one answer to "the database is unavailable", on every transport: no cause is named.
pub const SERVICE_UNAVAILABLE_MESSAGE: &str =
    "The service is temporarily unavailable; retry the request shortly.";
/// `Retry-After` of that answer, in seconds.
pub const SERVICE_UNAVAILABLE_RETRY_AFTER: u64 = 2;

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
