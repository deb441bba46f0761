//! The message layouts of `wire/schema/messages.json`: per message its flexible versions and
//! its fields (type, versions, tag), nested for structs.

use std::collections::HashMap;

use serde::Deserialize;

/// The generated layouts, compiled into the binary.
const MESSAGES_JSON: &str = include_str!("../../schema/messages.json");

/// An inclusive version range; `[1, 0]` is empty.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Versions(i16, i16);

impl Versions {
    pub fn contains(self, version: i16) -> bool {
        self.0 <= version && version <= self.1
    }
}

/// One field of a message or struct.
#[derive(Debug, Deserialize)]
pub struct Field {
    /// Kafka's type name: `int32`, `string`, `[]int64`, `struct`, `[]struct`, ...
    #[serde(rename = "t")]
    pub kind: String,
    #[serde(rename = "v")]
    pub versions: Versions,
    /// For a nullable struct: the versions in which an INT8 marker precedes it.
    #[serde(rename = "nv")]
    pub nullable_struct: Option<Versions>,
    pub tag: Option<u32>,
    #[serde(rename = "tv")]
    pub tagged_versions: Option<Versions>,
    /// A struct's (or struct array element's) own fields.
    #[serde(rename = "f", default)]
    pub fields: Vec<Field>,
}

/// A whole message: the versions Kafka defines, those encoded flexibly (compact lengths and
/// tagged fields), and its top-level fields.
#[derive(Debug, Deserialize)]
pub struct Layout {
    pub valid: Versions,
    pub flexible: Versions,
    #[serde(rename = "f")]
    pub fields: Vec<Field>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Layouts {
    /// Requests by API key (as text: JSON object keys).
    requests: HashMap<String, Layout>,
    embedded: HashMap<String, Layout>,
}

impl Layouts {
    /// Parses the compiled-in layouts; a unit test proves they parse, so this cannot fail at run time.
    pub(super) fn parse() -> Layouts {
        serde_json::from_str(MESSAGES_JSON).expect("wire/schema/messages.json parses (checked by a unit test)")
    }

    pub(super) fn request(&self, api_key: i16) -> Option<&Layout> {
        self.requests.get(&api_key.to_string())
    }

    pub(super) fn embedded(&self, name: &str) -> Option<&Layout> {
        self.embedded.get(name)
    }
}
