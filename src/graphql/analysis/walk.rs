//! The walk over an operation's selections, each fragment summarised once, adding up depth,
//! aliases, directives, fields and cost; a connection's page and the ids a lookup takes; and,
//! when asked, each field's share of the cost at its path.

use std::collections::HashMap;

use async_graphql::parser::types::{FragmentDefinition, Selection, SelectionSet};
use async_graphql::{Name, Positioned, Value};

use super::FieldCost;
use super::shape::{ByIds, SchemaShape};
use crate::domain::ids;

/// What a selection set asks for, as the limits measure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Summary {
    pub(super) depth: usize,
    pub(super) cost: u64,
    pub(super) fields: u64,
    pub(super) aliases: usize,
    pub(super) directives: usize,
    pub(super) introspects: bool,
    /// Only `__schema`, `__type` and `__typename` at this level.
    pub(super) meta_only: bool,
}

impl Summary {
    const EMPTY: Self = Self {
        depth: 0,
        cost: 0,
        fields: 0,
        aliases: 0,
        directives: 0,
        introspects: false,
        meta_only: true,
    };

    /// Two sibling selections together.
    fn and(self, other: Self) -> Self {
        Self {
            depth: self.depth.max(other.depth),
            cost: self.cost.saturating_add(other.cost),
            fields: self.fields.saturating_add(other.fields),
            aliases: self.aliases.saturating_add(other.aliases),
            directives: self.directives.saturating_add(other.directives),
            introspects: self.introspects || other.introspects,
            meta_only: self.meta_only && other.meta_only,
        }
    }
}

pub(super) enum FragmentState {
    Visiting,
    Done(Summary),
}

pub(super) struct Walker<'a> {
    pub(super) fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    pub(super) variables: &'a serde_json::Map<String, serde_json::Value>,
    pub(super) defaults: HashMap<String, Value>,
    pub(super) summaries: HashMap<Name, FragmentState>,
    pub(super) shape: &'a SchemaShape,
    /// Each field's cost at its path, kept only when asked; fragments are then walked at each
    /// spread, since a path runs through the spread.
    pub(super) record: Option<Record>,
}

/// The response keys down to the field being walked, and the fields walked so far.
#[derive(Default)]
pub(super) struct Record {
    path: Vec<String>,
    pub(super) fields: Vec<FieldCost>,
}

impl Walker<'_> {
    /// A selection set on `parent` (`None` where the type is unknown: validation refuses it).
    pub(super) fn selection_set(
        &mut self,
        set: &Positioned<SelectionSet>,
        parent: Option<&str>,
    ) -> Summary {
        set.node.items.iter().fold(Summary::EMPTY, |acc, item| {
            acc.and(self.selection(&item.node, parent))
        })
    }

    fn selection(&mut self, selection: &Selection, parent: Option<&str>) -> Summary {
        match selection {
            Selection::Field(field) => {
                let field = &field.node;
                if let Some(record) = &mut self.record {
                    record.path.push(field.response_key().node.to_string());
                }
                let (summary, defined) = self.field(field, parent);
                if let Some(record) = &mut self.record {
                    // A leaf has no selections to cost.
                    let leaf = field.selection_set.node.items.is_empty();
                    record.fields.push(FieldCost {
                        path: record.path.clone(),
                        defined_cost: defined,
                        requested_total_cost: summary.cost,
                        requested_children_cost: (!leaf)
                            .then(|| summary.cost.saturating_sub(defined)),
                    });
                    record.path.pop();
                }
                summary
            }
            Selection::InlineFragment(inline) => {
                let on = inline
                    .node
                    .type_condition
                    .as_ref()
                    .map_or(parent, |c| Some(c.node.on.node.as_str()));
                let child = self.selection_set(&inline.node.selection_set, on);
                Summary {
                    directives: child
                        .directives
                        .saturating_add(inline.node.directives.len()),
                    ..child
                }
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let fragment = match self.summaries.get(name) {
                    Some(FragmentState::Done(summary)) => *summary,
                    // A cycle; validation refuses it, so it adds nothing here.
                    Some(FragmentState::Visiting) => Summary {
                        meta_only: false,
                        ..Summary::EMPTY
                    },
                    None => match self.fragments.get(name) {
                        Some(definition) => {
                            self.summaries.insert(name.clone(), FragmentState::Visiting);
                            let on = definition.node.type_condition.node.on.node.as_str();
                            let child =
                                self.selection_set(&definition.node.selection_set, Some(on));
                            let summary = Summary {
                                directives: child
                                    .directives
                                    .saturating_add(definition.node.directives.len()),
                                ..child
                            };
                            // Recording, the fragment is walked again at its next spread
                            // for the paths through it; only a cycle is remembered.
                            if self.record.is_some() {
                                self.summaries.remove(name);
                            } else {
                                self.summaries
                                    .insert(name.clone(), FragmentState::Done(summary));
                            }
                            summary
                        }
                        // An unknown fragment fails validation.
                        None => Summary {
                            meta_only: false,
                            ..Summary::EMPTY
                        },
                    },
                };
                Summary {
                    directives: fragment
                        .directives
                        .saturating_add(spread.node.directives.len()),
                    ..fragment
                }
            }
        }
    }

    /// A field, and what it costs of itself, its selections aside.
    fn field(
        &mut self,
        field: &async_graphql::parser::types::Field,
        parent: Option<&str>,
    ) -> (Summary, u64) {
        let name = field.name.node.as_str();
        let own = Summary {
            depth: 1,
            cost: 0,
            fields: 1,
            aliases: usize::from(field.alias.is_some()),
            directives: field.directives.len(),
            introspects: matches!(name, "__schema" | "__type"),
            meta_only: matches!(name, "__schema" | "__type" | "__typename"),
        };
        if field.selection_set.node.items.is_empty() {
            return (own, 0);
        }
        let schema_field = self.shape.field(parent, name).cloned();
        let child = self.selection_set(
            &field.selection_set,
            schema_field.as_ref().map(|f| f.ty.as_str()),
        );
        let by_ids = schema_field.as_ref().and_then(|f| f.by_ids);
        // `rateLimit` tells the caller's budget and takes nothing from it.
        let free = schema_field.as_ref().is_some_and(|f| f.ty == "RateLimit");
        let times = schema_field
            .and_then(|f| f.default_first)
            .map_or(1, |default| self.page_size(field, default));
        // A connection costs itself once and its selections a page over; `nodes`
        // costs an object, with its selections, for each id, and each lookup of an id
        // beyond the one that finds it.
        let (cost, defined) = match by_ids {
            Some(by_ids) => {
                let (ids, lookups) = self.id_lookups(field, by_ids);
                let beyond = lookups.saturating_sub(ids);
                (
                    beyond.saturating_add(ids.saturating_mul(1u64.saturating_add(child.cost))),
                    beyond.saturating_add(ids),
                )
            }
            None if free => (0, 0),
            None => (1u64.saturating_add(times.saturating_mul(child.cost)), 1),
        };
        let summary = Summary {
            depth: child.depth.saturating_add(1),
            cost,
            fields: child.fields.saturating_add(1),
            aliases: own.aliases.saturating_add(child.aliases),
            directives: own.directives.saturating_add(child.directives),
            introspects: own.introspects || child.introspects,
            meta_only: own.meta_only,
        };
        (summary, defined)
    }

    /// How many ids a field looks up (at least one), and the most lookups they may take: a
    /// list's length (a variable's, or its default's, too), and for a field returning any
    /// type, each id's tables (`ids::candidates`) — an id not known before the request runs
    /// as many as any may take.
    fn id_lookups(&self, field: &async_graphql::parser::types::Field, by_ids: ByIds) -> (u64, u64) {
        use async_graphql_value::Value as Parsed;
        let most = ids::MOST_CANDIDATES as u64;
        let of_text = |text: &str| -> u64 {
            // Not an id: refused before any lookup.
            crate::graphql::global_id::uuid_of(text)
                .map_or(1, |uuid| ids::candidates(uuid).len() as u64)
        };
        let of_json = |value: &serde_json::Value| value.as_str().map_or(most, of_text);
        let of_const = |value: &Value| match value {
            Value::String(text) => of_text(text),
            _ => most,
        };
        let of_parsed = |value: &Parsed| match value {
            Parsed::String(text) => of_text(text),
            Parsed::Variable(name) => match (
                self.variables.get(name.as_str()),
                self.defaults.get(name.as_str()),
            ) {
                (Some(given), _) => of_json(given),
                (None, Some(default)) => of_const(default),
                (None, None) => most,
            },
            _ => most,
        };
        let argument = if by_ids.list { "ids" } else { "id" };
        let each: Vec<u64> = match field.get_argument(argument).map(|a| &a.node) {
            Some(Parsed::List(items)) => items.iter().map(of_parsed).collect(),
            // A list given, or left to the variable's default.
            Some(Parsed::Variable(name)) => match (
                self.variables.get(name.as_str()),
                self.defaults.get(name.as_str()),
            ) {
                (Some(serde_json::Value::Array(items)), _) => items.iter().map(of_json).collect(),
                (Some(given), _) => vec![of_json(given)],
                (None, Some(Value::List(items))) => items.iter().map(of_const).collect(),
                (None, Some(default)) => vec![of_const(default)],
                (None, None) => vec![most],
            },
            Some(single) => vec![of_parsed(single)],
            None => vec![most],
        };
        let each = each
            .into_iter()
            .map(|n| if by_ids.any_type { n } else { 1 });
        let (ids, lookups) = each.fold((0u64, 0u64), |(ids, lookups), n| {
            (ids.saturating_add(1), lookups.saturating_add(n))
        });
        (ids.max(1), lookups.max(1))
    }

    /// How many times a connection's selections may be returned: its `first`, or the page
    /// size the schema defaults it to.
    fn page_size(&self, field: &async_graphql::parser::types::Field, default: u64) -> u64 {
        let Some(first) = field.get_argument("first") else {
            return default.max(1);
        };
        // Only a number is a page size, so a variable is looked at, never converted whole (a
        // megabyte of variables costs nothing to skip, however often it is referred to).
        let resolved = first.node.clone().into_const_with(|var| {
            let number = match self.variables.get(var.as_str()) {
                Some(given) => given.as_u64().map(|n| Value::Number(n.into())),
                None => self
                    .defaults
                    .get(var.as_str())
                    .filter(|d| matches!(d, Value::Number(_)))
                    .cloned(),
            };
            Ok::<_, std::convert::Infallible>(number.unwrap_or(Value::Null))
        });
        let value = match resolved {
            Ok(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        value.unwrap_or(default).max(1)
    }
}
