//! Truto wire structs (upstreams/truto.md) and their mapping into domain types. Timestamps
//! arrive as RFC 3339 or as zone-less `YYYY-MM-DD HH:MM:SS` (UTC); both parse.

use crate::domain::datetime::parse_field;
use crate::domain::{CompactString, Integration, Sharing, Source, Team};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

const SOURCE: &str = "TRUTO";

/// `GET /integration`: one page of the list and the cursor of the next (null on the last).
#[derive(Deserialize)]
pub struct WireList {
    #[serde(default)]
    pub result: Vec<Value>,
    pub next_cursor: Option<String>,
}

/// An integration with its embedded owner team.
#[derive(Deserialize)]
pub struct WireIntegration {
    pub id: String,
    pub name: Option<String>,
    pub category: Option<String>,
    pub sharing: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub installed_environment: Option<Vec<String>>,
    pub team: Option<Value>,
}

/// The team object embedded in every integration.
#[derive(Deserialize)]
pub struct WireTeam {
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
    pub logo: Option<String>,
    pub is_verified: Option<bool>,
    pub is_white_label: Option<bool>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

fn time(field: &str, value: &Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    parse_field(SOURCE, field, value.as_deref())
}

fn sharing(value: Option<&str>) -> Option<Sharing> {
    match value?.to_ascii_lowercase().as_str() {
        "allow" => Some(Sharing::Allow),
        "ask" => Some(Sharing::Ask),
        "deny" => Some(Sharing::Deny),
        other => {
            tracing::warn!(
                source = SOURCE,
                value = %crate::redact::scrub(other),
                "unknown sharing value, using null"
            );
            None
        }
    }
}

impl WireIntegration {
    /// `environment_id`, when configured, narrows `installedEnvironments` to that environment
    /// (what Truto's `GET /integration/{id}?environment_id=` reports), so the list and the
    /// single read agree.
    pub fn into_domain(self, raw: &Value, environment_id: Option<&str>) -> Integration {
        let team = self.team.as_ref().and_then(|value| {
            WireTeam::deserialize(value)
                .ok()
                .map(|w| Arc::new(w.into_domain(value)))
        });
        let installed = self.installed_environment.map(|envs| match environment_id {
            Some(only) => envs.into_iter().filter(|e| e == only).collect(),
            None => envs,
        });
        Integration {
            source: Source::Truto,
            name: CompactString::from(self.name.unwrap_or_else(|| self.id.clone())),
            description: None,
            category: self.category,
            enabled: None,
            sharing: sharing(self.sharing.as_deref()),
            installed_environments: installed,
            created_at: time("created_at", &self.created_at),
            updated_at: time("updated_at", &self.updated_at),
            team,
            raw: raw.clone().into(),
            source_id: self.id.into(),
        }
    }
}

impl WireTeam {
    /// Map the embedded team (`logo` → `logoUrl`, `is_verified` → `verified`, …).
    pub fn into_domain(self, raw: &Value) -> Team {
        Team {
            source: Source::Truto,
            name: CompactString::from(self.name.unwrap_or_else(|| self.id.clone())),
            domain: self.domain,
            logo_url: self.logo,
            verified: self.is_verified,
            white_label: self.is_white_label,
            created_at: time("created_at", &self.created_at),
            updated_at: time("updated_at", &self.updated_at),
            raw: raw.clone().into(),
            source_id: self.id.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::datetime::format_utc_ms;

    fn example(name: &str) -> Value {
        let text = match name {
            "list" => include_str!("../../../tests/fixtures/truto/integrations.list.200.json"),
            _ => include_str!("../../../tests/fixtures/truto/integration.200.json"),
        };
        serde_json::from_str(text).expect("example parses")
    }

    fn map(raw: &Value, env: Option<&str>) -> Integration {
        WireIntegration::deserialize(raw)
            .expect("integration")
            .into_domain(raw, env)
    }

    #[test]
    fn the_contract_example_maps_with_its_team() {
        let raw = example("one");
        let integration = map(&raw, None);
        assert_eq!(integration.name, "zendesk");
        assert_eq!(integration.category.as_deref(), Some("helpdesk"));
        assert_eq!(integration.sharing, Some(Sharing::Allow));
        assert_eq!(
            integration.installed_environments,
            Some(vec!["8a2b104d-74a6-47f2-b93e-c6b611e82391".to_string()])
        );
        let team = integration.team.expect("team");
        assert_eq!(team.name, "Northwind Platform");
        assert_eq!(
            team.logo_url.as_deref(),
            Some("https://cdn.northwind.example/logo.png")
        );
        assert_eq!((team.verified, team.white_label), (Some(true), Some(false)));
        assert_eq!(
            team.created_at.map(format_utc_ms).as_deref(),
            Some("2022-01-18T08:30:00.000Z")
        );
        let narrowed = map(&raw, Some("00000000-0000-4000-8000-000000000000"));
        assert_eq!(narrowed.installed_environments, Some(vec![]));
    }

    #[test]
    fn zone_less_timestamps_are_utc() {
        let list = example("list");
        let hubspot = map(&list["result"][1], None);
        assert_eq!(hubspot.sharing, Some(Sharing::Ask));
        assert_eq!(
            hubspot.created_at.map(format_utc_ms).as_deref(),
            Some("2024-01-09T14:03:27.000Z")
        );
        assert_eq!(
            hubspot.updated_at.map(format_utc_ms).as_deref(),
            Some("2024-04-28T07:55:02.000Z")
        );
    }
}
