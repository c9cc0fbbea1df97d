//! [`Source`]: the built-in vendors, and the sources a configuration declares (`kind = "http"`),
//! whose names are only known at run time.
//!
//! A declared source is a small index into a process-wide table of names, so `Source` stays
//! `Copy` and cheap to compare and hash everywhere (ids, cursors, cache keys, metrics). The
//! table only grows (a name once declared keeps its index for the life of the process) and is
//! bounded ([`MAX_DECLARED`]).
//!
//! The GraphQL enum `Source` lists the built-in sources and the declared sources of the schema
//! being built ([`with_schema_sources`]); the exported `schema/schema.graphql` has none.

use async_graphql::registry::{MetaEnumValue, MetaType, MetaTypeId, Registry};
use async_graphql::{
    ContextSelectionSet, InputType, InputValueError, InputValueResult, Name, OutputType,
    Positioned, ServerResult, Value,
};
use std::borrow::Cow;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::sync::RwLock;

/// The upstream platforms Chronograph reads. The built-in variants' order is the tie-break
/// order of the merged timeline (DESIGN.md §10), so do not reorder; declared sources come after
/// them, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    Rocketchat,
    Celigo,
    Hexabase,
    Truto,
    Dealcloud,
    /// A source declared in configuration (`[sources.<name>] kind = "http"`).
    Declared(Declared),
}

/// The index of a declared source's name in the process-wide table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Declared(u16);

/// Most distinct declared-source names one process accepts.
pub const MAX_DECLARED: usize = 256;

/// Longest declared-source name.
pub const MAX_NAME_LEN: usize = 48;

struct Names {
    /// `(config key, GraphQL name)`, by index.
    names: Vec<(&'static str, &'static str)>,
}

static DECLARED: RwLock<Names> = RwLock::new(Names { names: Vec::new() });

thread_local! {
    /// The declared sources of the schema being built on this thread.
    static SCHEMA_SOURCES: RefCell<Vec<Source>> = const { RefCell::new(Vec::new()) };
}

impl Source {
    /// Every built-in source, in enum (and listing) order.
    pub const ALL: [Source; 5] = [
        Source::Rocketchat,
        Source::Celigo,
        Source::Hexabase,
        Source::Truto,
        Source::Dealcloud,
    ];

    /// The GraphQL enum spelling, also used in `extensions.source` and global ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Rocketchat => "ROCKETCHAT",
            Source::Celigo => "CELIGO",
            Source::Hexabase => "HEXABASE",
            Source::Truto => "TRUTO",
            Source::Dealcloud => "DEALCLOUD",
            Source::Declared(declared) => declared.names().1,
        }
    }

    /// Inverse of [`Source::as_str`] (declared sources once declared).
    pub fn parse(text: &str) -> Option<Source> {
        if let Some(builtin) = Source::ALL.into_iter().find(|s| s.as_str() == text) {
            return Some(builtin);
        }
        let table = DECLARED.read().unwrap_or_else(|e| e.into_inner());
        table
            .names
            .iter()
            .position(|(_, name)| *name == text)
            .map(|i| Source::Declared(Declared(i as u16)))
    }

    /// The lower-case key used in config (`[sources.celigo]`).
    pub fn config_key(self) -> &'static str {
        match self {
            Source::Rocketchat => "rocketchat",
            Source::Celigo => "celigo",
            Source::Hexabase => "hexabase",
            Source::Truto => "truto",
            Source::Dealcloud => "dealcloud",
            Source::Declared(declared) => declared.names().0,
        }
    }

    /// Whether this is a source declared in configuration.
    pub fn is_declared(self) -> bool {
        matches!(self, Source::Declared(_))
    }

    /// The source a configuration key declares (`github_deliveries` → `GITHUB_DELIVERIES`),
    /// interned for the life of the process. Refused: a built-in name, a name that is not
    /// `[a-z][a-z0-9_]*` (so its upper-cased form is a GraphQL enum value), a name over
    /// [`MAX_NAME_LEN`], and more than [`MAX_DECLARED`] names.
    pub fn declare(key: &str) -> Result<Source, String> {
        if Source::ALL.iter().any(|s| s.config_key() == key) {
            return Err(format!("`{key}` is a built-in source"));
        }
        let mut chars = key.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && key.len() <= MAX_NAME_LEN;
        if !well_formed {
            return Err(format!(
                "a declared source's name must be lower-case letters, digits and `_`, start with a letter and be at most {MAX_NAME_LEN} characters (it becomes the GraphQL enum value {})",
                key.to_ascii_uppercase()
            ));
        }
        let mut table = DECLARED.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = table.names.iter().position(|(k, _)| *k == key) {
            return Ok(Source::Declared(Declared(i as u16)));
        }
        if table.names.len() >= MAX_DECLARED {
            return Err(format!("more than {MAX_DECLARED} declared sources"));
        }
        // Leaked once per distinct name (bounded above), so `as_str` can stay `&'static str`.
        let key: &'static str = Box::leak(key.to_string().into_boxed_str());
        let name: &'static str = Box::leak(key.to_ascii_uppercase().into_boxed_str());
        table.names.push((key, name));
        Ok(Source::Declared(Declared((table.names.len() - 1) as u16)))
    }
}

impl Declared {
    fn names(self) -> (&'static str, &'static str) {
        let table = DECLARED.read().unwrap_or_else(|e| e.into_inner());
        table
            .names
            .get(usize::from(self.0))
            .copied()
            .unwrap_or(("unknown", "UNKNOWN"))
    }
}

impl Ord for Source {
    fn cmp(&self, other: &Self) -> Ordering {
        fn rank(s: &Source) -> u8 {
            match s {
                Source::Rocketchat => 0,
                Source::Celigo => 1,
                Source::Hexabase => 2,
                Source::Truto => 3,
                Source::Dealcloud => 4,
                Source::Declared(_) => 5,
            }
        }
        match (self, other) {
            (Source::Declared(a), Source::Declared(b)) if a != b => a.names().1.cmp(b.names().1),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

impl PartialOrd for Source {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl serde::Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(deserializer)?;
        Source::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown source `{text}`")))
    }
}

/// Build a schema on this thread with `declared` in its `Source` enum.
pub fn with_schema_sources<R>(declared: &[Source], build: impl FnOnce() -> R) -> R {
    let before = SCHEMA_SOURCES.with(|s| s.replace(declared.to_vec()));
    let built = build();
    SCHEMA_SOURCES.with(|s| s.replace(before));
    built
}

fn create_type_info(registry: &mut Registry, input: bool) -> String {
    let meta = |_: &mut Registry| {
        let mut enum_values = async_graphql::indexmap::IndexMap::new();
        let mut add = |name: &str, description: Option<String>| {
            enum_values.insert(
                name.to_string(),
                MetaEnumValue {
                    name: name.to_string(),
                    description,
                    deprecation: Default::default(),
                    visible: None,
                    inaccessible: false,
                    tags: Vec::new(),
                    directive_invocations: Vec::new(),
                },
            );
        };
        for builtin in Source::ALL {
            add(builtin.as_str(), None);
        }
        SCHEMA_SOURCES.with(|declared| {
            for source in declared.borrow().iter() {
                add(
                    source.as_str(),
                    Some(format!(
                        "Declared in configuration: `[sources.{}]`, kind = \"http\".",
                        source.config_key()
                    )),
                );
            }
        });
        MetaType::Enum {
            name: "Source".to_string(),
            description: Some(
                "The upstream platforms Chronograph reads. Declaration order is the tie-break order of the\nmerged timeline (DESIGN.md §10), so do not reorder.".to_string(),
            ),
            enum_values,
            visible: None,
            inaccessible: false,
            tags: Vec::new(),
            rust_typename: Some(std::any::type_name::<Source>()),
            directive_invocations: Vec::new(),
            requires_scopes: Vec::new(),
        }
    };
    if input {
        registry.create_input_type::<Source, _>(MetaTypeId::Enum, meta)
    } else {
        registry.create_output_type::<Source, _>(MetaTypeId::Enum, meta)
    }
}

impl InputType for Source {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("Source")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        create_type_info(registry, true)
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let value = value.unwrap_or_default();
        let text = match &value {
            Value::Enum(name) => name.as_str(),
            Value::String(text) => text.as_str(),
            _ => return Err(InputValueError::expected_type(value)),
        };
        Source::parse(text).ok_or_else(|| {
            InputValueError::custom(format_args!(
                r#"Enumeration type does not contain value "{text}"."#
            ))
        })
    }

    fn to_value(&self) -> Value {
        Value::Enum(Name::new(self.as_str()))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

impl OutputType for Source {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("Source")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        create_type_info(registry, false)
    }

    async fn resolve(
        &self,
        _: &ContextSelectionSet<'_>,
        _field: &Positioned<async_graphql::parser::types::Field>,
    ) -> ServerResult<Value> {
        Ok(Value::Enum(Name::new(self.as_str())))
    }
}

impl From<Source> for Value {
    fn from(source: Source) -> Value {
        Value::Enum(Name::new(source.as_str()))
    }
}
