//! What a document uses of a schema: the coordinates of the fields, arguments, input fields,
//! enum values, types and directives it names, read with the schema's types.

use std::collections::{BTreeSet, HashSet};

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{
    BaseType, Directive, ExecutableDocument, OperationType, SelectionSet, Type,
};
use async_graphql_value::Value;

use super::model::{Kind, Schema, named};

/// The uses of one document.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Uses {
    /// `Type`, `Type.field`, `Type.field(arg:)`, `Input.field`, `Enum.VALUE`, `@directive`,
    /// `@directive(arg:)`.
    pub coordinates: BTreeSet<String>,
    /// A fragment's type condition inside a selection on another type: (selection's, condition).
    pub spreads: BTreeSet<(String, String)>,
}

/// Walks `document` with the types of `schema`. What the schema doesn't know is named as
/// written and not walked into.
pub fn uses(schema: &Schema, document: &ExecutableDocument) -> Uses {
    let mut walk = Walk {
        schema,
        document,
        uses: Uses::default(),
        fragments: HashSet::new(),
    };
    for (_, operation) in document.operations.iter() {
        let operation = &operation.node;
        let root = match operation.ty {
            OperationType::Query => Some(schema.query.clone()),
            OperationType::Mutation => schema.mutation.clone(),
            OperationType::Subscription => schema.subscription.clone(),
        };
        for variable in &operation.variable_definitions {
            let variable = &variable.node;
            walk.uses
                .coordinates
                .insert(named(&variable.var_type.node).to_owned());
            if let Some(default) = &variable.default_value {
                walk.value(&default.node.clone().into_value(), &variable.var_type.node);
            }
            walk.directives(&variable.directives);
        }
        walk.directives(&operation.directives);
        if let Some(root) = root {
            walk.selections(&root, &operation.selection_set.node);
        }
    }
    // Fragments no operation spreads still name what they use.
    for (name, fragment) in &document.fragments {
        if walk.fragments.insert(name.to_string()) {
            let condition = fragment.node.type_condition.node.on.node.to_string();
            walk.uses.coordinates.insert(condition.clone());
            walk.directives(&fragment.node.directives);
            walk.selections(&condition, &fragment.node.selection_set.node);
        }
    }
    walk.uses
}

struct Walk<'a> {
    schema: &'a Schema,
    document: &'a ExecutableDocument,
    uses: Uses,
    /// Fragments already walked: a fragment's own uses don't depend on where it is spread.
    fragments: HashSet<String>,
}

impl Walk<'_> {
    fn selections(&mut self, parent: &str, set: &SelectionSet) {
        use async_graphql::parser::types::Selection;
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.directives(&field.directives);
                    let name = field.name.node.as_str();
                    if name.starts_with("__") {
                        continue;
                    }
                    let coordinate = format!("{parent}.{name}");
                    let definition = self.schema.field(parent, name);
                    for (arg, value) in &field.arguments {
                        self.uses
                            .coordinates
                            .insert(format!("{coordinate}({}:)", arg.node));
                        if let Some(arg) = definition.and_then(|d| d.args.get(arg.node.as_str())) {
                            self.value(&value.node, &arg.ty);
                        }
                    }
                    self.uses.coordinates.insert(coordinate);
                    if let Some(definition) = definition {
                        let child = named(&definition.ty).to_owned();
                        self.selections(&child, &field.selection_set.node);
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    self.directives(&spread.directives);
                    let name = spread.fragment_name.node.as_str();
                    let Some(fragment) = self.document.fragments.get(name) else {
                        continue;
                    };
                    let condition = fragment.node.type_condition.node.on.node.to_string();
                    self.condition(parent, &condition);
                    if self.fragments.insert(name.to_owned()) {
                        self.directives(&fragment.node.directives);
                        self.selections(&condition, &fragment.node.selection_set.node);
                    }
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    self.directives(&inline.directives);
                    let condition = match &inline.type_condition {
                        Some(condition) => {
                            let condition = condition.node.on.node.to_string();
                            self.condition(parent, &condition);
                            condition
                        }
                        None => parent.to_owned(),
                    };
                    self.selections(&condition, &inline.selection_set.node);
                }
            }
        }
    }

    fn condition(&mut self, parent: &str, condition: &str) {
        self.uses.coordinates.insert(condition.to_owned());
        if parent != condition {
            self.uses
                .spreads
                .insert((parent.to_owned(), condition.to_owned()));
        }
    }

    fn directives(&mut self, directives: &[Positioned<Directive>]) {
        for directive in directives {
            let name = &directive.node.name.node;
            self.uses.coordinates.insert(format!("@{name}"));
            for (arg, _) in &directive.node.arguments {
                self.uses
                    .coordinates
                    .insert(format!("@{name}({}:)", arg.node));
            }
        }
    }

    /// A value written for `ty`: the input fields and enum values it names.
    fn value(&mut self, value: &Value, ty: &Type) {
        match value {
            Value::List(items) => {
                let item_ty = match &ty.base {
                    BaseType::List(inner) => inner.as_ref(),
                    // One value where a list is expected stands for a list of it.
                    BaseType::Named(_) => ty,
                };
                for item in items {
                    self.value(item, item_ty);
                }
            }
            Value::Object(fields) => {
                let name = named(ty);
                self.uses.coordinates.insert(name.to_owned());
                let input = self
                    .schema
                    .types
                    .get(name)
                    .filter(|t| t.kind == Kind::InputObject);
                for (field, value) in fields {
                    self.uses.coordinates.insert(format!("{name}.{field}"));
                    if let Some(field) = input.and_then(|t| t.input_fields.get(field.as_str())) {
                        self.value(value, &field.ty);
                    }
                }
            }
            Value::Enum(value) => {
                self.uses
                    .coordinates
                    .insert(format!("{}.{value}", named(ty)));
            }
            _ => {}
        }
    }
}
