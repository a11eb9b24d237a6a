// The README's TypeScript examples run as written (in a temporary folder, importing this
// checkout's mod.ts and samples) and produce the files they say they do.

import { readSafetensors } from "@lfdiff/io/safetensors.ts";
import { readImage } from "@lfdiff/io/codecs.ts";
import { assert, assertEquals } from "./assert.ts";

Deno.test("README examples run and write what they say", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assertEquals(blocks.length, 2);
  const repo = new URL("..", import.meta.url).pathname;
  const dir = await Deno.makeTempDir();
  const cwd = Deno.cwd();
  try {
    Deno.chdir(dir);
    for (const [i, block] of blocks.entries()) {
      const script = `${dir}/example${i}.ts`;
      const code = block.replace(`"./mod.ts"`, JSON.stringify(`${repo}mod.ts`)).replaceAll(
        `"samples/`,
        `"${repo}samples/`,
      );
      await Deno.writeTextFile(script, code);
      await import(new URL(`file://${script}`).href);
    }
    const saved = await readSafetensors(`${dir}/conv.safetensors`);
    assertEquals([...saved.tensors.keys()], ["weight", "bias"]);
    assert(saved.tensors.get("weight")!.data.every(Number.isFinite));
    const fused = await readImage(`${dir}/fused.exr`);
    assertEquals([fused.width, fused.height], [384, 256]);
    assert((await Deno.stat(`${dir}/fused.png`)).size > 0);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});
