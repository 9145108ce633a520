//! Recognises operations that only introspect, which run without credentials so that GraphiQL
//! and schema tools can load the schema.

use async_graphql::parser::parse_query;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned};
use std::collections::HashMap;

/// True when the operation to run selects nothing but `__schema`, `__type` and `__typename`
/// at its root (through fragments too). Unparseable documents are not introspection.
pub fn is_introspection_only(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(doc) = parse_query(query) else {
        return false;
    };
    let ExecutableDocument {
        operations,
        fragments,
    } = &doc;
    let check = |set: &Positioned<SelectionSet>| only_meta_fields(set, fragments, 0);
    match operations {
        DocumentOperations::Single(op) => check(&op.node.selection_set),
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops
                .get(name)
                .is_some_and(|op| check(&op.node.selection_set)),
            None => ops.values().all(|op| check(&op.node.selection_set)),
        },
    }
}

fn only_meta_fields(
    set: &Positioned<SelectionSet>,
    fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    depth: usize,
) -> bool {
    // Fragment cycles are a validation error; don't follow them here.
    if depth > 16 {
        return false;
    }
    set.node.items.iter().all(|item| match &item.node {
        Selection::Field(field) => matches!(
            field.node.name.node.as_str(),
            "__schema" | "__type" | "__typename"
        ),
        Selection::InlineFragment(inline) => {
            only_meta_fields(&inline.node.selection_set, fragments, depth + 1)
        }
        Selection::FragmentSpread(spread) => fragments
            .get(&spread.node.fragment_name.node)
            .is_some_and(|f| only_meta_fields(&f.node.selection_set, fragments, depth + 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::is_introspection_only;

    #[test]
    fn recognises_introspection() {
        assert!(is_introspection_only(
            "{ __schema { types { name } } }",
            None
        ));
        assert!(is_introspection_only("query { __typename }", None));
        assert!(is_introspection_only(
            "query Q { ...F } fragment F on Query { __type(name: \"Endpoint\") { name } }",
            None
        ));
        assert!(!is_introspection_only(
            "{ __typename endpoints { totalCount } }",
            None
        ));
        assert!(!is_introspection_only("{ viewer { mode } }", None));
        assert!(!is_introspection_only("not graphql", None));
        assert!(!is_introspection_only(
            "query A { __typename } query B { viewer { mode } }",
            None
        ));
        assert!(is_introspection_only(
            "query A { __typename } query B { viewer { mode } }",
            Some("A")
        ));
    }
}
