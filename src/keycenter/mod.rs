//! Storage security: key files encrypted through the FISCO BCOS key center before they
//! reach Tars. `cipher` is the pure encryption the node undoes at start; `client` speaks
//! the key center's JSON-RPC and checks every encryption by a round trip.

pub mod cipher;
pub mod client;

pub use client::{KeyCenterClient, KeyCenterError};
