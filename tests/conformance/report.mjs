#!/usr/bin/env node
// TEST HELPER for tests/conformance/run: reads the conformance suite's result dirs of one
// scenario set, prints every scenario's outcome side by side, judges them, and writes
// results.md and results.json next to them.
//
//   node report.mjs --dir DIR --set NAME --title TITLE [--scored FILE.yaml] [--gaps known-gaps.txt] [--partial] RUN=ROLE...
//
// DIR/RUN/server-<scenario>-<timestamp>/checks.json is what `conformance server -o DIR/RUN`
// writes. A scenario passes when none of its checks is a FAILURE (what the suite counts;
// WARNINGs are shown as w=N). ROLE is one of:
//   baseline      the direct server: shown, not judged
//   like-baseline must pass every scenario the baseline passes
//   scored        must pass every scenario of --scored (a requirements yaml: its `server:` list)
// except the scenarios known-gaps.txt lists for SET/RUN: those may fail (a pass is reported,
// so the line can go). Exit 1 when a judged scenario fails, 0 otherwise.

import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
// `report.mjs --list-server-scenarios FILE`: print them all, one a line (for run's per-scenario runs).
if (argv[0] === '--list-server-scenarios') {
  console.log(requirementScenarios(argv[1], true).join('\n'));
  process.exit(0);
}
const opt = (name) => {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  return argv.splice(i, 2)[1];
};
const dir = opt('--dir');
const set = opt('--set');
const title = opt('--title') ?? set;
const scoredFile = opt('--scored');
const gapsFile = opt('--gaps');
const partial = argv.includes('--partial'); // only some scenarios were run (run --scenario)
if (partial) argv.splice(argv.indexOf('--partial'), 1);
const runs = argv.map((a) => {
  const [name, role] = a.split('=');
  if (!['baseline', 'like-baseline', 'scored'].includes(role)) throw new Error(`bad RUN=ROLE: ${a}`);
  return { name, role };
});
const baseline = runs.find((r) => r.role === 'baseline')?.name;

/**
 * The server scenarios of a requirements yaml: its `server:` list (scored), and with
 * `all` also the `not_scored:` entries whose leg is server. The yaml is flat enough to read
 * line by line.
 */
function requirementScenarios(file, all = false) {
  const out = [];
  let section = '';
  let pending; // a not_scored entry's scenario, until its `leg:` line
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\S/.test(line)) section = line.replace(/:.*/, '');
    else if (section === 'server') {
      const m = /^\s+-\s+(\S+)\s*$/.exec(line);
      if (m) out.push(m[1]);
    } else if (section === 'not_scored' && all) {
      const sc = /^\s+-\s+scenario:\s*(\S+)/.exec(line);
      if (sc) pending = sc[1];
      if (/^\s+leg:\s*server\s*$/.test(line) && pending) out.push(pending);
    }
  }
  return out;
}
const scored = scoredFile ? new Set(requirementScenarios(scoredFile)) : undefined;

/** known-gaps.txt: `SET/RUN SCENARIO reason...` per line; # comments. Returns Map key -> reason. */
function loadGaps(file) {
  const gaps = new Map();
  if (!file || !existsSync(file)) return gaps;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [where, scenario, ...why] = line.split(/\s+/);
    const [gset, grun] = where.split('/');
    if (gset === set) gaps.set(`${grun} ${scenario}`, why.join(' '));
  }
  return gaps;
}
const gaps = loadGaps(gapsFile);

const DIR_RE = /^server-(.+)-(\d{4}-\d\d-\d\dT[\d-]+Z)$/;
function load(run) {
  const res = new Map();
  const runDir = path.join(dir, run);
  if (!existsSync(runDir)) return res;
  const logFile = `${runDir}.log`;
  const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  // Sorted by time: a scenario re-run later (the header-proxy runs) replaces the earlier result.
  const dirs = readdirSync(runDir)
    .map((d) => DIR_RE.exec(d))
    .filter(Boolean)
    .sort((a, b) => a[2].localeCompare(b[2]) || a[1].localeCompare(b[1]));
  for (const [d, scenario] of dirs) {
    const f = path.join(runDir, d, 'checks.json');
    if (!existsSync(f)) {
      // The scenario threw: the CLI counts one failure and writes no checks.json.
      const esc = scenario.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const why = new RegExp(`Failed to run scenario ${esc}: (.*)`).exec(log)?.[1] ?? `see ${logFile}`;
      res.set(scenario, { pass: false, threw: true, success: 0, failure: 1, warning: 0, failures: [{ id: '(scenario threw)', errorMessage: why }] });
      continue;
    }
    const checks = JSON.parse(readFileSync(f, 'utf8'));
    const by = (s) => checks.filter((c) => c.status === s);
    res.set(scenario, {
      pass: by('FAILURE').length === 0,
      success: by('SUCCESS').length,
      failure: by('FAILURE').length,
      warning: by('WARNING').length,
      failures: by('FAILURE').map((c) => ({ id: c.id, errorMessage: c.errorMessage })),
      warnings: by('WARNING').map((c) => ({ id: c.id, errorMessage: c.errorMessage })),
    });
  }
  return res;
}

const results = Object.fromEntries(runs.map((r) => [r.name, load(r.name)]));
// A run that produced no result at all (the suite could not start, say) fails the set.
const empty = runs.filter((r) => results[r.name].size === 0).map((r) => r.name);
// Scenario order: the requirements file's, else the suite's own (the order the runs ran them).
const scenarios = scoredFile && !partial ? requirementScenarios(scoredFile, true) : [];
for (const r of runs)
  for (const s of results[r.name].keys()) if (!scenarios.includes(s)) scenarios.push(s);
if (scored && !partial) for (const s of scored) if (!scenarios.includes(s)) scenarios.push(s);

const cell = (x) => (!x ? 'missing' : x.threw ? 'FAIL threw' : `${x.pass ? 'PASS' : 'FAIL'} ${x.success}/${x.success + x.failure}${x.warning ? ` w=${x.warning}` : ''}`);
const rows = [];
const failed = []; // judged and failed, not a known gap
const gapFails = []; // known gap, still failing
const gapPasses = []; // known gap that now passes
const usedGaps = new Set();
const counts = Object.fromEntries(runs.map((r) => [r.name, { judged: 0, pass: 0, gap: 0, fail: 0 }]));
for (const s of scenarios) {
  const base = baseline && results[baseline].get(s);
  const verdicts = [];
  const cells = runs.map((r) => {
    const x = results[r.name].get(s);
    let c = cell(x);
    if (r.role === 'baseline') return c;
    const judged = r.role === 'like-baseline' ? !!base?.pass : scored.has(s);
    if (!judged) return `${c} (nj)`;
    const key = `${r.name} ${s}`;
    const gap = gaps.has(key);
    if (gap) usedGaps.add(key);
    const n = counts[r.name];
    n.judged++;
    if (x?.pass) {
      n.pass++;
      if (gap) {
        verdicts.push(`UNEXPECTED PASS ${r.name}`);
        gapPasses.push({ run: r.name, scenario: s });
        c += ' (gap: passes)';
      }
    } else if (gap) {
      n.gap++;
      verdicts.push(`known gap ${r.name}`);
      gapFails.push({ run: r.name, scenario: s, reason: gaps.get(key), failures: x?.failures ?? [{ id: '(missing)', errorMessage: 'no result' }] });
      c += ' (gap)';
    } else {
      n.fail++;
      verdicts.push(`FAIL ${r.name}`);
      failed.push({ run: r.name, scenario: s, failures: x?.failures ?? [{ id: '(missing)', errorMessage: 'the scenario produced no result' }] });
      c += ' !!';
    }
    return c;
  });
  const judgedAny = runs.some((r) => (r.role === 'like-baseline' ? !!base?.pass : r.role === 'scored' && scored.has(s)));
  const verdict = verdicts.length ? verdicts.join('; ') : judgedAny ? 'ok' : scored && !scored.has(s) ? 'not scored' : 'not judged';
  rows.push([s, ...cells, verdict]);
}

// ---------------------------------------------------------------- output
const head = ['scenario', ...runs.map((r) => r.name), 'verdict'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
const out = [];
const say = (s = '') => out.push(s);
say(`## ${title}`);
say();
say(line(head));
say(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) say(line(r));
say();
say('cells: PASS/FAIL successes/checks (w=warnings); (gap) = listed in known-gaps.txt; !! = fails and is not listed; (nj) = not judged');
for (const r of runs) {
  const n = counts[r.name];
  const all = [...results[r.name].values()];
  const what = r.role === 'baseline' ? 'baseline, not judged' : r.role === 'like-baseline' ? `judged on what ${baseline} passes` : 'judged on the scored set';
  say(
    `${r.name}: ${all.filter((x) => x.pass).length} of ${all.length} scenarios pass (${what})` +
      (r.role === 'baseline' ? '' : `; judged ${n.judged}: ${n.pass} pass, ${n.gap} known gaps, ${n.fail} unexpected failures`),
  );
}
const short = (m) => {
  const s = String(m ?? '').replace(/\s+/g, ' ');
  return s.length > 300 ? `${s.slice(0, 297)}...` : s;
};
const listFailures = (items) => {
  for (const g of items) {
    say(`- ${set}/${g.run} ${g.scenario}${g.reason ? `  (known gap: ${g.reason})` : ''}`);
    for (const f of g.failures) say(`    ${f.id}: ${short(f.errorMessage)}`);
  }
};
if (failed.length) {
  say();
  say(`FAILED: ${failed.length} judged scenario run(s) fail and are not in known-gaps.txt:`);
  listFailures(failed);
}
if (gapPasses.length) {
  say();
  say(`UNEXPECTED PASS: ${gapPasses.length} scenario(s) listed in known-gaps.txt now pass; remove their lines:`);
  for (const g of gapPasses) say(`- ${set}/${g.run} ${g.scenario}`);
}
const stale = partial ? [] : [...gaps.keys()].filter((k) => !usedGaps.has(k));
if (stale.length) {
  say();
  say(`known-gaps.txt lines that matched no judged scenario in this run (stale, or the scenario was not run):`);
  for (const k of stale) say(`- ${set}/${k}`);
}
if (gapFails.length) {
  say();
  say(`Known gaps (known-gaps.txt), still failing: ${gapFails.length}`);
  listFailures(gapFails);
}
say();
say(failed.length ? `${set}: FAILED (${failed.length} unexpected failure(s))` : `${set}: ok (${gapFails.length} known gap(s), ${gapPasses.length} unexpected pass(es))`);
console.log(out.join('\n'));

writeFileSync(path.join(dir, 'results.md'), [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n');
writeFileSync(
  path.join(dir, 'results.json'),
  JSON.stringify({ set, title, runs, scenarios: Object.fromEntries(scenarios.map((s) => [s, Object.fromEntries(runs.map((r) => [r.name, results[r.name].get(s) ?? null]))])), failed, gapFails, gapPasses, stale }, null, 2),
);
if (empty.length) console.log(`${set}: FAILED: no scenario results at all from ${empty.join(', ')} (see ${path.join(dir, `${empty[0]}.log`)})`);
process.exit(failed.length || empty.length ? 1 : 0);
