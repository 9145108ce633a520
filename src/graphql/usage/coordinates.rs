//! Every schema coordinate an operation can use, numbered once from the schema's registry, and
//! the types the walk over a response needs: each output type's fields with the type each
//! returns, and which types are interfaces or unions (and what they may be).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::registry::{MetaType, MetaTypeName, Registry};

/// A map looked up once per field of every response: foldhash rather than std's SipHash, whose
/// resistance to chosen keys buys nothing in a table that only the schema fills.
type Map<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// A type's number among the schema's types.
pub(super) type TypeId = u32;

/// What a coordinate (`Type.field`, `Type.field(argument:)`, `Input.field`, `Enum.VALUE`) is
/// counted under.
pub(super) type CoordinateId = u32;

/// One type of the schema.
pub(super) struct TypeEntry {
    name: String,
    /// Its fields (with their arguments as `field(argument:)`), input fields or enum values.
    members: Map<Member>,
    /// For an interface or union, the object types it may be; `None` for any other type.
    possible: Option<Vec<TypeId>>,
}

/// A member of a type.
#[derive(Debug, Clone, Copy)]
pub(super) struct Member {
    pub(super) coordinate: CoordinateId,
    /// For a field, the named type it returns (lists and non-null stripped).
    pub(super) returns: Option<TypeId>,
}

/// The schema's types and coordinates.
pub(super) struct Coordinates {
    types: Vec<TypeEntry>,
    ids: Map<TypeId>,
    /// Each coordinate's name, by its number.
    names: Vec<Arc<str>>,
    /// The root types of queries, mutations and subscriptions.
    roots: [Option<TypeId>; 3],
}

impl Coordinates {
    /// Numbers every type and coordinate of `registry`, introspection's own types left out.
    pub(super) fn of(registry: &Registry) -> Self {
        let visible = || registry.types.iter().filter(|(n, _)| !n.starts_with("__"));
        let ids: Map<TypeId> = visible()
            .enumerate()
            .map(|(id, (name, _))| (name.clone(), id as TypeId))
            .collect();
        let named = |ty: &str| ids.get(MetaTypeName::concrete_typename(ty)).copied();
        let mut names = Vec::new();
        let mut coordinate = |owner: &str, member: &str| {
            names.push(Arc::from(format!("{owner}.{member}")));
            (names.len() - 1) as CoordinateId
        };
        let mut types = Vec::with_capacity(ids.len());
        for (name, ty) in visible() {
            let mut members = Map::default();
            let mut add = |member: String, returns: Option<TypeId>| {
                let id = coordinate(name, &member);
                members.insert(
                    member,
                    Member {
                        coordinate: id,
                        returns,
                    },
                );
            };
            match ty {
                MetaType::Object { fields, .. } | MetaType::Interface { fields, .. } => {
                    for (field, meta) in fields {
                        add(field.clone(), named(&meta.ty));
                        for argument in meta.args.keys() {
                            add(format!("{field}({argument}:)"), None);
                        }
                    }
                }
                MetaType::InputObject { input_fields, .. } => {
                    for field in input_fields.keys() {
                        add(field.clone(), None);
                    }
                }
                MetaType::Enum { enum_values, .. } => {
                    for value in enum_values.keys() {
                        add(value.clone(), None);
                    }
                }
                MetaType::Scalar { .. } | MetaType::Union { .. } => {}
            }
            let possible = ty
                .possible_types()
                .map(|possible| possible.iter().filter_map(|n| named(n)).collect());
            types.push(TypeEntry {
                name: name.clone(),
                members,
                possible,
            });
        }
        let root = |name: Option<&str>| name.and_then(|name| ids.get(name).copied());
        let roots = [
            root(Some(&registry.query_type)),
            root(registry.mutation_type.as_deref()),
            root(registry.subscription_type.as_deref()),
        ];
        Self {
            types,
            ids,
            names,
            roots,
        }
    }

    /// The root type of operations of type `ty`.
    pub(super) fn root(&self, ty: OperationType) -> Option<TypeId> {
        self.roots[match ty {
            OperationType::Query => 0,
            OperationType::Mutation => 1,
            OperationType::Subscription => 2,
        }]
    }

    /// The number of the type named `name`.
    pub(super) fn id(&self, name: &str) -> Option<TypeId> {
        self.ids.get(name).copied()
    }

    pub(super) fn name(&self, ty: TypeId) -> &str {
        &self.types[ty as usize].name
    }

    /// Whether `ty` is an interface or a union.
    pub(super) fn is_abstract(&self, ty: TypeId) -> bool {
        self.types[ty as usize].possible.is_some()
    }

    /// A member of `ty`: a field, `field(argument:)`, an input field or an enum value.
    pub(super) fn member(&self, ty: TypeId, name: &str) -> Option<Member> {
        self.types[ty as usize].members.get(name).copied()
    }

    /// A member of the type named `owner`.
    pub(super) fn member_of(&self, owner: &str, name: &str) -> Option<Member> {
        self.member(self.id(owner)?, name)
    }

    /// Whether a fragment on the type named `condition` applies to an object of type `ty`.
    pub(super) fn applies(&self, condition: &str, ty: TypeId) -> bool {
        self.id(condition).is_some_and(|condition| {
            condition == ty
                || self.types[condition as usize]
                    .possible
                    .as_ref()
                    .is_some_and(|possible| possible.contains(&ty))
        })
    }

    /// The name of a coordinate.
    pub(super) fn coordinate(&self, id: CoordinateId) -> &Arc<str> {
        &self.names[id as usize]
    }
}
