// The header's one-glance summary: "3 servers ready", "2 ready · 1 restarting", "1 failed".

import type { ServerStatus, StateName } from '../types';

export type Tone = 'ok' | 'busy' | 'bad' | 'idle';

/** How each state reads in a badge, and its colour family. */
export const STATE_LOOK: Record<StateName, { words: string; tone: Tone }> = {
  running: { words: 'Running', tone: 'ok' },
  starting: { words: 'Starting', tone: 'busy' },
  // Alive but silent: not crashed, yet nothing can use it until someone looks.
  'not-answering': { words: 'Not answering', tone: 'bad' },
  stopping: { words: 'Stopping', tone: 'busy' },
  backoff: { words: 'Restarting', tone: 'busy' },
  stopped: { words: 'Stopped', tone: 'idle' },
  crashed: { words: 'Crashed', tone: 'bad' },
  failed: { words: 'Failed', tone: 'bad' },
  'no-command': { words: 'Not installed', tone: 'bad' },
};

export interface Aggregate {
  text: string;
  tone: Tone;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function aggregate(servers: readonly ServerStatus[]): Aggregate {
  if (servers.length === 0) return { text: 'No servers configured', tone: 'idle' };
  const count = (...states: StateName[]) => servers.filter((s) => states.includes(s.state)).length;
  const ready = count('running');
  const restarting = count('backoff');
  const starting = count('starting');
  const notAnswering = count('not-answering');
  const stopping = count('stopping');
  const failed = count('failed', 'crashed');
  const missing = count('no-command');
  const stopped = count('stopped');

  if (ready === servers.length) {
    return { text: `${plural(ready, 'server', 'servers')} ready`, tone: 'ok' };
  }
  const parts: string[] = [];
  if (ready) parts.push(`${ready} ready`);
  if (restarting) parts.push(`${restarting} restarting`);
  if (starting) parts.push(`${starting} starting`);
  if (notAnswering) parts.push(`${notAnswering} not answering`);
  if (stopping) parts.push(`${stopping} stopping`);
  if (failed) parts.push(`${failed} failed`);
  if (missing) parts.push(`${missing} not installed`);
  if (stopped) parts.push(`${stopped} stopped`);
  const tone: Tone = failed || missing || notAnswering ? 'bad' : restarting || starting || stopping ? 'busy' : stopped ? 'idle' : 'ok';
  return { text: parts.join(' · '), tone };
}
