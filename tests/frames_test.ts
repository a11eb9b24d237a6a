// Frame choice for brackets of 2 or more frames: the middle exposure is the reference, the
// farthest frames within 3 stops (else the nearest) the short and long frames, in any file
// order; --ref overrides.

import { chooseFrames } from "@lfdiff/imaging/frames.ts";
import { assertEquals, assertThrows } from "./assert.ts";

Deno.test("chooseFrames: middle exposure as reference, the farthest within reach around it", () => {
  assertEquals(chooseFrames([0, 2, 4]).indices, [0, 1, 2]);
  assertEquals(chooseFrames([4, 0, 2]).indices, [1, 2, 0]); // any file order
  assertEquals(chooseFrames([0, 1, 2, 3, 4]).indices, [0, 2, 4]);
  assertEquals(chooseFrames([0, 2, 5, 7, 9, 11, 13]).indices, [2, 3, 4]); // 7 is nearest 6.5
  assertEquals(chooseFrames([0, 2.9, 6.23, 8.81]).indices, [0, 1, 2]); // 6.23 is the nearest
  assertEquals(chooseFrames([0, 3.2, 6.4]).indices, [0, 1, 2]); // within the slack
  assertEquals(chooseFrames([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).indices, [2, 5, 8]);
  assertEquals(chooseFrames([0, 2, 4, 6]).indices, [0, 1, 2]); // a tie: the darker
  assertEquals(chooseFrames([-2, 0, 2]).indices, [0, 1, 2]); // any origin
});

Deno.test("chooseFrames: two frames and a reference at an end repeat the reference", () => {
  assertEquals(chooseFrames([0, 2]).indices, [0, 0, 1]);
  assertEquals(chooseFrames([0, 2, 4], 0).indices, [0, 0, 1]); // 4 stops is out of reach
  assertEquals(chooseFrames([0, 2, 4], 2).indices, [1, 2, 2]);
  assertEquals(chooseFrames([0, 1, 2, 3, 4], 1), { indices: [0, 1, 4], ref: 1 });
  assertEquals(chooseFrames([0, 3, 6], 0).indices, [0, 0, 1]);
  assertThrows(() => chooseFrames([0, 2, 4], 3), /from 1 to 3, got 4/);
  assertThrows(() => chooseFrames([0]), /at least 2 frames/);
});
