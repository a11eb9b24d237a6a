// Highlights beyond the network's frames: where the network's short frame clips, the result
// takes the radiance of the bracket's shorter frames; elsewhere it is left as it was.

import { expose, plainSensor } from "@lfdiff/datasets/synth/camera.ts";
import { extendRange } from "@lfdiff/imaging/extend.ts";
import { prepareBracket } from "@lfdiff/imaging/prepare.ts";
import { Rng } from "@lfdiff/ops/rng.ts";
import { assert, assertEquals, strictEqual } from "./assert.ts";

Deno.test("a 5-frame bracket: highlights the short frame clipped come from the shorter one", () => {
  const w = 64, h = 32, radiance = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // a ramp, and a lamp 3x brighter than the network's short frame can record
      const v = x >= 40 && x < 52 && y >= 8 && y < 20 ? 0.75 : 0.002 + 0.05 * (x / w);
      radiance.fill(v, (y * w + x) * 3, (y * w + x) * 3 + 3);
    }
  }
  const evs = [0, 2, 4, 6, 8], cam = plainSensor({ shot: 1e-6, read: 1e-9 }), rng = new Rng(1);
  const ldrs = evs.map((ev) => expose(radiance, w, h, ev, cam, rng));
  const p = prepareBracket({ ldrs, evs }, { response: "gamma", align: "off" });
  assertEquals(p.choice.indices, [1, 2, 3]); // EV 2, 4, 6: the network's short frame is EV 2
  // What a network saturating at its short frame's range gives: the truth, clipped at 1.
  const scale = 4; // shortest-exposure units of the EV-2 frame
  const net = {
    width: w,
    height: h,
    channels: 3,
    bitDepth: 32,
    data: radiance.map((v) => Math.min(v * scale, 1)),
  };
  const ext = extendRange(net, p);
  assertEquals(ext.frames, [0]);
  const at = (img: { data: Float32Array }, x: number, y: number) => img.data[(y * w + x) * 3 + 1];
  assert(Math.abs(at(ext.hdr, 45, 12) / (0.75 * scale) - 1) < 0.02, `lamp ${at(ext.hdr, 45, 12)}`);
  strictEqual(at(ext.hdr, 10, 12), at(net, 10, 12), "a pixel the short frame saw is untouched");
  assert(ext.highlights > 0.05 && ext.highlights < 0.15, `${ext.highlights}`);
  // Three frames: nothing to extend with.
  const three = prepareBracket({ ldrs: ldrs.slice(1, 4), evs: evs.slice(1, 4) }, {
    response: "gamma",
  });
  strictEqual(extendRange(net, three).hdr, net);
});
