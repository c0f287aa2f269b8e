//! Wire formats shared by every face: the JSON-RPC 2.0 envelope and its error codes, and the
//! MCP facts of both eras (revisions, `_meta` keys, result shapes, client capabilities).

pub mod capabilities;
pub mod jsonrpc;
pub mod mcp;
pub mod modern;
