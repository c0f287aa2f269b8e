#!/usr/bin/env node
// A fast stdio MCP echo server for the bridge benchmark (no dependencies).
//
// Line-delimited JSON-RPC on stdin/stdout:
// - `initialize` -> a minimal valid result (protocolVersion echoes the client's,
//   capabilities {}, serverInfo {name: "echo", version: "1.0.0"});
// - notifications (no id) are ignored;
// - every other request -> {"jsonrpc":"2.0","id":<same id>,"result":{"echo":<params>}}.
//
// Answers produced while handling one stdin chunk are written with one write() call, and
// the params are spliced into the answer as raw text (no re-serialisation) to keep the
// server's own cost low: the benchmark is about what sits between clients and this server.
import process from "node:process";

let pending = ""; // incomplete line carried between chunks
let out = [];
let paused = false;

function answer(line) {
  if (line.length === 0) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    out.push(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "parse error" } }));
    return;
  }
  const batch = Array.isArray(msg) ? msg : [msg];
  for (const m of batch) {
    if (m === null || typeof m !== "object" || m.id === undefined || m.method === undefined) {
      continue; // notification or response: ignore
    }
    const id = JSON.stringify(m.id);
    if (m.method === "initialize") {
      const pv = (m.params && m.params.protocolVersion) || "2025-11-25";
      out.push(
        `{"jsonrpc":"2.0","id":${id},"result":{"protocolVersion":${JSON.stringify(pv)},` +
          `"capabilities":{},"serverInfo":{"name":"echo","version":"1.0.0"}}}`,
      );
    } else {
      const params = m.params === undefined ? "null" : JSON.stringify(m.params);
      out.push(`{"jsonrpc":"2.0","id":${id},"result":{"echo":${params}}}`);
    }
  }
}

function flush() {
  if (out.length === 0) return;
  const data = out.join("\n") + "\n";
  out = [];
  if (!process.stdout.write(data) && !paused) {
    // back-pressure: stop reading until stdout drains
    paused = true;
    process.stdin.pause();
    process.stdout.once("drain", () => {
      paused = false;
      process.stdin.resume();
    });
  }
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  let start = 0;
  let nl = chunk.indexOf("\n");
  if (nl !== -1 && pending.length > 0) {
    answer(stripCr(pending + chunk.slice(0, nl)));
    pending = "";
    start = nl + 1;
    nl = chunk.indexOf("\n", start);
  }
  while (nl !== -1) {
    answer(stripCr(chunk.slice(start, nl)));
    start = nl + 1;
    nl = chunk.indexOf("\n", start);
  }
  if (start < chunk.length) pending += chunk.slice(start);
  flush();
});
process.stdin.on("end", () => {
  if (pending.length > 0) answer(stripCr(pending));
  pending = "";
  flush();
  process.stdout.end();
});
process.stdout.on("error", () => process.exit(0));

function stripCr(s) {
  return s.endsWith("\r") ? s.slice(0, -1) : s;
}
