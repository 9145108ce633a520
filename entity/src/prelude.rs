//! Re-exports of every entity under its table's singular name.

pub use crate::api_key::Entity as ApiKey;
pub use crate::endpoint::Entity as Endpoint;
pub use crate::event::Entity as Event;
pub use crate::event_watermark::Entity as EventWatermark;
pub use crate::field_usage::Entity as FieldUsage;
pub use crate::organization::Entity as Organization;
pub use crate::organization_member::Entity as OrganizationMember;
pub use crate::phone_number::Entity as PhoneNumber;
pub use crate::setting::Entity as Setting;
pub use crate::stream_ticket::Entity as StreamTicket;
pub use crate::subscription_slot::Entity as SubscriptionSlot;
