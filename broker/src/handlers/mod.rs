//! One handler per Kafka API, each in a file named after it. Handlers take the decoded request and
//! return an [`crate::reply::Outcome`]; errors inside a request become Kafka error codes in its response.

pub mod api_versions;
pub mod create_topics;
pub mod metadata;
