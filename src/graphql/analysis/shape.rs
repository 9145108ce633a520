//! What the analysis knows of the schema: each field's type, connections' default page sizes
//! and the fields that look objects up by id.

use std::collections::HashMap;

use async_graphql::Value;

use super::InputTypes;

/// What the analysis knows of the schema: each object or interface field's type, and which
/// fields are connections with the page size they default to — read from the schema itself (a
/// field whose type is a `…Connection` and that takes `first`), so a new connection is
/// costed by its own default without a word here.
#[derive(Debug, Clone, Default)]
pub struct SchemaShape {
    /// By type, then field: looked up without making a key of the two names.
    fields: HashMap<String, HashMap<String, FieldShape>>,
    /// The input types, for checking variables (see `inputs`).
    pub inputs: InputTypes,
}

#[derive(Debug, Clone)]
pub(super) struct FieldShape {
    /// The named type the field returns (lists and non-null stripped).
    pub(super) ty: String,
    /// For a connection, the page size when `first` isn't given.
    pub(super) default_first: Option<u64>,
    /// How it finds objects by id, for one that looks ids up (`node`, `nodes`).
    pub(super) by_ids: Option<ByIds>,
}

/// How a field looks objects up by id.
#[derive(Debug, Clone, Copy)]
pub(super) struct ByIds {
    /// It takes a list, `ids`, and returns an object for each (`nodes`); else one `id`.
    pub(super) list: bool,
    /// It returns any type with an id (the `Node` interface), so an id that doesn't say its
    /// type is looked for in each table it may be in, each a lookup paid for.
    pub(super) any_type: bool,
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
        let mut fields: HashMap<String, HashMap<String, FieldShape>> = HashMap::new();
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
                fields
                    .entry(ty.node.name.node.to_string())
                    .or_default()
                    .insert(
                        field.name.node.to_string(),
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

    pub(super) fn field(&self, parent: Option<&str>, name: &str) -> Option<&FieldShape> {
        self.fields.get(parent?)?.get(name)
    }

    /// The named type `parent.name` returns (lists and non-null stripped), if the schema has
    /// that field.
    pub fn field_type(&self, parent: &str, name: &str) -> Option<&str> {
        self.field(Some(parent), name)
            .map(|field| field.ty.as_str())
    }
}
