//! Response fields in the order the operation selected them (GraphQL's "serialized map
//! ordering"): async-graphql resolves sibling fields concurrently and places each as it
//! finishes, so a field that waits on the database would otherwise come after one that doesn't,
//! and the same query could answer in different orders.

use async_graphql::Value;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};

/// Bounds the walk whatever the document (validation has refused fragment cycles by the time
/// there is data to order, and the depth limit holds selections far shallower).
const MAX_DEPTH: usize = 64;

/// Orders `data`, the result of the operation named `operation` (or the document's only one).
pub(super) fn in_selection_order(
    data: &mut Value,
    document: &ExecutableDocument,
    operation: Option<&str>,
) {
    if let Some(operation) = chosen(document, operation) {
        order(data, &operation.selection_set.node, document, 0);
    }
}

fn chosen<'d>(
    document: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|o| &o.node)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|o| &o.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
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
        match &selection.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.as_str();
                let Some(index) = fields.get_index_of(key) else {
                    continue;
                };
                if index < *next {
                    continue;
                }
                fields.move_index(index, *next);
                if let Some((_, value)) = fields.get_index_mut(*next) {
                    order(value, &field.node.selection_set.node, document, depth + 1);
                }
                *next += 1;
            }
            Selection::InlineFragment(fragment) => {
                place(
                    fields,
                    &fragment.node.selection_set.node,
                    document,
                    next,
                    depth + 1,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    place(
                        fields,
                        &fragment.node.selection_set.node,
                        document,
                        next,
                        depth + 1,
                    );
                }
            }
        }
    }
}
