//! The controllers' Raft RPCs over TCP: [`frame`] (the wire format), [`client`] (what a node
//! sends its peers), [`server`] (what it answers on the controller listener).

pub mod client;
pub mod frame;
pub mod server;
