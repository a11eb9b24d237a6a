// The README's TypeScript example runs as written (in a temporary folder, importing this
// checkout's mod.ts) and produces the checkpoint it says it does.

import { readSafetensors } from "@lfdiff/model/safetensors.ts";
import { assert, assertEquals } from "./assert.ts";

Deno.test("README example runs and writes its checkpoint", async () => {
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assertEquals(blocks.length, 1);
  const modUrl = new URL("../mod.ts", import.meta.url).href;
  const dir = await Deno.makeTempDir();
  const cwd = Deno.cwd();
  try {
    const script = `${dir}/example.ts`;
    await Deno.writeTextFile(script, blocks[0].replace(`"./mod.ts"`, JSON.stringify(modUrl)));
    Deno.chdir(dir);
    await import(new URL(`file://${script}`).href);
    const saved = await readSafetensors(`${dir}/conv.safetensors`);
    assertEquals([...saved.tensors.keys()], ["weight", "bias"]);
    assert(saved.tensors.get("weight")!.data.every(Number.isFinite));
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});
