//! Response fields in the order the operation selected them (GraphQL's "serialized map
//! ordering"): async-graphql resolves sibling fields concurrently and places each as it
//! finishes, so a field that waits on the database would otherwise come after one that doesn't,
//! and the same query could answer in different orders.

use std::sync::Arc;

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Value, Variables};

use super::ParsedDocument;
use crate::graphql::analysis;
use crate::graphql::usage::{Run, TYPE_KEY, Usage};

/// Bounds the walk whatever the document (validation has refused fragment cycles by the time
/// there is data to order, and the depth limit holds selections far shallower).
const MAX_DEPTH: usize = 64;

/// One result of an operation.
pub(super) struct Ran<'a> {
    pub(super) parsed: &'a ParsedDocument,
    pub(super) operation_name: Option<&'a str>,
    pub(super) variables: Option<&'a Variables>,
    /// The client its use is counted for.
    pub(super) client: &'a Arc<str>,
    /// Whether it is told of what it used that is deprecated (results of queries and
    /// mutations, not of subscriptions).
    pub(super) warn: bool,
}

/// A result made ready for its client: what it used counted (`Usage::count`), then its fields
/// in selection order, without the types only the count asked for (`TYPE_KEY`).
pub(super) fn finish(usage: &Usage, response: &mut async_graphql::Response, ran: Ran<'_>) {
    let document = &ran.parsed.document;
    if let Ok((_, operation)) = analysis::select_operation(document, ran.operation_name) {
        let run = Run {
            document,
            operation_type: operation.node.ty,
            set: &operation.node.selection_set.node,
            variables: ran.variables,
            client: ran.client,
        };
        usage.count(run, response, ran.warn);
        order(
            &mut response.data,
            &operation.node.selection_set.node,
            document,
            0,
        );
    }
}

/// Orders `data`, the result of the operation named `operation` (or the document's only one).
pub(super) fn in_selection_order(
    data: &mut Value,
    document: &ExecutableDocument,
    operation: Option<&str>,
) {
    if let Ok((_, operation)) = analysis::select_operation(document, operation) {
        order(data, &operation.node.selection_set.node, document, 0);
    }
}

fn order(value: &mut Value, set: &SelectionSet, document: &ExecutableDocument, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::List(items) => {
            for item in items {
                order(item, set, document, depth + 1);
            }
        }
        Value::Object(fields) => {
            let mut next = 0;
            place(fields, set, document, &mut next, depth);
            // The type the count read (`finish`), among what the document didn't place. (A
            // field without a selection set holds a JSON scalar, which keeps every key.)
            if fields.len() > next
                && !set.items.is_empty()
                && let Some(index) = fields.get_index_of(TYPE_KEY)
            {
                fields.shift_remove_index(index);
            }
        }
        _ => {}
    }
}

/// Moves the fields `set` selects, in its order, to the positions from `next` on (a field
/// selected twice keeps its first place), and orders what each of them holds.
fn place(
    fields: &mut async_graphql::indexmap::IndexMap<async_graphql::Name, Value>,
    set: &SelectionSet,
    document: &ExecutableDocument,
    next: &mut usize,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for selection in &set.items {
        // A fragment's fields are placed where it is spread.
        let fragment = match &selection.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.as_str();
                // Usually already in place: async-graphql keeps the selection's order unless a
                // field waits, and a comparison is cheaper than a lookup.
                let in_place = fields
                    .get_index(*next)
                    .is_some_and(|(name, _)| name.as_str() == key);
                let index = if in_place {
                    *next
                } else {
                    match fields.get_index_of(key) {
                        Some(index) => index,
                        None => continue,
                    }
                };
                if index < *next {
                    continue;
                }
                if index != *next {
                    fields.move_index(index, *next);
                }
                if let Some((_, value)) = fields.get_index_mut(*next) {
                    order(value, &field.node.selection_set.node, document, depth + 1);
                }
                *next += 1;
                continue;
            }
            Selection::InlineFragment(inline) => &inline.node.selection_set.node,
            Selection::FragmentSpread(spread) => {
                match document.fragments.get(&spread.node.fragment_name.node) {
                    Some(definition) => &definition.node.selection_set.node,
                    None => continue,
                }
            }
        };
        place(fields, fragment, document, next, depth + 1);
    }
}
