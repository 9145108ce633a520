//! `field_usage`: how often a schema field was resolved for a client on a UTC day.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "field_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub day: Date,
    /// The field's schema coordinate, `Type.field`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub coordinate: String,
    /// The name the client gave, as the metrics label it (`other`, `unknown`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_name: String,
    pub count: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
