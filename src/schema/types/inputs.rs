//! Input types of `history` and `changes`.

use super::super::scalars::DateTime;
use crate::domain::{HistoryFilter, HistoryKind, Source, SubjectRef};
use async_graphql::{InputObject, OneofObject};

/// What a history stream is read for. Exactly one member is given (`@oneOf`).
#[derive(OneofObject, Clone, Debug)]
pub enum HistorySubject {
    /// ROCKETCHAT webhook history, CELIGO audit log.
    Integration(IntegrationRefInput),
    HexabaseItem(HexabaseItemRef),
    /// Entry type id ("2013") or apiName ("interaction").
    #[graphql(validator(max_length = 512))]
    DealcloudEntryType(String),
}

/// An integration of one source.
#[derive(InputObject, Clone, Debug)]
#[graphql(name = "IntegrationRef")]
pub struct IntegrationRefInput {
    pub source: Source,
    /// At most 512 bytes, like every id a caller gives.
    #[graphql(validator(max_length = 512))]
    pub source_id: String,
}

/// A Hexabase datastore item.
#[derive(InputObject, Clone, Debug)]
pub struct HexabaseItemRef {
    #[graphql(validator(max_length = 512))]
    pub application_id: String,
    #[graphql(validator(max_length = 512))]
    pub datastore_id: String,
    #[graphql(validator(max_length = 512))]
    pub item_id: String,
}

/// Filters on history; `since` is inclusive, `until` exclusive, `kinds` and `actorId` exact.
#[derive(InputObject, Clone, Debug, Default)]
#[graphql(name = "HistoryFilter")]
pub struct HistoryFilterInput {
    pub since: Option<DateTime>,
    pub until: Option<DateTime>,
    pub kinds: Option<Vec<HistoryKind>>,
    #[graphql(validator(max_length = 512))]
    pub actor_id: Option<String>,
}

impl From<HistorySubject> for SubjectRef {
    fn from(subject: HistorySubject) -> Self {
        match subject {
            HistorySubject::Integration(r) => SubjectRef::Integration {
                source: r.source,
                source_id: r.source_id.into(),
            },
            HistorySubject::HexabaseItem(r) => SubjectRef::HexabaseItem {
                application_id: r.application_id,
                datastore_id: r.datastore_id,
                item_id: r.item_id,
            },
            HistorySubject::DealcloudEntryType(entry_type) => {
                SubjectRef::DealcloudEntryType { entry_type }
            }
        }
    }
}

impl From<HistoryFilterInput> for HistoryFilter {
    fn from(input: HistoryFilterInput) -> Self {
        HistoryFilter {
            since: input.since.map(|d| d.0),
            until: input.until.map(|d| d.0),
            kinds: input.kinds,
            actor_id: input.actor_id,
        }
    }
}
