//! The commands, one file per command family. A handler reads like its man page: parse the
//! arguments into a typed request, call the core, reply (through `crate::redis`).

pub mod admin;
pub mod aggregate;
pub mod aggregate_cluster;
pub mod dag;
pub mod model;
pub mod pipeline;
pub mod plan_reply;
pub mod script;
pub mod search;
pub mod search_cluster;
pub mod spell;
pub mod stored;
pub mod suggest;
pub mod tensor;
