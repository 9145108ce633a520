//! The document an operation runs as: its own, with `__typename` selected under every field
//! that returns an interface or a union, so that the walk over its result (`count.rs`) knows
//! which object type each such value is. The ordering of the result drops the name again where
//! the client didn't select it.

use async_graphql::Positioned;
use async_graphql::parser::Pos;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, registry::Registry};

use super::coordinates::{Coordinates, TypeId};

/// Bounds the walk whatever the document (it runs before validation).
const MAX_DEPTH: usize = 64;

const TYPENAME: &str = "__typename";

/// `document` with `__typename` selected under each field returning an interface or union;
/// `None` when it has no such field.
pub(super) fn with_typenames(
    coordinates: &Coordinates,
    registry: &Registry,
    document: &ExecutableDocument,
) -> Option<ExecutableDocument> {
    let needs = Needs {
        coordinates,
        original: document,
    };
    let roots = |ty: OperationType| {
        let name = match ty {
            OperationType::Query => Some(registry.query_type.as_str()),
            OperationType::Mutation => registry.mutation_type.as_deref(),
            OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        name.and_then(|name| coordinates.id(name))
    };
    let mut found = false;
    let mut probe = |set: &SelectionSet, ty: Option<TypeId>| {
        found |= ty.is_some_and(|ty| needs.any(set, ty, 0));
    };
    for (_, operation) in document.operations.iter() {
        probe(&operation.node.selection_set.node, roots(operation.node.ty));
    }
    for fragment in document.fragments.values() {
        probe(
            &fragment.node.selection_set.node,
            coordinates.id(&fragment.node.type_condition.node.on.node),
        );
    }
    if !found {
        return None;
    }
    let mut document = document.clone();
    let operations: Vec<_> = match &mut document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values_mut().collect(),
    };
    for operation in operations {
        if let Some(root) = roots(operation.node.ty) {
            needs.add(&mut operation.node.selection_set.node, root, 0);
        }
    }
    for fragment in document.fragments.values_mut() {
        if let Some(ty) = coordinates.id(&fragment.node.type_condition.node.on.node) {
            needs.add(&mut fragment.node.selection_set.node, ty, 0);
        }
    }
    Some(document)
}

struct Needs<'a> {
    coordinates: &'a Coordinates,
    /// The document as the client sent it, whose fragments a check reads.
    original: &'a ExecutableDocument,
}

impl Needs<'_> {
    /// The type a field selected on `ty` returns, when it selects fields itself.
    fn returns(&self, ty: TypeId, field: &Field) -> Option<TypeId> {
        if field.selection_set.node.items.is_empty() {
            return None;
        }
        self.coordinates.member(ty, &field.name.node)?.returns
    }

    /// Whether a field under `set`, selected on `ty`, returns an interface or union.
    fn any(&self, set: &SelectionSet, ty: TypeId, depth: usize) -> bool {
        depth <= MAX_DEPTH
            && set.items.iter().any(|selection| match &selection.node {
                Selection::Field(field) => self.returns(ty, &field.node).is_some_and(|returns| {
                    self.coordinates.is_abstract(returns)
                        || self.any(&field.node.selection_set.node, returns, depth + 1)
                }),
                Selection::InlineFragment(inline) => {
                    let ty = match &inline.node.type_condition {
                        Some(condition) => self.coordinates.id(&condition.node.on.node),
                        None => Some(ty),
                    };
                    ty.is_some_and(|ty| self.any(&inline.node.selection_set.node, ty, depth + 1))
                }
                // Each fragment is walked on its own, from its type condition.
                Selection::FragmentSpread(_) => false,
            })
    }

    /// Selects `__typename` under every field of `set` (selected on `ty`) that returns an
    /// interface or union.
    fn add(&self, set: &mut SelectionSet, ty: TypeId, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for selection in &mut set.items {
            match &mut selection.node {
                Selection::Field(field) => {
                    let Some(returns) = self.returns(ty, &field.node) else {
                        continue;
                    };
                    let children = &mut field.node.selection_set;
                    if self.coordinates.is_abstract(returns)
                        && !self.names_another_typename(&children.node, 0)
                    {
                        children.node.items.push(typename(children.pos));
                    }
                    self.add(&mut children.node, returns, depth + 1);
                }
                Selection::InlineFragment(inline) => {
                    let ty = match &inline.node.type_condition {
                        Some(condition) => self.coordinates.id(&condition.node.on.node),
                        None => Some(ty),
                    };
                    if let Some(ty) = ty {
                        self.add(&mut inline.node.selection_set.node, ty, depth + 1);
                    }
                }
                Selection::FragmentSpread(_) => {}
            }
        }
    }

    /// Whether `set` gives the response key `__typename` to another field (an alias), which
    /// an added `__typename` would conflict with.
    fn names_another_typename(&self, set: &SelectionSet, depth: usize) -> bool {
        depth <= MAX_DEPTH
            && set.items.iter().any(|selection| match &selection.node {
                Selection::Field(field) => {
                    field.node.response_key().node == TYPENAME && field.node.name.node != TYPENAME
                }
                Selection::InlineFragment(inline) => {
                    self.names_another_typename(&inline.node.selection_set.node, depth + 1)
                }
                Selection::FragmentSpread(spread) => self
                    .original
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|fragment| {
                        self.names_another_typename(&fragment.node.selection_set.node, depth + 1)
                    }),
            })
    }
}

fn typename(pos: Pos) -> Positioned<Selection> {
    Positioned::new(
        Selection::Field(Positioned::new(
            Field {
                alias: None,
                name: Positioned::new(Name::new(TYPENAME), pos),
                arguments: Vec::new(),
                directives: Vec::new(),
                selection_set: Positioned::new(SelectionSet::default(), pos),
            },
            pos,
        )),
        pos,
    )
}
