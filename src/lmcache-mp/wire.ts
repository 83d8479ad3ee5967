/**
 * The wire format of LMCache's multiprocess server (PyPI lmcache 0.5.6, lmcache/v1/multiprocess/transport/
 * zmq_impl): a client DEALER sends the multipart message [request uid, operation, payload…], each frame one
 * msgpack value; the server's ROUTER answers [request uid, operation, response?]. Operations travel as the fixed
 * legacy ids below. Structured payloads are msgpack maps with the server's field names, in its field order.
 */
import { decode, encode, ExtData } from '@msgpack/msgpack';

/** The legacy operation ids the server still routes by (wire.py's LEGACY_OPERATION_IDS), of the calls used here. */
export const OPERATION_IDS = {
  register_kv_cache: 1,
  store: 6,
  retrieve: 7,
  lookup: 8,
  query_prefetch_status: 9,
  free_lookup_locks: 12,
  end_session: 13,
  clear: 20,
  get_chunk_size: 21,
  ping: 22,
  noop: 24,
} as const;
export type Operation = keyof typeof OPERATION_IDS;

const OPERATION_NAMES = new Map<number, Operation>(
  Object.entries(OPERATION_IDS).map(([name, id]) => [id, name as Operation]),
);

/** msgpack extension code of every KV-cache IPC descriptor (DeviceIPCWrapper). */
const DEVICE_IPC_EXT = 1;

/**
 * The cache key of a request (IPCCacheServerKey): the server hashes `tokenIds` itself, in chunks of its chunk
 * size, and acts on [start, end). Lookups carry no worker id; stores and retrieves name the worker.
 */
export interface CacheKey {
  modelName: string;
  worldSize: number;
  workerId: number | null;
  tokenIds: readonly number[];
  start: number;
  end: number;
  requestId: string;
  /** How many readers' retrieves will release the read locks a lookup takes. */
  numKvReaders: number;
}

export function encodeKey(key: CacheKey): Record<string, unknown> {
  return {
    model_name: key.modelName,
    world_size: key.worldSize,
    worker_id: key.workerId,
    token_ids: key.tokenIds,
    start: key.start,
    end: key.end,
    request_id: key.requestId,
    cache_salt: '',
    request_configs: null,
    num_kv_readers: key.numKvReaders,
  };
}

/** One layer's KV tensor in POSIX shared memory, as the server maps it (CpuShmIPCData, tag `cpu_shm`). */
export interface SharedTensor {
  /** shm_open name, with its leading slash: the file /dev/shm/<name without the slash>. */
  shmName: string;
  nbytes: number;
  dtype: string;
  shape: number[];
}

/** Row-major strides, in elements. */
export function contiguousStrides(shape: number[]): number[] {
  const strides = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  return strides;
}

export function encodeSharedTensor(tensor: SharedTensor): ExtData {
  const descriptor = {
    type: 'cpu_shm',
    shm_name: tensor.shmName,
    nbytes: tensor.nbytes,
    version: 1,
    metadata: {
      dtype: tensor.dtype,
      shape: tensor.shape,
      stride: contiguousStrides(tensor.shape),
      storage_offset: 0,
      device_uuid: 'cpu',
    },
  };
  return new ExtData(DEVICE_IPC_EXT, encode(descriptor));
}

export function encodeRequest(uid: number, operation: Operation, payloads: unknown[]): Buffer[] {
  return [uid, OPERATION_IDS[operation], ...payloads].map((value) => Buffer.from(encode(value)));
}

export interface Reply {
  uid: number;
  operation: Operation | undefined;
  /** The decoded response frame; undefined when the operation answers nothing (lookup, register, end_session). */
  response: unknown;
}

export function decodeReply(frames: Buffer[]): Reply {
  if (frames.length < 2) throw new Error(`malformed LMCache reply: ${frames.length} frame(s)`);
  const [uid, operation, response] = frames;
  const operationValue = decode(operation);
  return {
    uid: Number(decode(uid)),
    operation:
      typeof operationValue === 'string' ? (operationValue as Operation) : OPERATION_NAMES.get(Number(operationValue)),
    response: response === undefined ? undefined : decode(response),
  };
}
