//! A schema's SDL read into what the check compares: each type's kind and members, the
//! directives and the root operation types.

use std::collections::{BTreeMap, BTreeSet};

use async_graphql::parser::types::{
    BaseType, FieldDefinition, InputValueDefinition, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::{Positioned, parse_schema};

/// What kind of type a name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Scalar => "a scalar",
            Self::Object => "an object type",
            Self::Interface => "an interface",
            Self::Union => "a union",
            Self::Enum => "an enum",
            Self::InputObject => "an input type",
        }
    }
}

/// An argument or an input field.
#[derive(Debug, Clone)]
pub struct InputValue {
    pub ty: Type,
    pub has_default: bool,
}

impl InputValue {
    /// A value a client must give: non-null, without a default.
    pub fn required(&self) -> bool {
        !self.ty.nullable && !self.has_default
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub ty: Type,
    pub args: BTreeMap<String, InputValue>,
}

/// A named type; only the members its kind has are filled.
#[derive(Debug, Clone)]
pub struct TypeDef {
    pub kind: Kind,
    /// An object's or interface's fields.
    pub fields: BTreeMap<String, Field>,
    /// An input object's fields.
    pub input_fields: BTreeMap<String, InputValue>,
    pub values: BTreeSet<String>,
    pub members: BTreeSet<String>,
    pub interfaces: BTreeSet<String>,
}

impl TypeDef {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            fields: BTreeMap::new(),
            input_fields: BTreeMap::new(),
            values: BTreeSet::new(),
            members: BTreeSet::new(),
            interfaces: BTreeSet::new(),
        }
    }

    /// The coordinates of the type's members: `T.field`, `T.field(arg:)`, `Enum.VALUE`.
    pub fn member_coordinates(&self, name: &str) -> Vec<String> {
        let mut coordinates = Vec::new();
        for (field, def) in &self.fields {
            coordinates.push(format!("{name}.{field}"));
            coordinates.extend(def.args.keys().map(|arg| format!("{name}.{field}({arg}:)")));
        }
        coordinates.extend(self.input_fields.keys().map(|f| format!("{name}.{f}")));
        coordinates.extend(self.values.iter().map(|v| format!("{name}.{v}")));
        coordinates
    }
}

#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub types: BTreeMap<String, TypeDef>,
    pub directives: BTreeMap<String, BTreeMap<String, InputValue>>,
    pub query: String,
    pub mutation: Option<String>,
    pub subscription: Option<String>,
}

impl Schema {
    /// Reads SDL; the error is the parser's, on one line.
    pub fn parse(sdl: &str) -> Result<Self, String> {
        let document = parse_schema(sdl).map_err(|e| one_line(&e.to_string()))?;
        let mut schema = Self::default();
        let mut roots = None;
        for definition in document.definitions {
            match definition {
                TypeSystemDefinition::Schema(def) => {
                    let def = def.node;
                    let name =
                        |n: Option<Positioned<async_graphql::Name>>| n.map(|n| n.node.to_string());
                    roots = Some((name(def.query), name(def.mutation), name(def.subscription)));
                }
                TypeSystemDefinition::Directive(def) => {
                    let def = def.node;
                    schema
                        .directives
                        .insert(def.name.node.to_string(), input_values(&def.arguments));
                }
                TypeSystemDefinition::Type(def) => {
                    let def = def.node;
                    let kind = match &def.kind {
                        TypeKind::Scalar => Kind::Scalar,
                        TypeKind::Object(_) => Kind::Object,
                        TypeKind::Interface(_) => Kind::Interface,
                        TypeKind::Union(_) => Kind::Union,
                        TypeKind::Enum(_) => Kind::Enum,
                        TypeKind::InputObject(_) => Kind::InputObject,
                    };
                    // An extension adds to the type it extends; a second definition is an error.
                    let type_name = def.name.node.to_string();
                    if let Some(defined) = schema.types.get(&type_name) {
                        if !def.extend {
                            return Err(format!("type `{type_name}` is defined twice"));
                        }
                        if defined.kind != kind {
                            return Err(format!(
                                "type `{type_name}` is extended as another kind of type"
                            ));
                        }
                    }
                    let ty = schema
                        .types
                        .entry(type_name)
                        .or_insert_with(|| TypeDef::new(kind));
                    match def.kind {
                        TypeKind::Scalar => {}
                        TypeKind::Object(object) => {
                            ty.fields.extend(fields(&object.fields));
                            ty.interfaces.extend(names(&object.implements));
                        }
                        TypeKind::Interface(interface) => {
                            ty.fields.extend(fields(&interface.fields));
                            ty.interfaces.extend(names(&interface.implements));
                        }
                        TypeKind::Union(union) => ty.members.extend(names(&union.members)),
                        TypeKind::Enum(e) => ty
                            .values
                            .extend(e.values.iter().map(|v| v.node.value.node.to_string())),
                        TypeKind::InputObject(input) => {
                            ty.input_fields.extend(input_values(&input.fields))
                        }
                    }
                }
            }
        }
        let explicit = roots.is_some();
        let (query, mutation, subscription) = roots.unwrap_or_else(|| {
            let named = |n: &str| schema.types.contains_key(n).then(|| n.to_owned());
            (
                Some("Query".to_owned()),
                named("Mutation"),
                named("Subscription"),
            )
        });
        for root in [&query, &mutation, &subscription].into_iter().flatten() {
            if explicit && !schema.types.contains_key(root) {
                return Err(format!("the schema's root type `{root}` is not defined"));
            }
        }
        schema.query = query.unwrap_or_else(|| "Query".to_owned());
        schema.mutation = mutation;
        schema.subscription = subscription;
        Ok(schema)
    }

    /// The field `field` of the type `parent`, if it has one.
    pub fn field(&self, parent: &str, field: &str) -> Option<&Field> {
        self.types.get(parent)?.fields.get(field)
    }
}

/// The named type at the bottom of a type's lists and non-nulls.
pub fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => named(inner),
    }
}

/// A message's lines joined into one, for a one-line error.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn names(list: &[Positioned<async_graphql::Name>]) -> impl Iterator<Item = String> + '_ {
    list.iter().map(|n| n.node.to_string())
}

fn fields(list: &[Positioned<FieldDefinition>]) -> impl Iterator<Item = (String, Field)> + '_ {
    list.iter().map(|f| {
        let f = &f.node;
        (
            f.name.node.to_string(),
            Field {
                ty: f.ty.node.clone(),
                args: input_values(&f.arguments),
            },
        )
    })
}

fn input_values(list: &[Positioned<InputValueDefinition>]) -> BTreeMap<String, InputValue> {
    list.iter()
        .map(|v| {
            let v = &v.node;
            (
                v.name.node.to_string(),
                InputValue {
                    ty: v.ty.node.clone(),
                    has_default: v.default_value.is_some(),
                },
            )
        })
        .collect()
}
