// Open MPI (libmpi.so.40: Debian's libopenmpi3, Open MPI 3 to 5) through Deno.dlopen: init
// and finalize, rank and size (of the world and of this node), allreduce (sum, in place),
// broadcast, barrier and abort. Only Open MPI is supported: its predefined handles
// (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are the addresses of library globals
// (ompi_mpi_comm_world, ompi_mpi_float, ompi_mpi_op_sum), which dlsym gives (native/libc.ts;
// Deno's `statics` read a global's value, not its address). MPICH's handles are integer
// constants of its header, another ABI; its libmpich.so.12 is not looked for.
// MPI is loaded only in a process that a launcher started (mpiLaunched), never otherwise.

import { globalAddresses } from "./libc.ts";
import { envDirs, type Found, openLibrary } from "./library.ts";

const symbols = {
  MPI_Init_thread: { parameters: ["pointer", "pointer", "i32", "buffer"], result: "i32" },
  MPI_Finalize: { parameters: [], result: "i32" },
  MPI_Comm_rank: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_size: { parameters: ["pointer", "buffer"], result: "i32" },
  MPI_Comm_split_type: {
    parameters: ["pointer", "i32", "i32", "pointer", "buffer"],
    result: "i32",
  },
  MPI_Comm_free: { parameters: ["buffer"], result: "i32" },
  MPI_Allreduce: {
    parameters: ["pointer", "buffer", "i32", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  MPI_Bcast: { parameters: ["buffer", "i32", "pointer", "i32", "pointer"], result: "i32" },
  MPI_Barrier: { parameters: ["pointer"], result: "i32" },
  MPI_Abort: { parameters: ["pointer", "i32"], result: "i32" },
  MPI_Error_string: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  MPI_Get_library_version: { parameters: ["buffer", "buffer"], result: "i32" },
} as const;

/** The globals whose addresses are Open MPI's predefined handles. */
const HANDLES = {
  world: "ompi_mpi_comm_world",
  float: "ompi_mpi_float",
  double: "ompi_mpi_double",
  byte: "ompi_mpi_byte",
  sum: "ompi_mpi_op_sum",
  infoNull: "ompi_mpi_info_null",
} as const;

// Values of Open MPI's mpi.h (enums and macros, the same in Open MPI 3, 4 and 5).
const MPI_THREAD_FUNNELED = 1;
const MPI_COMM_TYPE_SHARED = 0;
const MPI_IN_PLACE = Deno.UnsafePointer.create(1n);
const MPI_MAX_ERROR_STRING = 256, MPI_MAX_LIBRARY_VERSION_STRING = 256;
/** MPI counts are C ints: longer arrays go in parts. */
const MAX_COUNT = 1 << 30;

export const MPI_LIBRARY = {
  what: "Open MPI (libmpi.so.40)",
  names: ["libmpi.so.40"],
  dirs: ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64/openmpi/lib"],
  hint: "install Open MPI (apt-get install libopenmpi3 openmpi-bin), or set LFDIFF_MPI_LIB_DIR",
};

/**
 * Whether an MPI launcher started this process: Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, PMIx launchers (Open MPI 5, srun --mpi=pmix) PMIX_RANK.
 */
export function mpiLaunched(env: (name: string) => string | undefined = envVar): boolean {
  return env("OMPI_COMM_WORLD_SIZE") !== undefined || env("PMIX_RANK") !== undefined;
}

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // no --allow-env: not launched as far as we can tell
  }
}

export class MpiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MpiError";
  }
}

type Data = Float32Array | Float64Array | Uint8Array;

export class Mpi {
  readonly #m: Found<typeof symbols>["lib"]["symbols"];
  readonly #h: Record<keyof typeof HANDLES, Deno.PointerValue>;
  readonly path: string;
  readonly rank: number;
  readonly size: number;
  /** This process's rank among the ranks on its node, and their count. */
  readonly localRank: number;
  readonly localSize: number;
  /** MPI_Get_library_version's first line, e.g. "Open MPI v4.1.4, ...". */
  readonly version: string;
  #open = true;

  /** Loads Open MPI and initialises it (MPI_THREAD_FUNNELED: MPI calls from this thread). */
  constructor() {
    const found = openLibrary(
      MPI_LIBRARY.what,
      MPI_LIBRARY.names,
      MPI_LIBRARY.dirs,
      symbols,
      MPI_LIBRARY.hint,
      {
        first: envDirs("LFDIFF_MPI_LIB_DIR"),
      },
    );
    this.#m = found.lib.symbols;
    this.path = found.path;
    // RTLD_GLOBAL before MPI_Init, which loads Open MPI's components.
    const at = globalAddresses(found.path, Object.values(HANDLES));
    this.#h = Object.fromEntries(
      Object.entries(HANDLES).map(([k, n]) => [k, at.get(n)!]),
    ) as Record<keyof typeof HANDLES, Deno.PointerValue>;
    const provided = new Int32Array(1);
    this.#check(
      "MPI_Init_thread",
      this.#m.MPI_Init_thread(null, null, MPI_THREAD_FUNNELED, provided),
    );
    const v = new Uint8Array(MPI_MAX_LIBRARY_VERSION_STRING), len = new Int32Array(1);
    this.#check("MPI_Get_library_version", this.#m.MPI_Get_library_version(v, len));
    this.version = new TextDecoder().decode(v.subarray(0, len[0])).split("\n")[0].trim();
    [this.rank, this.size] = this.#rankAndSize(this.#h.world);
    const node = new BigUint64Array(1);
    this.#check(
      "MPI_Comm_split_type",
      this.#m.MPI_Comm_split_type(
        this.#h.world,
        MPI_COMM_TYPE_SHARED,
        this.rank,
        this.#h.infoNull,
        node,
      ),
    );
    [this.localRank, this.localSize] = this.#rankAndSize(Deno.UnsafePointer.create(node[0]));
    this.#check("MPI_Comm_free", this.#m.MPI_Comm_free(node));
  }

  #rankAndSize(comm: Deno.PointerValue): [number, number] {
    const r = new Int32Array(1), n = new Int32Array(1);
    this.#check("MPI_Comm_rank", this.#m.MPI_Comm_rank(comm, r));
    this.#check("MPI_Comm_size", this.#m.MPI_Comm_size(comm, n));
    return [r[0], n[0]];
  }

  #check(call: string, status: number): void {
    if (status === 0) return;
    const s = new Uint8Array(MPI_MAX_ERROR_STRING), len = new Int32Array(1);
    const text = this.#m.MPI_Error_string(status, s, len) === 0
      ? new TextDecoder().decode(s.subarray(0, len[0]))
      : "unknown error";
    throw new MpiError(`${call} failed: ${text} (MPI error ${status})`);
  }

  #type(a: Data): Deno.PointerValue {
    return a instanceof Float32Array
      ? this.#h.float
      : a instanceof Float64Array
      ? this.#h.double
      : this.#h.byte;
  }

  /** Sums `a` over all ranks, in place (MPI_IN_PLACE). */
  allreduceSum(a: Float32Array | Float64Array): void {
    for (let i = 0; i < a.length; i += MAX_COUNT) {
      const part = a.subarray(i, i + MAX_COUNT);
      this.#check(
        "MPI_Allreduce",
        this.#m.MPI_Allreduce(
          MPI_IN_PLACE,
          part,
          part.length,
          this.#type(a),
          this.#h.sum,
          this.#h.world,
        ),
      );
    }
  }

  /** Overwrites `a` on every rank with `root`'s. */
  broadcast(a: Data, root = 0): void {
    for (let i = 0; i < a.length; i += MAX_COUNT) {
      const part = a.subarray(i, i + MAX_COUNT);
      this.#check(
        "MPI_Bcast",
        this.#m.MPI_Bcast(part, part.length, this.#type(a), root, this.#h.world),
      );
    }
  }

  barrier(): void {
    this.#check("MPI_Barrier", this.#m.MPI_Barrier(this.#h.world));
  }

  /** Ends every rank of the job (a rank that fails alone would leave the others waiting). */
  abort(code: number): void {
    this.#m.MPI_Abort(this.#h.world, code);
  }

  /** MPI_Finalize; idempotent. */
  finalize(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#check("MPI_Finalize", this.#m.MPI_Finalize());
  }
}
