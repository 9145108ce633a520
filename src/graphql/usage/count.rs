//! What one result of an operation used, read from the result itself: each field it holds
//! (a list's items each count), and the arguments, input fields and enum values of those
//! fields. A field the result doesn't hold — under a null parent or an empty list, skipped, or
//! in a fragment for another type — was not used.
//!
//! The result alone doesn't say which object type an interface or union value is: the
//! document run has `__typename` selected under every such field, under a key of its own
//! (`typenames.rs`), which the walk reads and the ordering of the result then drops.

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::{Name, Value, Variables};

use super::coordinates::{CoordinateId, Coordinates, Member, TypeId};

/// Bounds the walk whatever the document (validation refused fragment cycles before there is
/// a result, and the depth limit holds selections far shallower).
const MAX_DEPTH: usize = 64;

/// One result's counts, by coordinate: few distinct ones per operation, so a list searched
/// from its newest entry beats hashing each count.
#[derive(Debug, Default)]
pub(super) struct Counts(Vec<(CoordinateId, u64)>);

impl Counts {
    fn add(&mut self, id: CoordinateId) {
        match self.0.iter_mut().rev().find(|(c, _)| *c == id) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => self.0.push((id, 1)),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (CoordinateId, u64)> + '_ {
        self.0.iter().copied()
    }
}

/// Counts what `data`, the result of an operation whose root selection is `set` on the type
/// `root`, used.
pub(super) fn count(
    coordinates: &Coordinates,
    registry: &Registry,
    document: &ExecutableDocument,
    root: TypeId,
    set: &SelectionSet,
    data: &Value,
    variables: Option<&Variables>,
) -> Counts {
    let mut walk = Walk {
        coordinates,
        registry,
        document,
        variables,
        counts: Counts::default(),
    };
    walk.value(data, &[set], root, 0, &mut Memo::new());
    walk.counts
}

struct Walk<'a> {
    coordinates: &'a Coordinates,
    registry: &'a Registry,
    document: &'a ExecutableDocument,
    variables: Option<&'a Variables>,
    counts: Counts,
}

/// The fields selected on one object under one response key: the first names the field, the
/// selections of all of them are what its value holds (GraphQL's field collection).
struct Collected<'a> {
    key: &'a str,
    field: &'a Field,
    /// The field's member of the object's type; `None` for introspection and `__typename`,
    /// which aren't counted.
    member: Option<Member>,
    sets: Vec<&'a SelectionSet>,
    /// What `sets` select on the values of the field met so far.
    within: Memo<'a>,
}

/// What `sets` select on objects of each type met so far: a list's items (a page of 50, say),
/// and what each of them holds, are collected once per type, not once each.
type Memo<'a> = Vec<(TypeId, Vec<Collected<'a>>)>;

impl<'a> Walk<'a> {
    /// A value of type `ty` (lists stripped) that `sets` select from, with what was collected
    /// for values alike before.
    fn value(
        &mut self,
        value: &Value,
        sets: &[&'a SelectionSet],
        ty: TypeId,
        depth: usize,
        memo: &mut Memo<'a>,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        match value {
            Value::List(items) => {
                for item in items {
                    self.value(item, sets, ty, depth + 1, memo);
                }
            }
            Value::Object(fields) => {
                let ty = if self.coordinates.is_abstract(ty) {
                    match fields.get(super::typenames::TYPE_KEY) {
                        Some(Value::String(name)) => match self.coordinates.id(name) {
                            Some(concrete) => concrete,
                            None => return,
                        },
                        // Not added (the document uses its key itself): which type the object
                        // is can't be told, so its fields aren't counted.
                        _ => return,
                    }
                } else {
                    ty
                };
                let at = match memo.iter().position(|(t, _)| *t == ty) {
                    Some(at) => at,
                    None => {
                        let mut collected = Vec::new();
                        for set in sets {
                            self.collect(set, ty, &mut collected, depth);
                        }
                        memo.push((ty, collected));
                        memo.len() - 1
                    }
                };
                // Taken out while the object's fields are walked (which may collect for other
                // types), then put back for the list's next item.
                let mut collected = std::mem::take(&mut memo[at].1);
                self.object(fields, &mut collected, ty, depth);
                memo[at].1 = collected;
            }
            _ => {}
        }
    }

    fn object(
        &mut self,
        fields: &async_graphql::indexmap::IndexMap<Name, Value>,
        collected: &mut [Collected<'a>],
        ty: TypeId,
        depth: usize,
    ) {
        // The result's fields are usually in the order collected: each is looked for where the
        // last one found was followed, and looked up only when it isn't there.
        let mut next = 0;
        for Collected {
            key,
            field,
            member,
            sets,
            within,
        } in collected
        {
            let value = match fields.get_index(next) {
                Some((name, value)) if name.as_str() == *key => value,
                _ => match fields.get_full(*key) {
                    Some((index, _, value)) => {
                        next = index;
                        value
                    }
                    None => continue,
                },
            };
            next += 1;
            let Some(member) = member else {
                continue;
            };
            self.counts.add(member.coordinate);
            if !field.arguments.is_empty() {
                let (coordinates, counts) = (self.coordinates, &mut self.counts);
                super::inputs::walk(
                    self.registry,
                    coordinates.name(ty),
                    &field.name.node,
                    &field.arguments,
                    self.variables,
                    &mut |owner, member| {
                        if let Some(member) = coordinates.member_of(owner, member) {
                            counts.add(member.coordinate);
                        }
                    },
                );
            }
            if let Some(returns) = member.returns
                && !sets.is_empty()
            {
                self.value(value, sets, returns, depth + 1, within);
            }
        }
    }

    /// Adds the fields `set` selects on an object of type `ty` to `out`, fragments that apply
    /// to it expanded.
    fn collect(
        &self,
        set: &'a SelectionSet,
        ty: TypeId,
        out: &mut Vec<Collected<'a>>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for selection in &set.items {
            let (condition, fragment) = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let key = field.response_key().node.as_str();
                    let selects = !field.selection_set.node.items.is_empty();
                    match out.iter_mut().find(|c| c.key == key) {
                        Some(collected) if selects => {
                            collected.sets.push(&field.selection_set.node);
                        }
                        Some(_) => {}
                        None => out.push(Collected {
                            key,
                            field,
                            // Introspection and `__typename` aren't counted.
                            member: if field.name.node.starts_with("__") {
                                None
                            } else {
                                self.coordinates.member(ty, &field.name.node)
                            },
                            sets: if selects {
                                vec![&field.selection_set.node]
                            } else {
                                Vec::new()
                            },
                            within: Memo::new(),
                        }),
                    }
                    continue;
                }
                _ => match crate::graphql::analysis::fragment(
                    &selection.node,
                    &self.document.fragments,
                ) {
                    Some(Ok(fragment)) => fragment,
                    _ => continue,
                },
            };
            if condition.is_none_or(|condition| self.coordinates.applies(condition, ty)) {
                self.collect(fragment, ty, out, depth + 1);
            }
        }
    }
}
