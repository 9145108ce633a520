//! The root fields of an operation, its fragments expanded: what the GraphQL spec's "single
//! root field" rule counts, and what a keyed mutation names.

use async_graphql::parser::types::ExecutableDocument;

/// The response keys of a selection set's fields, its fragments expanded (the GraphQL spec's
/// "single root field" rule counts them); fragments nested past the nesting limit's worth
/// count as one more key each, so a cycle can't loop.
pub(in crate::http::graphql) fn root_keys<'a>(
    document: &'a ExecutableDocument,
    set: &'a async_graphql::parser::types::SelectionSet,
    keys: &mut std::collections::HashSet<&'a str>,
    depth: usize,
    by: RootKey,
) {
    use async_graphql::parser::types::Selection;
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                keys.insert(match by {
                    RootKey::ResponseKey => field.node.response_key().node.as_str(),
                    RootKey::Name => field.node.name.node.as_str(),
                });
            }
            _ if depth > 32 => {
                keys.insert("(fragments nested too deep)");
            }
            Selection::InlineFragment(inline) => {
                root_keys(
                    document,
                    &inline.node.selection_set.node,
                    keys,
                    depth + 1,
                    by,
                );
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    root_keys(
                        document,
                        &fragment.node.selection_set.node,
                        keys,
                        depth + 1,
                        by,
                    );
                }
            }
        }
    }
}

/// What `root_keys` collects of each field: its response key (its alias, if any) or its name.
#[derive(Debug, Clone, Copy)]
pub(in crate::http::graphql) enum RootKey {
    ResponseKey,
    Name,
}
