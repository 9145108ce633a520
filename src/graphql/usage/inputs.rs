//! The input coordinates a field's arguments use: each argument given (`Type.field(arg:)`),
//! each input field set (`Input.field`) and each enum value passed (`Enum.VALUE`), whether the
//! document writes them or a variable carries them — so usage, deprecation warnings and
//! `schema check` see an argument, input field or enum value as they see a field.

use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Name, Positioned, Variables};
use async_graphql_value::{ConstValue, Value};

/// Calls `used(parent, member)` for every input coordinate `arguments` use, the arguments of
/// `parent_type.field` (variables read from `variables`).
pub fn walk(
    registry: &Registry,
    parent_type: &str,
    field: &str,
    arguments: &[(Positioned<Name>, Positioned<Value>)],
    variables: Option<&Variables>,
    used: &mut impl FnMut(&str, &str),
) {
    if arguments.is_empty() {
        return;
    }
    let Some(meta) = registry
        .types
        .get(parent_type)
        .and_then(|ty| ty.field_by_name(field))
    else {
        return;
    };
    for (name, value) in arguments {
        let Some(argument) = meta.args.get(name.node.as_str()) else {
            continue;
        };
        used(parent_type, &format!("{field}({}:)", name.node));
        match &value.node {
            // The common case: a whole argument in one variable, read without a copy.
            Value::Variable(variable) => {
                if let Some(value) = variables.and_then(|v| v.get(variable)) {
                    constant(registry, &argument.ty, value, used);
                }
            }
            literal => {
                let Ok(value) = literal.clone().into_const_with(|variable| {
                    Ok::<_, std::convert::Infallible>(
                        variables
                            .and_then(|v| v.get(&variable))
                            .cloned()
                            .unwrap_or(ConstValue::Null),
                    )
                });
                constant(registry, &argument.ty, &value, used);
            }
        }
    }
}

/// The input fields and enum values `value`, of type `ty`, uses.
fn constant(registry: &Registry, ty: &str, value: &ConstValue, used: &mut impl FnMut(&str, &str)) {
    match (MetaTypeName::create(ty), value) {
        (MetaTypeName::NonNull(inner), _) => constant(registry, inner, value, used),
        (MetaTypeName::List(item), ConstValue::List(items)) => {
            for value in items {
                constant(registry, item, value, used);
            }
        }
        // A single value where a list is expected is a list of one (input coercion).
        (MetaTypeName::List(item), _) => constant(registry, item, value, used),
        (MetaTypeName::Named(name), _) => match (registry.types.get(name), value) {
            (Some(MetaType::InputObject { input_fields, .. }), ConstValue::Object(fields)) => {
                for (field, value) in fields {
                    if let Some(meta) = input_fields.get(field.as_str()) {
                        used(name, field);
                        constant(registry, &meta.ty, value, used);
                    }
                }
            }
            // JSON variables carry an enum value as a string.
            (Some(MetaType::Enum { enum_values, .. }), ConstValue::Enum(value_name))
                if enum_values.contains_key(value_name.as_str()) =>
            {
                used(name, value_name)
            }
            (Some(MetaType::Enum { enum_values, .. }), ConstValue::String(value_name))
                if enum_values.contains_key(value_name.as_str()) =>
            {
                used(name, value_name)
            }
            _ => {}
        },
    }
}
