// The worker behind ./synth_stream.ts: reads the maps once, then makes the scenes it is
// asked for, in order, and sends each back with its buffers transferred.
/// <reference lib="deno.worker" />

import { readMaps } from "./synth/maps.ts";
import { synthesizeScene, type SynthOptions } from "./synth/scene.ts";
import type { RadianceMap } from "./synth/maps.ts";

let maps: RadianceMap[] = [];

self.onmessage = async (e: MessageEvent) => {
  const m = e.data;
  try {
    if (m.init) {
      const all = await readMaps(m.init.from, { maxPixels: m.init.maxPixels });
      maps = all.filter((x) => !m.init.exclude.includes(x.name));
      if (!maps.length) throw new Error("no maps left for synthetic training scenes");
      self.postMessage({ ready: true, maps: maps.length });
      return;
    }
    const o: SynthOptions = { ...m.scene, maps };
    const s = synthesizeScene(o);
    const ldrs = s.ldrs.map((l) => ({
      width: l.width,
      height: l.height,
      bitDepth: l.bitDepth,
      data: l.data,
    }));
    self.postMessage(
      { id: m.scene.id, ldrs, evs: s.evs, gt: s.gt.data },
      [...ldrs.map((l) => l.data.buffer), s.gt.data.buffer] as ArrayBuffer[],
    );
  } catch (err) {
    self.postMessage({ error: (err as Error).message });
  }
};
