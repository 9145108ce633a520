//! The document an operation runs as: its own, with `__typename` selected under every field
//! that returns an interface or a union, under an alias of its own (`TYPE_KEY`), so that the
//! walk over its result (`count.rs`) knows which object type each such value is. The ordering
//! of the result drops that key again; a client's own `__typename` is never touched.

use async_graphql::Name;
use async_graphql::Positioned;
use async_graphql::parser::Pos;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, Selection, SelectionSet,
};

use super::coordinates::{Coordinates, TypeId};

/// Bounds the walk whatever the document (it runs before validation).
const MAX_DEPTH: usize = 64;

/// The response key the added `__typename` answers under: one no client is expected to use
/// (a document that uses it anywhere runs as it is, and its interface and union values go
/// uncounted).
pub const TYPE_KEY: &str = "__cockpitUsageType";

/// `document` with `__typename` selected under each field returning an interface or union;
/// `None` when it has no such field.
pub(super) fn with_typenames(
    coordinates: &Coordinates,
    document: &ExecutableDocument,
) -> Option<ExecutableDocument> {
    let needs = Needs { coordinates };
    let mut found = false;
    let mut probe = |set: &SelectionSet, ty: Option<TypeId>| {
        found |= ty.is_some_and(|ty| needs.any(set, ty, 0));
    };
    for (_, operation) in document.operations.iter() {
        probe(
            &operation.node.selection_set.node,
            coordinates.root(operation.node.ty),
        );
    }
    for fragment in document.fragments.values() {
        probe(
            &fragment.node.selection_set.node,
            coordinates.id(&fragment.node.type_condition.node.on.node),
        );
    }
    if !found || uses_type_key(document) {
        return None;
    }
    let mut document = document.clone();
    let operations: Vec<_> = match &mut document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values_mut().collect(),
    };
    for operation in operations {
        if let Some(root) = coordinates.root(operation.node.ty) {
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
                    if self.coordinates.is_abstract(returns) {
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
}

/// Whether any field of `document` answers under `TYPE_KEY` (each selection set looked at once:
/// fragments are walked as they are defined, not where they are spread).
fn uses_type_key(document: &ExecutableDocument) -> bool {
    fn within(set: &SelectionSet, depth: usize) -> bool {
        depth <= MAX_DEPTH
            && set.items.iter().any(|selection| match &selection.node {
                Selection::Field(field) => {
                    field.node.response_key().node == TYPE_KEY
                        || within(&field.node.selection_set.node, depth + 1)
                }
                Selection::InlineFragment(inline) => {
                    within(&inline.node.selection_set.node, depth + 1)
                }
                Selection::FragmentSpread(_) => false,
            })
    }
    document
        .operations
        .iter()
        .any(|(_, operation)| within(&operation.node.selection_set.node, 0))
        || document
            .fragments
            .values()
            .any(|fragment| within(&fragment.node.selection_set.node, 0))
}

fn typename(pos: Pos) -> Positioned<Selection> {
    Positioned::new(
        Selection::Field(Positioned::new(
            Field {
                alias: Some(Positioned::new(Name::new(TYPE_KEY), pos)),
                name: Positioned::new(Name::new("__typename"), pos),
                arguments: Vec::new(),
                directives: Vec::new(),
                selection_set: Positioned::new(SelectionSet::default(), pos),
            },
            pos,
        )),
        pos,
    )
}
