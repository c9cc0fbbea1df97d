//! GraphQL object types over the domain types. Resolvers here only compose: they ask the
//! source traits (through loaders) and never build URLs.

mod entities;
mod history;
mod inputs;

pub use entities::{connection_id, raw, ConnectionNode, FlowNode, IntegrationNode, TeamNode};
pub use history::{history_connection, ActorObject, HistoryEntryNode, SubjectObject};
pub use inputs::{HexabaseItemRef, HistoryFilterInput, HistorySubject, IntegrationRefInput};
