//! Which variable values surely pass async-graphql's argument checks, so that a document
//! already validated whole can run without being validated again.
//!
//! async-graphql's strict validation runs every rule over the whole document on every request;
//! of those rules only one reads the request (the arguments rule, which checks each given
//! variable's value where the variable is used). Everything else holds for the text alone, so
//! once a document passed, a request that sends it again needs only its variables checked. The
//! check here accepts a subset of what that rule accepts — a value it is unsure of sends the
//! request through full validation, which then answers exactly as before.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{
    BaseType, OperationDefinition, ServiceDocument, Type, TypeKind, TypeSystemDefinition,
};
use serde_json::Value;

/// An input type, as far as the check knows it; a type it doesn't know is never "surely".
#[derive(Debug, Clone)]
enum InputType {
    Scalar(Scalar),
    Enum(HashSet<String>),
    Object {
        fields: Vec<InputField>,
        one_of: bool,
    },
}

/// The scalars whose accepted values are known. A custom scalar may check its values in
/// ways the schema doesn't show, so only UUID (which async-graphql checks only when parsing
/// the argument, whichever way validation runs) is among them.
#[derive(Debug, Clone, Copy)]
enum Scalar {
    String,
    Id,
    Int,
    Float,
    Boolean,
    Uuid,
}

#[derive(Debug, Clone)]
struct InputField {
    name: String,
    ty: Type,
    /// Non-null with no default: it must be given.
    required: bool,
}

/// The schema's input types.
#[derive(Debug, Clone, Default)]
pub struct InputTypes {
    types: HashMap<String, InputType>,
}

impl InputTypes {
    pub(super) fn from_schema(document: &ServiceDocument) -> Self {
        let mut types: HashMap<String, InputType> = [
            ("String", Scalar::String),
            ("ID", Scalar::Id),
            ("Int", Scalar::Int),
            ("Float", Scalar::Float),
            ("Boolean", Scalar::Boolean),
            ("UUID", Scalar::Uuid),
        ]
        .into_iter()
        .map(|(name, scalar)| (name.to_owned(), InputType::Scalar(scalar)))
        .collect();
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = &ty.node;
            let input = match &ty.kind {
                TypeKind::Enum(e) => InputType::Enum(
                    e.values
                        .iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect(),
                ),
                TypeKind::InputObject(object) => InputType::Object {
                    fields: object
                        .fields
                        .iter()
                        .map(|f| InputField {
                            name: f.node.name.node.to_string(),
                            ty: f.node.ty.node.clone(),
                            required: !f.node.ty.node.nullable && f.node.default_value.is_none(),
                        })
                        .collect(),
                    one_of: ty.directives.iter().any(|d| d.node.name.node == "oneOf"),
                },
                _ => continue,
            };
            types.insert(ty.name.node.to_string(), input);
        }
        Self { types }
    }

    /// Whether the values given for `operation`'s variables surely pass the arguments rule.
    /// A variable that wasn't given is skipped by that rule whichever way validation runs; an
    /// explicit null may meet a non-null argument that the variable's default let it into, so
    /// it isn't "surely".
    pub fn variables_surely_valid(
        &self,
        operation: &OperationDefinition,
        variables: &serde_json::Map<String, Value>,
    ) -> bool {
        operation.variable_definitions.iter().all(|definition| {
            match variables.get(definition.node.name.node.as_str()) {
                None => true,
                Some(Value::Null) => false,
                Some(value) => self.surely_valid(&definition.node.var_type.node, value),
            }
        })
    }

    /// Whether `value` surely is a valid `ty`: a null only where `ty` is nullable, a list
    /// only as a list (not the single value the rules would wrap), and every name known.
    fn surely_valid(&self, ty: &Type, value: &Value) -> bool {
        if value.is_null() {
            return ty.nullable;
        }
        match &ty.base {
            BaseType::List(item) => match value {
                Value::Array(items) => items.iter().all(|v| self.surely_valid(item, v)),
                _ => false,
            },
            BaseType::Named(name) => match self.types.get(name.as_str()) {
                Some(InputType::Scalar(scalar)) => scalar.surely_valid(value),
                Some(InputType::Enum(values)) => value.as_str().is_some_and(|v| values.contains(v)),
                Some(InputType::Object { fields, one_of }) => {
                    let Value::Object(given) = value else {
                        return false;
                    };
                    if *one_of && (given.len() != 1 || given.values().any(Value::is_null)) {
                        return false;
                    }
                    let known = given
                        .keys()
                        .all(|key| fields.iter().any(|f| f.name == *key));
                    known
                        && fields.iter().all(|field| match given.get(&field.name) {
                            Some(v) => self.surely_valid(&field.ty, v),
                            None => !field.required,
                        })
                }
                None => false,
            },
        }
    }
}

impl Scalar {
    fn surely_valid(self, value: &Value) -> bool {
        match self {
            Scalar::String | Scalar::Uuid => value.is_string(),
            // Every Rust integer type async-graphql reads as `Int` accepts these.
            Scalar::Int => value.as_u64().is_some_and(|n| n <= i32::MAX as u64),
            Scalar::Id => value.is_string() || value.is_i64(),
            Scalar::Float => value.is_number(),
            Scalar::Boolean => value.is_boolean(),
        }
    }
}
