// The header's one-glance summary and each state's colour family. What a state *means* —
// its health, its words, the overall summary — is the engine's (engine/src/status/meaning.rs);
// this only chooses colours for it.

import type { Health, Snapshot } from '../types';

/** A colour family: the engine's health, plus what only the dock draws (info markers). */
export type Tone = Health | 'info';

export interface Aggregate {
  text: string;
  tone: Tone;
}

export function aggregate(snap: Snapshot): Aggregate {
  return { text: snap.overview.summary, tone: snap.overview.health };
}
