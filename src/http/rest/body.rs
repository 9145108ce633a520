//! Reading REST request bodies: paid for, then checked (media type, nesting, JSON object), then
//! read field by field into the domain's inputs.

use super::*;

/// Reads a JSON request body; anything but a JSON object is a 400 (415 for another media type).
pub(super) fn json_object(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    max: usize,
    nesting_limit: usize,
) -> Result<Map<String, Value>, RestError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RestError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                Code::BodyLimitExceeded,
                crate::http::body_limit_message(max),
            )
        } else {
            RestError::bad_request("The request body could not be read.")
        }
    })?;
    if !crate::http::is_json_body(headers) {
        return Err(RestError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            "Send the body as `Content-Type: application/json`.",
        ));
    }
    crate::http::check_json_nesting(&body, nesting_limit).map_err(|message| {
        RestError::new(StatusCode::BAD_REQUEST, Code::NestingLimitExceeded, message)
    })?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(RestError::bad_request("The body must be a JSON object.")),
        Err(_) => Err(RestError::bad_request("The body is not valid JSON.")),
    }
}

/// Field-by-field reading of a JSON object, collecting errors the way the domain does.
pub(super) struct Reader<'a> {
    object: &'a Map<String, Value>,
    pub(super) errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            errors: Vec::new(),
        }
    }

    pub(super) fn string_at(&mut self, value: Option<&Value>, field: Field) -> Option<String> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.errors.push(FieldError::new(
                    field,
                    UserErrorCode::Invalid,
                    "{field} must be a string",
                ));
                None
            }
        }
    }

    pub(super) fn string(&mut self, key: &str, field: Field) -> Option<String> {
        self.string_at(self.object.get(key), field)
    }

    pub(super) fn choice<T>(
        &mut self,
        key: &str,
        field: Field,
        allowed: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let text = self.string(key, field)?;
        let parsed = parse(&text);
        if parsed.is_none() {
            self.errors.push(FieldError::new(
                field,
                UserErrorCode::Invalid,
                format!("{{field}} must be one of {allowed}"),
            ));
        }
        parsed
    }

    pub(super) fn provider_config(&mut self, ty: EndpointType) -> Option<ProviderConfigInput> {
        let value = self.object.get("provider_config")?;
        let config = match value {
            Value::Null => return None,
            Value::Object(config) => config,
            _ => {
                self.errors.push(FieldError::new(
                    Field::ProviderConfig,
                    UserErrorCode::Invalid,
                    "{field} must be an object",
                ));
                return None;
            }
        };
        let Some(provider) = config_provider(ty, config) else {
            self.unknown_keys(ty, config);
            return None;
        };
        super::config::read(provider, config, &mut self.errors)
    }

    /// Reports the keys of `config` that no field of `ty`'s config has.
    fn unknown_keys(&mut self, ty: EndpointType, config: &Map<String, Value>) {
        let Some(provider) = Provider::of(ty) else {
            self.errors.push(FieldError::new(
                Field::ProviderConfig,
                UserErrorCode::ProviderConfigMismatch,
                WEBHOOK_TAKES_NO_CONFIG,
            ));
            return;
        };
        let fields: Vec<&str> = provider.fields.iter().map(|f| f.name).collect();
        for key in config.keys().filter(|key| !provider.reads(key)) {
            self.errors.push(FieldError::new(
                Field::ProviderConfig,
                UserErrorCode::NotAllowed,
                format!(
                    "{{field}} has no field `{}`: a {} config has {}",
                    shown(key),
                    seed_name(ty),
                    fields.join(", ")
                ),
            ));
        }
    }

    pub(super) fn finish<T>(self, value: T) -> Result<T, RestError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(RestError::invalid(self.errors))
        }
    }
}

/// A name the client chose, as an error message repeats it: at most 64 characters, so that an
/// answer is never much longer than what it answers.
fn shown(name: &str) -> String {
    const MOST: usize = 64;
    match name.char_indices().nth(MOST) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

/// The provider whose config `config` is: `ty`'s when each key is one of its fields (or a
/// read-only `…_set` it shows), else another provider's whose fields hold every key — a config
/// of the wrong provider, which the domain refuses as it does for GraphQL. `None` when no
/// provider reads every key.
fn config_provider(ty: EndpointType, config: &Map<String, Value>) -> Option<&'static Provider> {
    let reads_all = |p: &Provider| config.keys().all(|key| p.reads(key));
    match Provider::of(ty) {
        Some(own) if reads_all(own) => Some(own),
        _ if config.is_empty() => None,
        _ => PROVIDERS.iter().find(|p| reads_all(p)),
    }
}

/// The seed's names of every endpoint type, for messages: `webhook, vapi, …`.
pub(super) fn types() -> &'static str {
    static TYPES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        EndpointType::iter()
            .map(seed_name)
            .collect::<Vec<_>>()
            .join(", ")
    });
    &TYPES
}

/// Takes `cost` points from the caller's bucket, as a GraphQL operation would: 429 with
/// `Retry-After` when it can't pay. The unpaged list may cost more than a bucket holds; it is
/// charged a full bucket.
pub(super) async fn charge(state: &AppState, actor: &Actor, cost: u64) -> Result<(), RestError> {
    let cost = cost.clamp(1, state.limiter.bucket_size());
    let bucket = pipeline::bucket(Some(actor), None);
    pipeline::charge(state, &bucket, cost, cost).await?;
    Ok(())
}

/// A request's JSON object, read after its cost is paid: 1, plus 1 per 2 KiB of body, as a
/// GraphQL document pays for its length.
pub(super) async fn charged_body(
    state: &AppState,
    headers: &HeaderMap,
    actor: &Actor,
    body: Result<Bytes, BytesRejection>,
) -> Result<Map<String, Value>, RestError> {
    let len = body.as_ref().map_or(0, Bytes::len);
    charge(
        state,
        actor,
        (1 + len / crate::http::graphql::BYTES_PER_COST_POINT) as u64,
    )
    .await?;
    json_object(
        headers,
        body,
        state.limits.max_body_bytes,
        state.limits.max_nesting,
    )
}
