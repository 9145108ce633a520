//! Static analysis of an operation before it runs: which operation it is, whether it only
//! introspects, and its depth, aliases, directives and cost — so limits and rate limiting
//! can refuse it with a clear reason before any resolver runs.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
    Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Value};

/// Page size assumed for a connection whose `first` is not given (the schema's default).
pub const DEFAULT_FIRST: u64 = 50;
/// Fragments nest at most this deep here; deeper (or cyclic) spreads fail validation anyway.
const MAX_FRAGMENT_NESTING: usize = 32;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnalysisError {
    /// No operation by that name, or several operations and no name.
    UnknownOperation(String),
}

/// Analyses the operation `operation_name` selects (or the only one).
pub fn analyse(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &HashMap<String, serde_json::Value>,
) -> Result<Analysis, AnalysisError> {
    let (name, op) = select_operation(doc, operation_name)?;
    let mut walker = Walker {
        fragments: &doc.fragments,
        variables,
        aliases: 0,
        directives: op.node.directives.len(),
        introspects: false,
    };
    let (depth, cost) = walker.selection_set(&op.node.selection_set, 0);
    Ok(Analysis {
        operation_type: op.node.ty,
        operation_name: name,
        introspection_only: only_meta_fields(&op.node.selection_set, &doc.fragments, 0),
        depth,
        aliases: walker.aliases,
        directives: walker.directives,
        introspects: walker.introspects,
        cost,
    })
}

fn select_operation<'a>(
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

struct Walker<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a HashMap<String, serde_json::Value>,
    aliases: usize,
    directives: usize,
    introspects: bool,
}

impl Walker<'_> {
    /// (depth, cost) of a selection set.
    fn selection_set(&mut self, set: &Positioned<SelectionSet>, nesting: usize) -> (usize, u64) {
        let mut depth = 0;
        let mut cost: u64 = 0;
        for item in &set.node.items {
            let (d, c) = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.directives += field.directives.len();
                    if field.alias.is_some() {
                        self.aliases += 1;
                    }
                    if matches!(field.name.node.as_str(), "__schema" | "__type") {
                        self.introspects = true;
                    }
                    if field.selection_set.node.items.is_empty() {
                        (1, 0)
                    } else {
                        let (child_depth, child_cost) =
                            self.selection_set(&field.selection_set, nesting);
                        let times = self.page_size(field);
                        (
                            child_depth + 1,
                            1u64.saturating_add(times.saturating_mul(child_cost)),
                        )
                    }
                }
                Selection::InlineFragment(inline) => {
                    self.directives += inline.node.directives.len();
                    self.selection_set(&inline.node.selection_set, nesting)
                }
                Selection::FragmentSpread(spread) => {
                    self.directives += spread.node.directives.len();
                    match self.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) if nesting < MAX_FRAGMENT_NESTING => {
                            self.directives += fragment.node.directives.len();
                            self.selection_set(&fragment.node.selection_set, nesting + 1)
                        }
                        _ => (0, 0),
                    }
                }
            };
            depth = depth.max(d);
            cost = cost.saturating_add(c);
        }
        (depth, cost)
    }

    /// How many times a field's selections may be returned: `first` for a connection.
    fn page_size(&self, field: &async_graphql::parser::types::Field) -> u64 {
        let Some(first) = field.get_argument("first") else {
            return if field.name.node == "endpoints" {
                DEFAULT_FIRST
            } else {
                1
            };
        };
        let resolved = first.node.clone().into_const_with(|var| {
            Ok::<_, std::convert::Infallible>(
                self.variables
                    .get(var.as_str())
                    .and_then(|v| Value::from_json(v.clone()).ok())
                    .unwrap_or(Value::Null),
            )
        });
        let value = match resolved {
            Ok(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        value.unwrap_or(DEFAULT_FIRST).max(1)
    }
}

/// True when the selections are only `__schema`, `__type` and `__typename` (through fragments).
fn only_meta_fields(
    set: &Positioned<SelectionSet>,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    nesting: usize,
) -> bool {
    if nesting > MAX_FRAGMENT_NESTING {
        return false;
    }
    set.node.items.iter().all(|item| match &item.node {
        Selection::Field(field) => matches!(
            field.node.name.node.as_str(),
            "__schema" | "__type" | "__typename"
        ),
        Selection::InlineFragment(inline) => {
            only_meta_fields(&inline.node.selection_set, fragments, nesting + 1)
        }
        Selection::FragmentSpread(spread) => fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|f| only_meta_fields(&f.node.selection_set, fragments, nesting + 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    fn run(query: &str, name: Option<&str>, vars: serde_json::Value) -> Analysis {
        let doc = parse_query(query).expect("parses");
        let vars: HashMap<String, serde_json::Value> =
            serde_json::from_value(vars).expect("variables");
        analyse(&doc, name, &vars).expect("analyses")
    }

    #[test]
    fn recognises_introspection() {
        let intro = |q: &str, n: Option<&str>| run(q, n, serde_json::json!({})).introspection_only;
        assert!(intro("{ __schema { types { name } } }", None));
        assert!(intro("query { __typename }", None));
        assert!(intro(
            "query Q { ...F } fragment F on Query { __type(name: \"Endpoint\") { name } }",
            None
        ));
        assert!(!intro("{ __typename endpoints { totalCount } }", None));
        assert!(!intro("{ viewer { mode } }", None));
        assert!(intro(
            "query A { __typename } query B { viewer { mode } }",
            Some("A")
        ));
        assert!(!intro(
            "query A { __typename } query B { viewer { mode } }",
            Some("B")
        ));
    }

    #[test]
    fn connections_cost_first_times_their_selections() {
        let a = run(
            "query($n: Int) { endpoints(first: $n) { edges { node { id phoneNumbers { e164 } } } } }",
            None,
            serde_json::json!({ "n": 10 }),
        );
        // endpoints 1 + 10 × (edges 1 + node 1 + phoneNumbers 1)
        assert_eq!(a.cost, 31);
        assert_eq!(a.depth, 5);
        assert_eq!(a.operation_type, OperationType::Query);
        let default = run(
            "{ endpoints { nodes { id } } }",
            None,
            serde_json::json!({}),
        );
        assert_eq!(default.cost, 1 + DEFAULT_FIRST);
        let aliased = run(
            "{ a: viewer { mode } b: viewer { mode @skip(if: true) } }",
            None,
            serde_json::json!({}),
        );
        assert_eq!(
            (aliased.aliases, aliased.directives, aliased.cost),
            (2, 1, 2)
        );
    }

    #[test]
    fn operation_selection() {
        let doc =
            parse_query("query A { viewer { mode } } mutation B { __typename }").expect("parses");
        let vars = HashMap::new();
        assert!(analyse(&doc, None, &vars).is_err());
        assert_eq!(
            analyse(&doc, Some("B"), &vars).map(|a| a.operation_type),
            Ok(OperationType::Mutation)
        );
        assert!(analyse(&doc, Some("C"), &vars).is_err());
    }
}
