// Collectives across the processes of a data-parallel job: the interface the trainer uses
// (model/data_parallel.ts) and its three implementations.
//   single process  no launcher: every call is a no-op, and MPI is never loaded;
//   MPI             Open MPI (native/mpi.ts): sums in host memory, CPU buffers in place,
//                   another device's buffers through the host;
//   NCCL            CUDA buffers summed by ncclAllReduce on the backend's one stream, so
//                   the optimiser's kernels queue behind it; MPI carries NCCL's unique id and
//                   the small host-side sums.
// openCommunicator picks one from the launch and the device.

import { Mpi, MPI_LIBRARY, mpiLaunched } from "../native/mpi.ts";
import { Nccl, NCCL_UNIQUE_ID_BYTES } from "../native/nccl.ts";
import { LibraryNotFound } from "../native/library.ts";
import type { Backend, DeviceBuffer } from "./backend.ts";
import { createCudaBackend, type CudaBackend } from "./cuda/backend.ts";
import { getBackend, registerBackend } from "./device.ts";

export interface Communicator {
  readonly rank: number;
  readonly size: number;
  /** What carries the sums, for the log. */
  readonly description: string;
  /** Sums `count` floats of a buffer of `backend` over the ranks, in place. */
  allreduce(backend: Backend, buf: DeviceBuffer, count: number): void;
  /** Sums a host vector (loss terms, flags) over the ranks, in place. */
  allreduceHost(a: Float64Array): void;
  /** Rank 0's values of `a` on every rank. */
  broadcastHost(a: Float32Array | Uint8Array): void;
  barrier(): void;
  /** Ends the job's use of the library (MPI_Finalize); idempotent. */
  close(): void;
}

/** The communicator of a process started on its own. */
export class SingleProcess implements Communicator {
  readonly rank = 0;
  readonly size = 1;
  readonly description = "single process";
  allreduce(): void {}
  allreduceHost(): void {}
  broadcastHost(): void {}
  barrier(): void {}
  close(): void {}
}

/** Open MPI over host memory. */
export class MpiCommunicator implements Communicator {
  constructor(readonly mpi: Mpi) {}

  get rank(): number {
    return this.mpi.rank;
  }

  get size(): number {
    return this.mpi.size;
  }

  get description(): string {
    return `${this.mpi.version.split(",")[0]}, ${this.size} ranks`;
  }

  allreduce(backend: Backend, buf: DeviceBuffer, count: number): void {
    if (buf instanceof Float32Array) return this.mpi.allreduceSum(buf.subarray(0, count));
    const host = backend.download(buf);
    this.mpi.allreduceSum(host.subarray(0, count));
    backend.upload(buf, host);
  }

  allreduceHost(a: Float64Array): void {
    this.mpi.allreduceSum(a);
  }

  broadcastHost(a: Float32Array | Uint8Array): void {
    this.mpi.broadcast(a);
  }

  barrier(): void {
    this.mpi.barrier();
  }

  close(): void {
    this.mpi.finalize();
  }
}

/** What NCCL needs of the CUDA backend (ops/cuda/backend.ts CudaBackend). */
export interface NcclDevice {
  readonly stream: Deno.PointerValue;
  address(b: DeviceBuffer): bigint;
  synchronize(): void;
}

/** The ranks and host-side collectives NCCL is bootstrapped over (MPI in a real job). */
export type Bootstrap = Omit<Communicator, "allreduce" | "description">;

/** NCCL for the device's buffers; everything on the host goes through `host`. */
export class NcclCommunicator implements Communicator {
  readonly #comm: Deno.PointerValue;
  #open = true;

  constructor(
    readonly host: Bootstrap,
    readonly nccl: Nccl,
    readonly device: Backend & NcclDevice,
  ) {
    const id = host.rank === 0 ? nccl.uniqueId() : new Uint8Array(NCCL_UNIQUE_ID_BYTES);
    host.broadcastHost(id);
    this.#comm = nccl.init(id, host.size, host.rank);
  }

  get rank(): number {
    return this.host.rank;
  }

  get size(): number {
    return this.host.size;
  }

  get description(): string {
    return `NCCL ${this.nccl.version} (${this.nccl.path}), ${this.size} ranks`;
  }

  allreduce(backend: Backend, buf: DeviceBuffer, count: number): void {
    if (backend !== this.device) throw new Error(`NCCL sums ${this.device.name} buffers only`);
    this.nccl.allreduceSum(this.#comm, this.device.address(buf), count, this.device.stream);
  }

  allreduceHost(a: Float64Array): void {
    this.host.allreduceHost(a);
  }

  broadcastHost(a: Float32Array | Uint8Array): void {
    this.host.broadcastHost(a);
  }

  barrier(): void {
    this.host.barrier();
  }

  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.device.synchronize(); // no sum still queued when the communicator goes
    this.nccl.destroy(this.#comm);
    this.host.close();
  }
}

export interface CommunicatorChoice {
  comm: Communicator;
  /** Lines worth telling the user (a fallback taken, and why). */
  notes: string[];
}

/** World size the launcher announced, when it did (Open MPI's mpirun does). */
function launchedSize(): number {
  try {
    return Number(Deno.env.get("OMPI_COMM_WORLD_SIZE") ?? 1);
  } catch {
    return 1;
  }
}

/**
 * The communicator for this process: single-process unless an MPI launcher started it. For
 * `device` "cuda" the backend opens on the rank's own GPU (its rank on the node) and NCCL
 * sums its buffers (MPI through the host where NCCL is missing).
 */
export function openCommunicator(device: string): CommunicatorChoice {
  if (!mpiLaunched()) return { comm: new SingleProcess(), notes: [] };
  let mpi: Mpi;
  try {
    mpi = new Mpi();
  } catch (e) {
    // Ranks that each trained alone would write over one run folder.
    if (!(e instanceof LibraryNotFound) || launchedSize() > 1) throw e;
    return {
      comm: new SingleProcess(),
      notes: [`${MPI_LIBRARY.what} not found: training in a single process`],
    };
  }
  if (device !== "cuda") return { comm: new MpiCommunicator(mpi), notes: [] };
  registerBackend("cuda", () => createCudaBackend(mpi.localRank));
  const backend = getBackend("cuda") as CudaBackend;
  if (mpi.size === 1) return { comm: new MpiCommunicator(mpi), notes: [] };
  try {
    return {
      comm: new NcclCommunicator(new MpiCommunicator(mpi), new Nccl(), backend),
      notes: [],
    };
  } catch (e) {
    if (!(e instanceof LibraryNotFound)) throw e;
    return {
      comm: new MpiCommunicator(mpi),
      notes: [`${e.message}: gradients are summed by MPI through host memory`],
    };
  }
}
