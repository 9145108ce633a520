//! Live queries: the `@live` directive a query may carry (the convention of urql's and Apollo's
//! live-query exchanges and links), and what a live query reads, which decides the events that
//! run it again (`http::graphql::stream::live` runs it).

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

use async_graphql::parser::types::{
    Directive, ExecutableDocument, Field, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::registry::{Deprecation, MetaDirective, MetaInputValue, Registry};
use async_graphql::{
    ContextDirective, CustomDirective, CustomDirectiveFactory, Name, ServerResult, Value, Variables,
};
use entity::enums::EventType;

use crate::domain::events::{ENDPOINT_TYPES, PHONE_NUMBER_TYPES};
use uuid::Uuid;

use super::analysis::SchemaShape;

/// The directive's name, as a query carries it: `query Q @live { … }`.
const NAME: &str = "live";
/// How deep fragments may nest before the walk stops (validation refuses cycles first).
const MAX_DEPTH: usize = 64;

/// `directive @live(if: Boolean = true, throttle: Int) on QUERY`, declared so that validation
/// accepts it where clients put it. async-graphql's derive declares field directives only, so
/// this one is registered by hand; it never runs on a field (it may sit on a query alone), and
/// the pipeline reads it off the operation.
pub struct LiveDirective;

/// What async-graphql would run for the directive on a field: nothing, as it is never there.
struct Inert;

impl CustomDirective for Inert {}

impl CustomDirectiveFactory for LiveDirective {
    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(NAME)
    }

    fn register(&self, registry: &mut Registry) {
        // The arguments are described in the directive's description: the printed schema
        // leaves directive arguments' own descriptions out, and it must equal introspection.
        let argument = |name: &str, ty: &str, default: Option<&str>| {
            (
                name.to_owned(),
                MetaInputValue {
                    name: name.to_owned(),
                    description: None,
                    ty: ty.to_owned(),
                    deprecation: Deprecation::NoDeprecated,
                    default_value: default.map(str::to_owned),
                    visible: None,
                    inaccessible: false,
                    tags: Vec::new(),
                    is_secret: false,
                    directive_invocations: Vec::new(),
                },
            )
        };
        registry.add_directive(MetaDirective {
            name: NAME.to_owned(),
            description: Some(
                "A live query: over WebSocket or server-sent events its result is sent again whenever a change touches what it read (at most once per the gateway's live-query interval); over plain HTTP it is answered once. `if: false` makes it an ordinary query; `throttle` asks for at least that many milliseconds between two results (never less than the gateway's interval).".to_owned(),
            ),
            locations: vec![async_graphql::registry::__DirectiveLocation::QUERY],
            args: [
                argument("if", "Boolean", Some("true")),
                argument("throttle", "Int", None),
            ]
            .into_iter()
            .collect(),
            is_repeatable: false,
            visible: None,
            composable: None,
        });
    }

    fn create(
        &self,
        _ctx: &ContextDirective<'_>,
        _directive: &Directive,
    ) -> ServerResult<Box<dyn CustomDirective>> {
        Ok(Box::new(Inert))
    }
}

/// A query's `@live`, its arguments read with the request's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    /// The least time between results the client asked for (`throttle`).
    pub throttle: Option<Duration>,
}

/// The operation's `@live`, when it carries one whose `if` holds.
pub fn live_of(operation: &OperationDefinition, variables: &Variables) -> Option<Live> {
    let directive = operation
        .directives
        .iter()
        .find(|d| d.node.name.node.as_str() == NAME)?;
    let argument = |name: &str| {
        let value = &directive.node.get_argument(name)?.node;
        constant(value, operation, variables)
    };
    if matches!(argument("if"), Some(Value::Boolean(false))) {
        return None;
    }
    let throttle = match argument("throttle") {
        Some(Value::Number(ms)) => ms.as_u64().map(Duration::from_millis),
        _ => None,
    };
    Some(Live { throttle })
}

/// `value` with its variables replaced by the request's values or the operation's defaults;
/// `None` when one has neither.
fn constant(
    value: &async_graphql_value::Value,
    operation: &OperationDefinition,
    variables: &Variables,
) -> Option<Value> {
    value
        .clone()
        .into_const_with(|variable| {
            variables
                .get(&variable)
                .cloned()
                .or_else(|| default_of(operation, &variable))
                .ok_or(())
        })
        .ok()
}

/// The default value the operation declares for `variable`.
fn default_of(operation: &OperationDefinition, variable: &Name) -> Option<Value> {
    operation
        .variable_definitions
        .iter()
        .find(|d| d.node.name.node == *variable)
        .and_then(|d| d.node.default_value.as_ref())
        .map(|v| v.node.clone())
}

/// What a live query reads, as the events that may change it: the event types of every type
/// it selects, and, when it reaches endpoints only through `endpoint(id:)`, those endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reads {
    pub types: Vec<EventType>,
    /// The only endpoints whose events concern it; `None` for any of them.
    pub endpoint_ids: Option<Vec<Uuid>>,
}

impl Reads {
    /// Whether an event of `ty` about `object_id` may change the query's result.
    pub fn touched_by(&self, ty: EventType, object_id: Uuid) -> bool {
        self.types.contains(&ty)
            && (!ENDPOINT_TYPES.contains(&ty)
                || self
                    .endpoint_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&object_id)))
    }
}

const API_KEY: [EventType; 2] = [EventType::ApiKeyCreated, EventType::ApiKeyRevoked];
const MEMBER: [EventType; 3] = [
    EventType::MemberCreated,
    EventType::MemberUpdated,
    EventType::MemberDeleted,
];

/// The events that change what a type of the schema shows. An audit-log entry is added by any
/// event, and `node`/`nodes` may name an object of any type, so those two take every event.
fn events_of(ty: &str) -> Vec<EventType> {
    match ty {
        "Endpoint" | "EndpointConnection" | "EndpointEdge" | "EndpointEvent" => {
            ENDPOINT_TYPES.to_vec()
        }
        "PhoneNumber" | "PhoneNumberConnection" | "PhoneNumberEdge" | "PhoneNumberEvent" => {
            PHONE_NUMBER_TYPES.to_vec()
        }
        "ApiKey" => API_KEY.to_vec(),
        "OrganizationMember"
        | "OrganizationMemberConnection"
        | "OrganizationMemberEdge"
        | "OrganizationMembership"
        | "Viewer" => MEMBER.to_vec(),
        "Organization" => vec![EventType::OrganizationCreated],
        "Event" | "EventConnection" | "EventEdge" | "EventActor" | "Node" => {
            <EventType as sea_orm::Iterable>::iter().collect()
        }
        _ => Vec::new(),
    }
}

/// What the query `operation` of `document` reads (see `Reads`), with the request's
/// `variables`; every `@skip`/`@include` counted as selected.
pub fn reads(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    shape: &SchemaShape,
    variables: &Variables,
) -> Reads {
    let walk = Walk { document, shape };
    let mut roots = Vec::new();
    walk.fields(&operation.selection_set.node, &mut roots, 0);
    let mut all = HashSet::new();
    let mut endpoint_ids = Some(Vec::new());
    for field in roots {
        let mut types = HashSet::new();
        walk.field(field, "Query", &mut types, 0);
        let by_id = (field.name.node.as_str() == "endpoint")
            .then(|| id_argument(field, operation, variables))
            .flatten();
        match by_id {
            Some(id) => {
                if let Some(ids) = &mut endpoint_ids {
                    ids.push(id);
                }
            }
            None if types.contains(&EventType::EndpointUpdated) => endpoint_ids = None,
            None => {}
        }
        all.extend(types);
    }
    Reads {
        // In the order the types are declared, so that the same query reads the same list.
        types: <EventType as sea_orm::Iterable>::iter()
            .filter(|ty| all.contains(ty))
            .collect(),
        endpoint_ids,
    }
}

/// The UUID an `endpoint(id:)` field names, literally or by a variable.
fn id_argument(
    field: &Field,
    operation: &OperationDefinition,
    variables: &Variables,
) -> Option<Uuid> {
    match constant(&field.get_argument("id")?.node, operation, variables)? {
        Value::String(id) => Uuid::parse_str(&id).ok(),
        _ => None,
    }
}

/// The walk over a document's selections, with the schema's field types.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    shape: &'a SchemaShape,
}

impl<'a> Walk<'a> {
    /// The fields of `set`, its fragments expanded.
    fn fields(&self, set: &'a SelectionSet, out: &mut Vec<&'a Field>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => out.push(&field.node),
                Selection::InlineFragment(inline) => {
                    self.fields(&inline.node.selection_set.node, out, depth + 1);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        self.fields(&fragment.node.selection_set.node, out, depth + 1);
                    }
                }
            }
        }
    }

    /// The event types of the type `field` of `parent` returns and of everything under it.
    fn field(&self, field: &'a Field, parent: &str, types: &mut HashSet<EventType>, depth: usize) {
        let Some(ty) = self.shape.field_type(parent, field.name.node.as_str()) else {
            return;
        };
        types.extend(events_of(ty));
        self.set(&field.selection_set.node, ty, types, depth + 1);
    }

    fn set(
        &self,
        set: &'a SelectionSet,
        parent: &str,
        types: &mut HashSet<EventType>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => self.field(&field.node, parent, types, depth),
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    types.extend(events_of(on));
                    self.set(&inline.node.selection_set.node, on, types, depth + 1);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) =
                        self.document.fragments.get(&spread.node.fragment_name.node)
                    {
                        let on = fragment.node.type_condition.node.on.node.as_str();
                        types.extend(events_of(on));
                        self.set(&fragment.node.selection_set.node, on, types, depth + 1);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
