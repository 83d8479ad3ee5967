/**
 * A paged KV cache in POSIX shared memory, laid out as vLLM's CPU KV cache is and as the LMCache server maps it:
 * one float16 file per layer, /dev/shm/<name>, holding [2 (K, V), blocks, block size, heads, head size]. The
 * server copies whole blocks in and out itself; this side reads and writes them with plain file I/O, which sees
 * the same pages.
 */
import { open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { SharedTensor } from './wire.js';

const SHM_DIR = '/dev/shm';
const FLOAT16_BYTES = 2;

export interface KvGeometry {
  layers: number;
  blocks: number;
  blockSize: number;
  heads: number;
  headSize: number;
}

export class SharedKvCache {
  /** Bytes of one block of one plane (K or V) of one layer. */
  readonly planeBlockBytes: number;
  /** Bytes of one block of one layer, K then V: what readBlock returns and writeBlock takes. */
  readonly blockBytes: number;

  private constructor(
    readonly geometry: KvGeometry,
    readonly shmNames: string[],
    private readonly files: FileHandle[],
  ) {
    this.planeBlockBytes = geometry.blockSize * geometry.heads * geometry.headSize * FLOAT16_BYTES;
    this.blockBytes = 2 * this.planeBlockBytes;
  }

  /** Creates (or replaces) the layer files `/dev/shm/<prefix>-<layer>`, zero-filled. */
  static async create(prefix: string, geometry: KvGeometry): Promise<SharedKvCache> {
    const shmNames = Array.from({ length: geometry.layers }, (_, layer) => `/${prefix}-${layer}`);
    const bytes = 2 * geometry.blocks * geometry.blockSize * geometry.heads * geometry.headSize * FLOAT16_BYTES;
    const files: FileHandle[] = [];
    for (const name of shmNames) {
      const file = await open(path.join(SHM_DIR, name), 'w+', 0o600);
      await file.truncate(bytes);
      files.push(file);
    }
    return new SharedKvCache(geometry, shmNames, files);
  }

  /** What registration declares for each layer. */
  tensors(): SharedTensor[] {
    const { blocks, blockSize, heads, headSize } = this.geometry;
    return this.shmNames.map((shmName) => ({
      shmName,
      nbytes: 2 * blocks * this.planeBlockBytes,
      dtype: 'float16',
      shape: [2, blocks, blockSize, heads, headSize],
    }));
  }

  private planeOffset(plane: number, block: number): number {
    return (plane * this.geometry.blocks + block) * this.planeBlockBytes;
  }

  /** `count` consecutive blocks of one plane (0: K, 1: V) of a layer, as they lie in the file. */
  async readPlaneBlocks(layer: number, plane: number, firstBlock: number, count: number): Promise<Buffer> {
    const data = Buffer.alloc(count * this.planeBlockBytes);
    await this.files[layer].read(data, 0, data.length, this.planeOffset(plane, firstBlock));
    return data;
  }

  /** Writes whole blocks of one plane of a layer from `firstBlock` on. */
  async writePlaneBlocks(layer: number, plane: number, firstBlock: number, data: Buffer): Promise<void> {
    if (data.length % this.planeBlockBytes !== 0) {
      throw new Error(`plane blocks are ${this.planeBlockBytes} bytes each, got ${data.length} bytes`);
    }
    await this.files[layer].write(data, 0, data.length, this.planeOffset(plane, firstBlock));
  }

  /** One block of a layer, K then V. */
  async readBlock(layer: number, block: number): Promise<Buffer> {
    return Buffer.concat([
      await this.readPlaneBlocks(layer, 0, block, 1),
      await this.readPlaneBlocks(layer, 1, block, 1),
    ]);
  }

  async writeBlock(layer: number, block: number, data: Buffer): Promise<void> {
    if (data.length !== this.blockBytes) throw new Error(`a block is ${this.blockBytes} bytes, got ${data.length}`);
    await this.writePlaneBlocks(layer, 0, block, data.subarray(0, this.planeBlockBytes));
    await this.writePlaneBlocks(layer, 1, block, data.subarray(this.planeBlockBytes));
  }

  /** Closes and removes the files; the server's mappings stay valid until it unmaps them. */
  async close(): Promise<void> {
    for (const file of this.files) await file.close();
    for (const name of this.shmNames) await rm(path.join(SHM_DIR, name), { force: true });
  }
}
