//! Objects whose fields are answered in one pass over their selection, without a future each.
//! async-graphql resolves every field of every object through a boxed future of its own,
//! placed in a `FuturesUnordered` (an allocation and a task each): for a page of 50 endpoints,
//! most of the page's work. A `Plain` object answers from memory the fields that need no
//! arguments, context nor waiting (scalars, and objects answered the same way); the others are
//! awaited through the resolvers its `#[Object]` derives, all at once.
//!
//! The result is the one `resolve_container` makes: fragments whose type condition applies are
//! expanded, a response key selected twice keeps its first place (objects under it merged), a
//! field's error is the request's and leaves the field out, and an object without fields is
//! null. A selection with a field directive left (a custom one: `@skip` and `@include` are gone
//! by the time it runs) goes through `resolve_container` itself, and an object under a field
//! through its resolver.

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{ContextSelectionSet, Name, Positioned, ServerError, ServerResult, Value};

/// Bounds the walk whatever the document (validation has refused fragment cycles before a
/// resolver runs; the depth limit holds documents far shallower).
const MAX_DEPTH: usize = 64;

/// An object some of whose fields are answered from memory.
pub trait Plain: Send + Sync {
    /// The object's type, as `__typename` answers.
    fn typename(&self) -> Cow<'static, str>;
    /// The field `name`'s answer when it needs no arguments, context nor waiting; `None` for
    /// any other field.
    fn plain(&self, name: &str) -> Option<Answer<'_>>;
}

/// A field answered from memory.
pub enum Answer<'a> {
    Scalar(Value),
    /// An object or null, and the type the field declares (the object's own, or an interface
    /// or union it is one of).
    Object(&'static str, Option<Box<dyn Plain + 'a>>),
}

/// One of the selection's fields, in order: answered, or to be resolved.
enum Step<'a> {
    Answered(Name, Value),
    Resolve(&'a Positioned<Field>),
}

/// Resolves `root` over the selection `ctx` holds, as `resolve_container` does.
pub async fn resolve<T: Plain + ContainerType>(
    ctx: &ContextSelectionSet<'_>,
    root: &T,
) -> ServerResult<Value> {
    let mut steps = Vec::with_capacity(ctx.item.node.items.len());
    let typename = root.typename();
    if !collect(ctx, root, &typename, &ctx.item.node, &mut steps, 0)? {
        return resolve_container(ctx, root).await;
    }
    let pending = steps.iter().filter_map(|step| match step {
        Step::Resolve(field) => Some(async move {
            let ctx_field = ctx.with_field(field);
            root.resolve_field(&ctx_field).await
        }),
        Step::Answered(..) => None,
    });
    let mut resolved = futures_util::future::join_all(pending).await.into_iter();
    let mut results = IndexMap::with_capacity(steps.len());
    for step in steps {
        let (key, value) = match step {
            Step::Answered(key, value) => (key, value),
            Step::Resolve(field) => match resolved.next() {
                Some(Ok(value)) => (
                    field.node.response_key().node.clone(),
                    value.unwrap_or_default(),
                ),
                Some(Err(error)) => {
                    ctx.add_error(error);
                    continue;
                }
                None => continue,
            },
        };
        insert(&mut results, key, value);
    }
    Ok(object_value(results))
}

/// The steps of `set` on `object` (of the declared type `declared`), and of the fragments in it
/// that apply; `false` when a field carries a directive.
fn collect<'a>(
    ctx: &ContextSelectionSet<'a>,
    object: &dyn Plain,
    declared: &str,
    set: &'a SelectionSet,
    steps: &mut Vec<Step<'a>>,
    depth: usize,
) -> ServerResult<bool> {
    if depth > MAX_DEPTH {
        return Ok(false);
    }
    for selection in &set.items {
        let (condition, inner) = match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return Ok(false);
                }
                let name = field.node.name.node.as_str();
                let key = || field.node.response_key().node.clone();
                let value = if name == "__typename" {
                    Some(Value::String(object.typename().into_owned()))
                } else {
                    match object.plain(name) {
                        Some(Answer::Scalar(value)) => Some(value),
                        Some(Answer::Object(_, None)) => Some(Value::Null),
                        Some(Answer::Object(declared, Some(inner))) => answer(
                            ctx,
                            &*inner,
                            declared,
                            &field.node.selection_set.node,
                            depth,
                        ),
                        None => None,
                    }
                };
                steps.push(match value {
                    Some(value) => Step::Answered(key(), value),
                    None => Step::Resolve(field),
                });
                continue;
            }
            _ => {
                match crate::graphql::analysis::fragment(&selection.node, &ctx.query_env.fragments)
                {
                    Some(Ok(fragment)) => fragment,
                    Some(Err(name)) => {
                        return Err(ServerError::new(
                            format!(r#"Unknown fragment "{name}"."#),
                            Some(selection.pos),
                        ));
                    }
                    None => continue,
                }
            }
        };
        if let Some(level) = applies(ctx, object, declared, condition)
            && !collect(ctx, object, &level, inner, steps, depth + 1)?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `object`'s answer to `set`, when every field of it is answered from memory.
fn answer(
    ctx: &ContextSelectionSet<'_>,
    object: &dyn Plain,
    declared: &str,
    set: &SelectionSet,
    depth: usize,
) -> Option<Value> {
    let mut steps = Vec::with_capacity(set.items.len());
    if !collect(ctx, object, declared, set, &mut steps, depth + 1).ok()? {
        return None;
    }
    let mut fields = IndexMap::with_capacity(steps.len());
    for step in steps {
        let Step::Answered(key, value) = step else {
            return None;
        };
        insert(&mut fields, key, value);
    }
    Some(object_value(fields))
}

fn object_value(fields: IndexMap<Name, Value>) -> Value {
    if fields.is_empty() {
        Value::Null
    } else {
        Value::Object(fields)
    }
}

/// Whether a fragment on `condition` (none: the enclosing type) applies to `object`, a value
/// of the type `declared`, and the type its selection is then on: the object's own when the
/// condition names it or an interface it implements (a fragment on a union inside a fragment
/// on one of its members doesn't apply, as in `resolve_container`), else still `declared`.
fn applies<'d>(
    ctx: &ContextSelectionSet<'_>,
    object: &dyn Plain,
    declared: &'d str,
    condition: Option<&str>,
) -> Option<Cow<'d, str>> {
    let Some(condition) = condition else {
        return Some(Cow::Borrowed(declared));
    };
    let typename = object.typename();
    let concrete = typename == condition
        || ctx
            .schema_env
            .registry
            .implements
            .get(typename.as_ref())
            .is_some_and(|interfaces| interfaces.contains(condition));
    if concrete {
        Some(typename)
    } else if declared == condition {
        Some(Cow::Borrowed(declared))
    } else {
        None
    }
}

/// Places a field's value: a key already there keeps its place and value, objects under it
/// (and the objects of lists under it) merged.
fn insert(target: &mut IndexMap<Name, Value>, key: Name, value: Value) {
    use async_graphql::indexmap::map::Entry;
    let previous = match target.entry(key) {
        Entry::Vacant(entry) => {
            entry.insert(value);
            return;
        }
        Entry::Occupied(entry) => entry.into_mut(),
    };
    match (previous, value) {
        (Value::Object(previous), Value::Object(value)) => {
            for (key, value) in value {
                insert(previous, key, value);
            }
        }
        (Value::List(previous), Value::List(value)) => {
            for (previous, value) in previous.iter_mut().zip(value) {
                if let (Value::Object(previous), Value::Object(value)) = (previous, value) {
                    for (key, value) in value {
                        insert(previous, key, value);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether the GraphQL name `graphql` is the camel case of the Rust field `rust` (as
/// async-graphql names a field: `sip_password_set` is `sipPasswordSet`).
pub fn is_named(graphql: &str, rust: &str) -> bool {
    let mut graphql = graphql.chars();
    let mut rust = rust.trim_start_matches("r#").chars();
    while let Some(c) = rust.next() {
        let expected = if c == '_' {
            match rust.next() {
                Some(next) => next.to_ascii_uppercase(),
                None => return false,
            }
        } else {
            c
        };
        if graphql.next() != Some(expected) {
            return false;
        }
    }
    graphql.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::is_named;

    #[test]
    fn rust_fields_are_named_in_camel_case() {
        assert!(is_named("assistantId", "assistant_id"));
        assert!(is_named("sipPasswordSet", "sip_password_set"));
        assert!(is_named("username", "username"));
        assert!(!is_named("assistantid", "assistant_id"));
        assert!(!is_named("assistantIdX", "assistant_id"));
        assert!(!is_named("assistant", "assistant_id"));
        assert!(!is_named("assistant_id", "assistant_id"));
    }
}
