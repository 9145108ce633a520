//! The breaking changes from one schema to another, after GraphQL Inspector's rules: what a
//! client's document or code relied on that the new schema takes away or makes stricter.

use std::collections::BTreeMap;

use async_graphql::parser::types::{BaseType, Type};

use super::model::{Field, InputValue, Kind, Schema, TypeDef};

/// A breaking change, named by its schema coordinate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub coordinate: String,
    pub message: String,
    /// The uses of the old schema the change breaks.
    pub reach: Reach,
    /// The coordinates whose recorded usage means a client relies on what changed.
    pub lookups: Vec<String>,
}

/// Which uses of the old schema a change breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Any use of the type or of one of its members.
    Type(String),
    /// This coordinate, or one of its arguments (`T.f` reaches `T.f(a:)`).
    Coordinate(String),
    /// A fragment on one of the two types inside a selection on the other.
    Spread(String, String),
}

/// What every schema has, printed or not: an SDL that leaves one out still has it.
const BUILT_IN_SCALARS: [&str; 5] = ["String", "Int", "Float", "Boolean", "ID"];
const BUILT_IN_DIRECTIVES: [&str; 5] = ["skip", "include", "deprecated", "specifiedBy", "oneOf"];

/// Every breaking change from `old` to `new`, in the order of their coordinates.
pub fn breaking_changes(old: &Schema, new: &Schema) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, old_ty) in &old.types {
        if BUILT_IN_SCALARS.contains(&name.as_str()) && !new.types.contains_key(name) {
            continue;
        }
        let Some(new_ty) = new.types.get(name) else {
            changes.push(type_wide(
                name,
                old_ty,
                format!("type `{name}` was removed"),
            ));
            continue;
        };
        if old_ty.kind != new_ty.kind {
            let message = format!(
                "`{name}` changed from {} to {}",
                old_ty.kind.describe(),
                new_ty.kind.describe()
            );
            changes.push(type_wide(name, old_ty, message));
            continue;
        }
        match old_ty.kind {
            Kind::Object | Kind::Interface => {
                fields(name, &old_ty.fields, &new_ty.fields, &mut changes);
                for interface in old_ty.interfaces.difference(&new_ty.interfaces) {
                    changes.push(Change {
                        coordinate: name.clone(),
                        message: format!("`{name}` no longer implements `{interface}`"),
                        reach: Reach::Spread(name.clone(), interface.clone()),
                        lookups: field_coordinates(name, old_ty),
                    });
                }
            }
            Kind::Union => {
                for member in old_ty.members.difference(&new_ty.members) {
                    changes.push(Change {
                        coordinate: name.clone(),
                        message: format!("`{member}` was removed from the union `{name}`"),
                        reach: Reach::Spread(name.clone(), member.clone()),
                        lookups: old
                            .types
                            .get(member)
                            .map(|m| field_coordinates(member, m))
                            .unwrap_or_default(),
                    });
                }
            }
            Kind::Enum => {
                for value in old_ty.values.difference(&new_ty.values) {
                    let coordinate = format!("{name}.{value}");
                    changes.push(exact(
                        coordinate.clone(),
                        format!("enum value `{coordinate}` was removed"),
                    ));
                }
            }
            Kind::InputObject => {
                let owner = Owner::InputType(name);
                inputs(
                    owner,
                    &old_ty.input_fields,
                    &new_ty.input_fields,
                    &mut changes,
                );
            }
            Kind::Scalar => {}
        }
    }
    for (name, old_args) in &old.directives {
        let Some(new_args) = new.directives.get(name) else {
            if BUILT_IN_DIRECTIVES.contains(&name.as_str()) {
                continue;
            }
            let coordinate = format!("@{name}");
            changes.push(exact(
                coordinate.clone(),
                format!("directive `{coordinate}` was removed"),
            ));
            continue;
        };
        inputs(Owner::Directive(name), old_args, new_args, &mut changes);
    }
    changes.sort_by(|a, b| (&a.coordinate, &a.message).cmp(&(&b.coordinate, &b.message)));
    changes
}

/// Whether a field that answered `old` may answer `new`: the same type, or stricter
/// (a nullable type may become non-null, never the reverse).
pub fn safe_output(old: &Type, new: &Type) -> bool {
    if old.nullable && !new.nullable {
        return same_base(&old.base, &new.base, safe_output);
    }
    old.nullable == new.nullable && same_base(&old.base, &new.base, safe_output)
}

/// Whether a value written for `old` is still accepted by `new`: the same type, or looser
/// (a non-null type may become nullable, never the reverse).
pub fn safe_input(old: &Type, new: &Type) -> bool {
    if !old.nullable && new.nullable {
        return same_base(&old.base, &new.base, safe_input);
    }
    old.nullable == new.nullable && same_base(&old.base, &new.base, safe_input)
}

fn same_base(old: &BaseType, new: &BaseType, inner: fn(&Type, &Type) -> bool) -> bool {
    match (old, new) {
        (BaseType::Named(a), BaseType::Named(b)) => a == b,
        (BaseType::List(a), BaseType::List(b)) => inner(a, b),
        _ => false,
    }
}

fn fields(
    parent: &str,
    old: &BTreeMap<String, Field>,
    new: &BTreeMap<String, Field>,
    changes: &mut Vec<Change>,
) {
    for (name, old_field) in old {
        let coordinate = format!("{parent}.{name}");
        let Some(new_field) = new.get(name) else {
            changes.push(exact(
                coordinate.clone(),
                format!("field `{coordinate}` was removed"),
            ));
            continue;
        };
        if !safe_output(&old_field.ty, &new_field.ty) {
            let message = format!(
                "field `{coordinate}` changed type from `{}` to `{}`",
                old_field.ty, new_field.ty
            );
            changes.push(exact(coordinate.clone(), message));
        }
        inputs(
            Owner::Field(&coordinate),
            &old_field.args,
            &new_field.args,
            changes,
        );
    }
}

/// What arguments or input fields belong to.
#[derive(Clone, Copy)]
enum Owner<'a> {
    /// A field's arguments, by its coordinate.
    Field(&'a str),
    /// A directive's arguments, by its name.
    Directive(&'a str),
    InputType(&'a str),
}

impl Owner<'_> {
    fn coordinate(self, member: &str) -> String {
        match self {
            Self::Field(field) => format!("{field}({member}:)"),
            Self::Directive(name) => format!("@{name}({member}:)"),
            Self::InputType(name) => format!("{name}.{member}"),
        }
    }

    /// What a use missing a new required member still names: the field or directive, or
    /// the input type (written as a literal or declared as a variable's type).
    fn whole(self) -> String {
        match self {
            Self::Field(field) => field.to_owned(),
            Self::Directive(name) => format!("@{name}"),
            Self::InputType(name) => name.to_owned(),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::InputType(_) => "input field",
            _ => "argument",
        }
    }
}

fn inputs(
    owner: Owner,
    old: &BTreeMap<String, InputValue>,
    new: &BTreeMap<String, InputValue>,
    changes: &mut Vec<Change>,
) {
    let what = owner.what();
    for (name, old_value) in old {
        let coordinate = owner.coordinate(name);
        let Some(new_value) = new.get(name) else {
            changes.push(exact(
                coordinate.clone(),
                format!("{what} `{coordinate}` was removed"),
            ));
            continue;
        };
        let newly_required = new_value.required() && !old_value.required();
        let compatible = safe_input(&old_value.ty, &new_value.ty);
        if compatible && !newly_required {
            continue;
        }
        let message = if compatible || old_value.ty.base == new_value.ty.base {
            format!(
                "{what} `{coordinate}` became required (`{}` to `{}`)",
                old_value.ty, new_value.ty
            )
        } else {
            format!(
                "{what} `{coordinate}` changed type from `{}` to `{}`",
                old_value.ty, new_value.ty
            )
        };
        // A use that leaves out a newly required value breaks as well as one that gives it.
        let reach = if newly_required {
            owner.whole()
        } else {
            coordinate.clone()
        };
        changes.push(Change {
            lookups: vec![reach.clone()],
            reach: Reach::Coordinate(reach),
            coordinate,
            message,
        });
    }
    for (name, new_value) in new {
        if new_value.required() && !old.contains_key(name) {
            let coordinate = owner.coordinate(name);
            let whole = owner.whole();
            changes.push(Change {
                message: format!("required {what} `{coordinate}` was added"),
                coordinate,
                lookups: vec![whole.clone()],
                reach: Reach::Coordinate(whole),
            });
        }
    }
}

fn exact(coordinate: String, message: String) -> Change {
    Change {
        reach: Reach::Coordinate(coordinate.clone()),
        lookups: vec![coordinate.clone()],
        coordinate,
        message,
    }
}

fn type_wide(name: &str, old: &TypeDef, message: String) -> Change {
    let mut lookups = vec![name.to_owned()];
    lookups.extend(old.member_coordinates(name));
    Change {
        coordinate: name.to_owned(),
        message,
        reach: Reach::Type(name.to_owned()),
        lookups,
    }
}

fn field_coordinates(name: &str, ty: &TypeDef) -> Vec<String> {
    ty.fields.keys().map(|f| format!("{name}.{f}")).collect()
}
