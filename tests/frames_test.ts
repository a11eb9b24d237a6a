// Frame choice for brackets of 2–9 frames: the middle exposure is the reference, the
// extremes the short and long frames, in any file order; --ref overrides.

import { chooseFrames } from "@lfdiff/imaging/frames.ts";
import { assertEquals, assertThrows } from "./assert.ts";

Deno.test("chooseFrames: middle exposure as reference, the extremes around it", () => {
  assertEquals(chooseFrames([0, 2, 4]).indices, [0, 1, 2]);
  assertEquals(chooseFrames([4, 0, 2]).indices, [1, 2, 0]); // any file order
  assertEquals(chooseFrames([0, 1, 2, 3, 4]).indices, [0, 2, 4]);
  assertEquals(chooseFrames([0, 2, 5, 7, 9, 11, 13]).indices, [0, 3, 6]); // 7 is nearest 6.5
  assertEquals(chooseFrames([0, 2.9, 6.23, 8.81]).indices, [0, 1, 3]); // 2.9 nearest 4.4
  assertEquals(chooseFrames([0, 2, 4, 6]).indices, [0, 1, 3]); // a tie: the darker
  assertEquals(chooseFrames([-2, 0, 2]).indices, [0, 1, 2]); // any origin
});

Deno.test("chooseFrames: two frames and a reference at an end repeat the reference", () => {
  assertEquals(chooseFrames([0, 2]).indices, [0, 0, 1]);
  assertEquals(chooseFrames([0, 2, 4], 0).indices, [0, 0, 2]);
  assertEquals(chooseFrames([0, 2, 4], 2).indices, [0, 2, 2]);
  assertEquals(chooseFrames([0, 1, 2, 3, 4], 1), { indices: [0, 1, 4], ref: 1 });
  assertThrows(() => chooseFrames([0, 2, 4], 3), /from 1 to 3, got 4/);
  assertThrows(() => chooseFrames([0]), /at least 2 frames/);
});
