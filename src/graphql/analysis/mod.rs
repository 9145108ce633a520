//! Static analysis of an operation before it runs: which operation it is, whether it only
//! introspects, and its depth, aliases, directives and cost — so limits and rate limiting
//! can refuse it with a clear reason before any resolver runs.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value};

use crate::domain::ids;

mod inputs;
pub use inputs::InputTypes;

/// What the analysis knows of the schema: each object or interface field's type, and which
/// fields are connections with the page size they default to — read from the schema itself (a
/// field whose type is a `…Connection` and that takes `first`), so a new connection is
/// costed by its own default without a word here.
#[derive(Debug, Clone, Default)]
pub struct SchemaShape {
    fields: HashMap<(String, String), FieldShape>,
    /// The input types, for checking variables (see `inputs`).
    pub inputs: InputTypes,
}

#[derive(Debug, Clone)]
struct FieldShape {
    /// The named type the field returns (lists and non-null stripped).
    ty: String,
    /// For a connection, the page size when `first` isn't given.
    default_first: Option<u64>,
    /// How it finds objects by id, for one that looks ids up (`node`, `nodes`).
    by_ids: Option<ByIds>,
}

/// How a field looks objects up by id.
#[derive(Debug, Clone, Copy)]
struct ByIds {
    /// It takes a list, `ids`, and returns an object for each (`nodes`); else one `id`.
    list: bool,
    /// It returns any type with an id (the `Node` interface), so an id that doesn't say its
    /// type is looked for in each table it may be in, each a lookup paid for.
    any_type: bool,
}

impl SchemaShape {
    /// The shape of the schema `sdl` describes.
    pub fn from_sdl(sdl: &str) -> Self {
        use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
        fn named(ty: &Type) -> &str {
            match &ty.base {
                BaseType::Named(name) => name.as_str(),
                BaseType::List(inner) => named(inner),
            }
        }
        let mut fields = HashMap::new();
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else {
            return Self::default();
        };
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let list = match &ty.node.kind {
                TypeKind::Object(object) => &object.fields,
                TypeKind::Interface(interface) => &interface.fields,
                _ => continue,
            };
            for field in list {
                let field = &field.node;
                let returns = named(&field.ty.node).to_owned();
                let default_first = returns
                    .ends_with("Connection")
                    .then(|| {
                        field
                            .arguments
                            .iter()
                            .find(|a| a.node.name.node == "first")
                            .map(|first| match &first.node.default_value {
                                Some(default) => match &default.node {
                                    Value::Number(n) => n.as_u64().unwrap_or(1),
                                    _ => 1,
                                },
                                None => 1,
                            })
                    })
                    .flatten();
                let any_type = returns == "Node";
                let by_ids = field.arguments.iter().find_map(|a| {
                    match (a.node.name.node.as_str(), &a.node.ty.node.base) {
                        ("ids", BaseType::List(_)) => Some(ByIds {
                            list: true,
                            any_type,
                        }),
                        ("id", BaseType::Named(_)) if any_type => Some(ByIds {
                            list: false,
                            any_type,
                        }),
                        _ => None,
                    }
                });
                fields.insert(
                    (ty.node.name.node.to_string(), field.name.node.to_string()),
                    FieldShape {
                        ty: returns,
                        default_first,
                        by_ids,
                    },
                );
            }
        }
        Self {
            fields,
            inputs: InputTypes::from_schema(&document),
        }
    }

    fn field(&self, parent: Option<&str>, name: &str) -> Option<&FieldShape> {
        self.fields.get(&(parent?.to_owned(), name.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub operation_type: OperationType,
    pub operation_name: Option<String>,
    pub introspection_only: bool,
    /// Whether it selects `__schema` or `__type` anywhere.
    pub introspects: bool,
    pub depth: usize,
    pub aliases: usize,
    pub directives: usize,
    /// Objects the operation may return: each selected object field costs 1, and a
    /// connection's selections cost `first` times over.
    pub cost: u64,
    /// Field selections once every fragment spread is expanded, leaves included: the work of
    /// validating and planning the operation, which fragments spread over and over multiply
    /// however little the answer holds.
    pub fields: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisError {
    /// No operation by that name, or several operations and no name.
    UnknownOperation(String),
}

/// Analyses the operation `operation_name` selects (or the only one). Each fragment is
/// summarised once, so the work is linear in the document however often fragments are
/// spread — a document that spreads fragments exponentially costs no more to analyse.
pub fn analyse(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &serde_json::Map<String, serde_json::Value>,
    shape: &SchemaShape,
) -> Result<Analysis, AnalysisError> {
    let (name, op) = select_operation(doc, operation_name)?;
    let defaults = op
        .node
        .variable_definitions
        .iter()
        .filter_map(|d| {
            let default = d.node.default_value.as_ref()?;
            Some((d.node.name.node.to_string(), default.node.clone()))
        })
        .collect();
    let mut walker = Walker {
        fragments: &doc.fragments,
        variables,
        defaults,
        summaries: HashMap::new(),
        shape,
    };
    let root = match op.node.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    let summary = walker.selection_set(&op.node.selection_set, Some(root));
    Ok(Analysis {
        operation_type: op.node.ty,
        operation_name: name,
        introspection_only: summary.meta_only,
        introspects: summary.introspects,
        depth: summary.depth,
        aliases: summary.aliases,
        directives: summary.directives.saturating_add(op.node.directives.len()),
        cost: summary.cost,
        fields: summary.fields,
    })
}

/// The operation `operation_name` picks from `doc` (or its only one), with its name.
pub fn select_operation<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Result<(Option<String>, &'a Positioned<OperationDefinition>), AnalysisError> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), None) => Ok((None, op)),
        // A single anonymous operation can't be picked by name.
        (DocumentOperations::Single(_), Some(name)) => Err(AnalysisError::UnknownOperation(
            format!("the document has no operation named `{name}`"),
        )),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get(name)
            .map(|op| (Some(name.to_owned()), op))
            .ok_or_else(|| {
                AnalysisError::UnknownOperation(format!(
                    "the document has no operation named `{name}`"
                ))
            }),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            let (name, op) = ops.iter().next().expect("one operation");
            Ok((Some(name.to_string()), op))
        }
        (DocumentOperations::Multiple(_), None) => Err(AnalysisError::UnknownOperation(
            "the document has several operations: name the one to run in `operationName`"
                .to_owned(),
        )),
    }
}

/// What a selection set asks for, as the limits measure it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    depth: usize,
    cost: u64,
    fields: u64,
    aliases: usize,
    directives: usize,
    introspects: bool,
    /// Only `__schema`, `__type` and `__typename` at this level.
    meta_only: bool,
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

enum FragmentState {
    Visiting,
    Done(Summary),
}

struct Walker<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a serde_json::Map<String, serde_json::Value>,
    defaults: HashMap<String, Value>,
    summaries: HashMap<Name, FragmentState>,
    shape: &'a SchemaShape,
}

impl Walker<'_> {
    /// A selection set on `parent` (`None` where the type is unknown: validation refuses it).
    fn selection_set(&mut self, set: &Positioned<SelectionSet>, parent: Option<&str>) -> Summary {
        set.node.items.iter().fold(Summary::EMPTY, |acc, item| {
            acc.and(self.selection(&item.node, parent))
        })
    }

    fn selection(&mut self, selection: &Selection, parent: Option<&str>) -> Summary {
        match selection {
            Selection::Field(field) => {
                let field = &field.node;
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
                    return own;
                }
                let schema_field = self.shape.field(parent, name).cloned();
                let child = self.selection_set(
                    &field.selection_set,
                    schema_field.as_ref().map(|f| f.ty.as_str()),
                );
                let by_ids = schema_field.as_ref().and_then(|f| f.by_ids);
                let times = schema_field
                    .and_then(|f| f.default_first)
                    .map_or(1, |default| self.page_size(field, default));
                // A connection costs itself once and its selections a page over; `nodes`
                // costs an object, with its selections, for each id, and each lookup of an id
                // beyond the one that finds it.
                let cost = match by_ids {
                    Some(by_ids) => {
                        let (ids, lookups) = self.id_lookups(field, by_ids);
                        lookups
                            .saturating_sub(ids)
                            .saturating_add(ids.saturating_mul(1u64.saturating_add(child.cost)))
                    }
                    None => 1u64.saturating_add(times.saturating_mul(child.cost)),
                };
                Summary {
                    depth: child.depth.saturating_add(1),
                    cost,
                    fields: child.fields.saturating_add(1),
                    aliases: own.aliases.saturating_add(child.aliases),
                    directives: own.directives.saturating_add(child.directives),
                    introspects: own.introspects || child.introspects,
                    meta_only: own.meta_only,
                }
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
                            self.summaries
                                .insert(name.clone(), FragmentState::Done(summary));
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

#[cfg(test)]
mod tests;
