//! Wire formats shared by every face: the JSON-RPC 2.0 envelope and its error codes.

pub mod jsonrpc;
pub mod mcp;
