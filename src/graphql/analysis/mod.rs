//! Static analysis of an operation before it runs: which operation it is, whether it only
//! introspects, and its depth, aliases, directives and cost, so that limits can refuse it with
//! a clear reason before any resolver runs. The walk is `walk.rs`; the schema it reads `shape.rs`.

use std::collections::HashMap;

use async_graphql::Positioned;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
    Selection, SelectionSet,
};

/// What a selection that is a fragment selects: its type condition (none: the enclosing type)
/// and its selection set, an inline fragment's or the definition a spread names in
/// `fragments` (`Err` with the name when there is none). `None` for a field.
pub fn fragment<'a>(
    selection: &'a Selection,
    fragments: &'a HashMap<async_graphql::Name, Positioned<FragmentDefinition>>,
) -> Option<Result<(Option<&'a str>, &'a SelectionSet), &'a async_graphql::Name>> {
    Some(match selection {
        Selection::Field(_) => return None,
        Selection::InlineFragment(inline) => Ok((
            inline
                .node
                .type_condition
                .as_ref()
                .map(|condition| condition.node.on.node.as_str()),
            &inline.node.selection_set.node,
        )),
        Selection::FragmentSpread(spread) => {
            let name = &spread.node.fragment_name.node;
            match fragments.get(name) {
                Some(definition) => Ok((
                    Some(definition.node.type_condition.node.on.node.as_str()),
                    &definition.node.selection_set.node,
                )),
                None => Err(name),
            }
        }
    })
}

mod inputs;
mod shape;
mod walk;

pub use inputs::InputTypes;
pub use shape::SchemaShape;
use walk::{Record, Summary, Walker};

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

/// One field's share of an operation's cost, as Shopify's cost debug tells it: its own cost,
/// and its selections' (a page over, for a connection); `None` for a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCost {
    /// Response keys (aliases where given) from the root down to the field.
    pub path: Vec<String>,
    pub defined_cost: u64,
    pub requested_total_cost: u64,
    pub requested_children_cost: Option<u64>,
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
    let (summary, _) = walk(op, doc, variables, shape, None);
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

/// Each field of the operation `operation_name` selects with its cost, children before their
/// parent; the root fields' totals add up to `Analysis::cost`. Fragments are walked at every
/// spread, so this runs only for an operation within the field limit.
pub fn cost_fields(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &serde_json::Map<String, serde_json::Value>,
    shape: &SchemaShape,
) -> Result<Vec<FieldCost>, AnalysisError> {
    let (_, op) = select_operation(doc, operation_name)?;
    let (_, record) = walk(op, doc, variables, shape, Some(Record::default()));
    Ok(record.map(|r| r.fields).unwrap_or_default())
}

/// The walk over `op`'s selections, recording each field's cost when given a `record`.
fn walk(
    op: &Positioned<OperationDefinition>,
    doc: &ExecutableDocument,
    variables: &serde_json::Map<String, serde_json::Value>,
    shape: &SchemaShape,
    record: Option<Record>,
) -> (Summary, Option<Record>) {
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
        record,
    };
    let root = match op.node.ty {
        OperationType::Query => "Query",
        OperationType::Mutation => "Mutation",
        OperationType::Subscription => "Subscription",
    };
    let summary = walker.selection_set(&op.node.selection_set, Some(root));
    (summary, walker.record)
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

#[cfg(test)]
mod tests;
