// bench/_prof14.ts
import * as Effect8 from "effect/Effect";
import * as Exit4 from "effect/Exit";
import * as Scope5 from "effect/Scope";
import * as inspector from "node:inspector";
import * as fs2 from "node:fs";

// src/Client.ts
import * as Effect2 from "effect/Effect";
import { dual } from "effect/Function";
import * as Layer from "effect/Layer";
import * as Option3 from "effect/Option";
import * as Stream2 from "effect/Stream";

// src/internal/client.ts
import * as Cause from "effect/Cause";
import "effect/Clock";
import * as Context2 from "effect/Context";
import * as Effect from "effect/Effect";
import * as FiberRef from "effect/FiberRef";
import { globalValue } from "effect/GlobalValue";
import * as Option2 from "effect/Option";
import { pipeArguments } from "effect/Pipeable";
import * as Queue from "effect/Queue";
import * as Runtime from "effect/Runtime";
import * as Schema2 from "effect/Schema";
import * as Scope from "effect/Scope";
import * as Stream from "effect/Stream";
import * as Tracer from "effect/Tracer";

// src/Errors.ts
import * as Data from "effect/Data";
import * as Predicate from "effect/Predicate";
import * as Schema from "effect/Schema";
var MAX_MESSAGE = 4096;
var MAX_TRACEBACK = 16384;
var truncate = (text, max) => text.length <= max ? text : text.slice(0, max) + `\u2026 [${text.length - max} more characters]`;
var RemoteError = class _RemoteError extends Schema.TaggedError("effect-dask/RemoteError")("RemoteError", {
  key: Schema.String,
  type: Schema.String,
  message: Schema.String,
  traceback: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  static is(u) {
    return Predicate.isTagged(u, "RemoteError");
  }
  /**
   * Builds a `RemoteError`, truncating message and traceback to their bounds.
   *
   * @since 0.1.0
   */
  static fromText(key, type, message, traceback = "") {
    return new _RemoteError({
      key,
      type: truncate(type, 256),
      message: truncate(message, MAX_MESSAGE),
      traceback: truncate(traceback, MAX_TRACEBACK)
    });
  }
  /**
   * Converts anything a JS task threw or failed with into text.
   *
   * @since 0.1.0
   */
  static fromUnknown(key, cause) {
    if (cause instanceof Error) {
      return _RemoteError.fromText(key, cause.name, cause.message, cause.stack ?? "");
    }
    if (Predicate.hasProperty(cause, "_tag") && typeof cause._tag === "string") {
      const message = Predicate.hasProperty(cause, "message") && typeof cause.message === "string" ? cause.message : safeString(cause);
      return _RemoteError.fromText(key, cause._tag, message);
    }
    return _RemoteError.fromText(key, typeof cause, safeString(cause));
  }
};
var safeString = (u) => {
  try {
    return typeof u === "string" ? u : JSON.stringify(u) ?? String(u);
  } catch {
    return String(u);
  }
};
var CancelledError = class extends Schema.TaggedError("effect-dask/CancelledError")(
  "CancelledError",
  { key: Schema.String, reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  static is(u) {
    return Predicate.isTagged(u, "CancelledError");
  }
};
var LostDataError = class extends Schema.TaggedError("effect-dask/LostDataError")(
  "LostDataError",
  { key: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  static is(u) {
    return Predicate.isTagged(u, "LostDataError");
  }
};
var DecodeError = class extends Schema.TaggedError("effect-dask/DecodeError")("DecodeError", {
  serializer: Schema.String,
  message: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  static is(u) {
    return Predicate.isTagged(u, "DecodeError");
  }
};
var NoClientError = class extends Data.TaggedError("NoClientError") {
  get message() {
    return "No client: provide one with Client.layer / Client.withClient, or open one with Client.make";
  }
};
var ClientClosedError = class extends Data.TaggedError("ClientClosedError") {
};
var ConnectionLostError = class extends Data.TaggedError("ConnectionLostError") {
  get message() {
    return `Connection to the scheduler at ${this.address} was lost`;
  }
};
var ConnectError = class extends Data.TaggedError("ConnectError") {
  get message() {
    const why = this.code ?? (this.cause instanceof Error ? this.cause.message : String(this.cause ?? "unknown reason"));
    return `could not connect to ${this.address} (${why})`;
  }
};
var ProtocolError = class extends Data.TaggedError("ProtocolError") {
};
var UnsupportedTaskError = class extends Data.TaggedError("UnsupportedTaskError") {
};
var TaskModuleError = class extends Data.TaggedError("TaskModuleError") {
};
var InvalidOptionsError = class extends Data.TaggedError("InvalidOptionsError") {
};
var UnsupportedVersionError = class extends Data.TaggedError("UnsupportedVersionError") {
  get message() {
    return `Dask distributed ${this.version} is not supported; supported: ${this.supported}`;
  }
};

// src/Scheduler.ts
import * as Context from "effect/Context";
var KeyRef = class {
  constructor(key) {
    this.key = key;
  }
  key;
  _tag = "KeyRef";
};
var retriesOf = (spec) => spec.options?.retries ?? spec.task.retries;
var Scheduler = class extends Context.Tag("effect-dask/Scheduler")() {
};

// src/internal/metrics.ts
import * as Metric from "effect/Metric";
import * as MetricLabel from "effect/MetricLabel";
var clientLabels = (clientId) => [MetricLabel.make("client", clientId)];
var desires = Metric.counter("effect_dask_desires", { description: "Keys the client told the scheduler it wants", incremental: true });
var releases = Metric.counter("effect_dask_releases", { description: "Keys the client released", incremental: true });
var gcReleases = Metric.counter("effect_dask_gc_releases", { description: "Handles released by the GC backstop", incremental: true });
var errors = Metric.counter("effect_dask_errors", { description: "Remote task errors received", incremental: true });
var keysHeld = Metric.gauge("effect_dask_keys_held", { description: "Keys this client holds, per worker holding them" });
var bytesHeld = Metric.gauge("effect_dask_bytes_held", { description: "Bytes of this client's keys, per worker holding them" });

// src/internal/options.ts
import * as Duration from "effect/Duration";
import * as Option from "effect/Option";
var invalid = (option, message) => new InvalidOptionsError({ option, message });
var isStringList = (u) => Array.isArray(u) && u.every((w) => typeof w === "string" && w.length > 0);
var taskOptions = (options) => {
  if (options === void 0) return void 0;
  const { allowOtherWorkers, fifoTimeout, priority, resources, retries, workers: workers2 } = options;
  if (retries !== void 0 && !(Number.isSafeInteger(retries) && retries >= 0)) {
    return invalid("retries", `retries must be a non-negative integer, got ${String(retries)}`);
  }
  if (priority !== void 0 && !Number.isSafeInteger(priority)) {
    return invalid("priority", `priority must be an integer, got ${String(priority)}`);
  }
  if (workers2 !== void 0 && (!isStringList(workers2) || workers2.length === 0)) {
    return invalid("workers", "workers must be a non-empty list of worker addresses or host names");
  }
  if (resources !== void 0) {
    if (typeof resources !== "object" || resources === null || Array.isArray(resources)) {
      return invalid("resources", "resources must be a record of resource name to amount");
    }
    for (const [name, amount] of Object.entries(resources)) {
      if (name.length === 0 || typeof amount !== "number" || !Number.isFinite(amount) || amount < 0) {
        return invalid("resources", `resource ${JSON.stringify(name)} needs a finite, non-negative amount, got ${String(amount)}`);
      }
    }
  }
  if (allowOtherWorkers !== void 0 && typeof allowOtherWorkers !== "boolean") {
    return invalid("allowOtherWorkers", "allowOtherWorkers must be a boolean");
  }
  if (fifoTimeout !== void 0) {
    const decoded = Duration.decodeUnknown(fifoTimeout);
    if (Option.isNone(decoded) || !Duration.isFinite(decoded.value)) {
      return invalid("fifoTimeout", `fifoTimeout must be a finite duration, got ${String(fifoTimeout)}`);
    }
  }
  if (retries === void 0 && priority === void 0 && workers2 === void 0 && resources === void 0 && allowOtherWorkers === void 0 && fifoTimeout === void 0) return void 0;
  return {
    ...retries !== void 0 ? { retries } : {},
    ...priority !== void 0 ? { priority } : {},
    ...workers2 !== void 0 ? { workers: workers2.slice() } : {},
    ...resources !== void 0 ? { resources: { ...resources } } : {},
    ...allowOtherWorkers !== void 0 ? { allowOtherWorkers } : {},
    ...fifoTimeout !== void 0 ? { fifoTimeout } : {}
  };
};
var fifoTimeoutSeconds = (options) => options?.fifoTimeout === void 0 ? void 0 : Duration.toSeconds(Duration.decode(options.fifoTimeout));
var checkKeys = (key, n, single) => {
  if (key === void 0) return void 0;
  if (typeof key === "string") return key.length === 0 ? invalid("key", "key must be a non-empty string") : void 0;
  if (single) return invalid("key", "submit takes one key (a string)");
  if (!isStringList(key)) return invalid("key", "key must be a prefix or a list of non-empty strings");
  if (key.length !== n) return invalid("key", `${key.length} keys given for ${n} tasks`);
  if (new Set(key).size !== key.length) return invalid("key", "the key list repeats a key");
  return void 0;
};
var checkScatterOptions = (options) => {
  if (options === void 0) return void 0;
  if (options.workers !== void 0 && (!isStringList(options.workers) || options.workers.length === 0)) {
    return invalid("workers", "workers must be a non-empty list of worker addresses or host names");
  }
  if (options.broadcast !== void 0 && typeof options.broadcast !== "boolean") {
    return invalid("broadcast", "broadcast must be a boolean");
  }
  if (options.hash !== void 0 && typeof options.hash !== "boolean") return invalid("hash", "hash must be a boolean");
  return void 0;
};

// src/internal/tokenize.ts
import { createHash, randomBytes, randomUUID } from "node:crypto";
var stable = (value, depth) => {
  if (depth > 64) return void 0;
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "boolean":
      return value ? "T" : "F";
    case "bigint":
      return `${value}n`;
    case "undefined":
      return "u";
    case "object": {
      if (value === null) return "N";
      if (value instanceof KeyRef) return `K${JSON.stringify(value.key)}`;
      if (Array.isArray(value)) {
        let out2 = "[";
        for (const item of value) {
          const s = stable(item, depth + 1);
          if (s === void 0) return void 0;
          out2 += s + ",";
        }
        return out2 + "]";
      }
      if (ArrayBuffer.isView(value)) {
        return `B${value.constructor.name}:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64")}`;
      }
      if (value instanceof Date) return `D${value.getTime()}`;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return void 0;
      let out = "{";
      for (const k of Object.keys(value).sort()) {
        const s = stable(value[k], depth + 1);
        if (s === void 0) return void 0;
        out += JSON.stringify(k) + ":" + s + ",";
      }
      return out + "}";
    }
    default:
      return void 0;
  }
};
var randomToken = () => randomUUID().replace(/-/g, "");
var tokenize = (value) => {
  const s = stable(value, 0);
  return s === void 0 ? randomToken() : createHash("md5").update(s).digest("hex");
};
var makeKey = (prefix, token) => Buffer.from(`${prefix}-${token}`, "utf8").toString("utf8");
var typeName = (value) => {
  if (value === null || value === void 0) return "NoneType";
  switch (typeof value) {
    case "string":
      return "str";
    case "number":
      return Number.isInteger(value) ? "int" : "float";
    case "boolean":
      return "bool";
    case "bigint":
      return "int";
    case "object":
      if (Array.isArray(value)) return "list";
      if (value instanceof Uint8Array) return "bytes";
      return Object.getPrototypeOf(value) === Object.prototype ? "dict" : value.constructor?.name ?? "object";
    default:
      return typeof value;
  }
};
var KeyGen = class {
  prefix = "";
  count = 4294967296;
  next(name) {
    if (this.count >= 4294967295) {
      this.prefix = randomBytes(12).toString("hex");
      this.count = 0;
    }
    const n = (this.count++).toString(16);
    return flat(name + "-" + this.prefix + "00000000".slice(n.length) + n);
  }
};
var flat = (s) => {
  ;
  s | 0;
  return s;
};

// src/internal/client.ts
var FutureTypeId = /* @__PURE__ */ Symbol.for("effect-dask/Future");
var KeyState = class {
  constructor(key, createdAt) {
    this.key = key;
    this.createdAt = createdAt;
  }
  key;
  createdAt;
  status = "pending";
  error = void 0;
  type = void 0;
  nbytes = void 0;
  count = 0;
  listeners = void 0;
  /** Why the key was cancelled; the error itself is built only when someone asks (errors capture stacks). */
  reason = "";
  settle(status, error) {
    this.status = status;
    this.error = error;
    if (status === "finished" || status === "error" || status === "cancelled") {
      const listeners = this.listeners;
      if (listeners !== void 0) {
        this.listeners = void 0;
        for (const listener of listeners) listener();
      }
    }
  }
  cancel(reason) {
    this.reason = reason;
    this.settle("cancelled");
  }
  /** The failure a waiter sees, if the state is not finished. */
  failure() {
    if (this.error !== void 0) return this.error;
    if (this.status === "cancelled") return this.error = new CancelledError({ key: this.key, reason: this.reason });
    return void 0;
  }
  get done() {
    return this.status === "finished" || this.status === "error" || this.status === "cancelled";
  }
};
var RELEASED = 1;
var DETACHED = 2;
var Bag = class extends Set {
  closed = false;
};
var gcRegistry = globalValue(
  /* @__PURE__ */ Symbol.for("effect-dask/FutureFinalizationRegistry"),
  () => new FinalizationRegistry((held) => held.client.gcRelease(held))
);
var FutureImpl = class {
  constructor(client, state, schema) {
    this.client = client;
    this.state = state;
    this.schema = schema;
  }
  client;
  state;
  schema;
  /** RELEASED | DETACHED bits: one field, handles are the numerous objects. */
  flags = 0;
  bag = void 0;
  site = void 0;
  get released() {
    return (this.flags & RELEASED) !== 0;
  }
  get detached() {
    return (this.flags & DETACHED) !== 0;
  }
  get key() {
    return this.state.key;
  }
  get status() {
    return this.state.status;
  }
  pipe() {
    return pipeArguments(this, arguments);
  }
  toJSON() {
    return { _id: "Future", key: this.key, status: this.state.status, client: this.client.id };
  }
  toString() {
    return `Future(${this.key}, ${this.state.status})`;
  }
  [/* @__PURE__ */ Symbol.for("nodejs.util.inspect.custom")]() {
    return this.toJSON();
  }
};
Object.defineProperty(FutureImpl.prototype, FutureTypeId, { value: FutureTypeId });
var isFuture = (u) => typeof u === "object" && u !== null && FutureTypeId in u;
var Deps = class {
  keys = [];
  futures = [];
  seen = void 0;
  add(f) {
    const key = f.state.key;
    if (this.seen !== void 0) {
      if (this.seen.has(key)) return;
      this.seen.add(key);
    } else if (this.keys.length < 8) {
      if (this.keys.includes(key)) return;
    } else {
      this.seen = new Set(this.keys);
      if (this.seen.has(key)) return;
      this.seen.add(key);
    }
    this.keys.push(key);
    this.futures.push(f);
  }
};
var replaceFutures = (value, deps, depth) => {
  if (typeof value !== "object" || value === null || depth > 32) return value;
  if (isFuture(value)) {
    deps.add(value);
    return new KeyRef(value.state.key);
  }
  if (Array.isArray(value)) {
    let out;
    for (let i = 0; i < value.length; i++) {
      const r = replaceFutures(value[i], deps, depth + 1);
      if (r !== value[i]) {
        out ??= value.slice();
        out[i] = r;
      }
    }
    return out ?? value;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    let out;
    for (const k of Object.keys(value)) {
      const v = value[k];
      const r = replaceFutures(v, deps, depth + 1);
      if (r !== v) {
        out ??= { ...value };
        out[k] = r;
      }
    }
    return out ?? value;
  }
  return value;
};
var waitAll = (futures) => Effect.suspend(() => {
  let pending;
  for (const f of futures) if (!f.state.done) (pending ??= /* @__PURE__ */ new Set()).add(f.state);
  if (pending === void 0) return Effect.void;
  const states = pending;
  return Effect.async((resume) => {
    let remaining = states.size;
    const listener = () => {
      if (--remaining === 0) resume(Effect.void);
    };
    for (const st of states) (st.listeners ??= /* @__PURE__ */ new Set()).add(listener);
    return Effect.sync(() => {
      for (const st of states) st.listeners?.delete(listener);
    });
  });
});
var Inbox = class {
  buffer = [];
  scheduled = false;
  handler = void 0;
  /** Called for a defect thrown while processing a report (the pass goes on with the next one). */
  onDefect = () => {
  };
  /** The sink given to `Scheduler.connect`. */
  sink = (report) => {
    this.buffer.push(report);
    if (!this.scheduled && this.handler !== void 0) this.schedule();
  };
  /** Starts processing (reports delivered before are processed first). */
  attach(handler) {
    this.handler = handler;
    if (this.buffer.length > 0 && !this.scheduled) this.schedule();
  }
  /** Stops processing; what is left is dropped. */
  detach() {
    this.handler = void 0;
    this.buffer = [];
  }
  schedule() {
    this.scheduled = true;
    queueMicrotask(this.drain);
  }
  drain = () => {
    const buffer = this.buffer;
    for (let i = 0; i < buffer.length; i++) {
      const handler = this.handler;
      if (handler === void 0) break;
      try {
        handler(buffer[i]);
      } catch (defect) {
        this.onDefect(defect);
      }
    }
    if (this.buffer === buffer) this.buffer = [];
    this.scheduled = false;
  };
};
var ClientImpl = class {
  constructor(id, session2, address, clock2, trackCallSites) {
    this.id = id;
    this.session = session2;
    this.address = address;
    this.clock = clock2;
    this.trackCallSites = trackCallSites;
    this.live = trackCallSites ? /* @__PURE__ */ new Set() : void 0;
    this.liveDetached = trackCallSites ? /* @__PURE__ */ new Map() : void 0;
    if (trackCallSites) tracking.clients++;
    this.openedAt = clock2.unsafeCurrentTimeMillis();
    this.labels = clientLabels(id);
  }
  id;
  session;
  address;
  clock;
  trackCallSites;
  states = /* @__PURE__ */ new Map();
  /** Bumped by every restart (handles of an older generation hold replaced states, so they count for nothing). */
  generation = 0;
  closed = false;
  /** Handles acquired per user scope; the scope holds one finalizer that releases its bag. */
  bags = /* @__PURE__ */ new WeakMap();
  /** Live handles with call sites, when tracking is on. */
  live;
  /** Live detached handles' call sites, when tracking is on: held by site, not handle, so the GC backstop can still run. */
  liveDetached;
  /** Effects run just before the client closes (leak reports); see `Memory.onLeaks`. */
  closeHooks = [];
  /** Call sites of handles the GC backstop released, when tracking is on (bounded). */
  gcReleased = [];
  openedAt;
  /** Keys of impure submissions: a random prefix per client and a counter. */
  keys = new KeyGen();
  labels;
  // ---- reference counting --------------------------------------------------
  newHandle(state, schema, fiber, eager) {
    const f = new FutureImpl(this, state, schema);
    if (this.live !== void 0) {
      f.site = captureSite(fiber, this.clock, eager);
      this.live.add(f);
    }
    return f;
  }
  /** Takes a reference on `key`, sending desire when it is the first and `desire` is set. */
  ref(key, desire) {
    let st = this.states.get(key);
    if (st === void 0) {
      st = new KeyState(key, this.clock.unsafeCurrentTimeMillis());
      this.states.set(key, st);
    }
    if (st.count === 0 && desire) {
      this.session.send({ _tag: "DesireKeys", keys: [key] });
      desires.unsafeUpdate(1, this.labels);
    }
    st.count++;
    return st;
  }
  /**
   * Runs `body` with the bag of the caller's scope, registering the scope's
   * single finalizer first (so an interruption in between acquires nothing).
   * In a scope that is already closed, handles are released as soon as they
   * are acquired, as `acquireRelease` does.
   */
  inScope(body) {
    return Effect.withFiberRuntime((fiber) => this.inScopeOf(fiber, body));
  }
  inScopeOf(fiber, body) {
    if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }));
    const scope2 = Context2.unsafeGet(fiber.getFiberRef(FiberRef.currentContext), Scope.Scope);
    const bag = this.bags.get(scope2);
    if (bag !== void 0) return bag.closed ? this.releasingAfter(bag, body(bag, fiber)) : body(bag, fiber);
    const fresh = new Bag();
    this.bags.set(scope2, fresh);
    return Effect.flatMap(
      Scope.addFinalizer(scope2, Effect.sync(() => this.releaseBag(fresh))),
      () => this.closed ? Effect.fail(new ClientClosedError({ clientId: this.id })) : fresh.closed ? this.releasingAfter(fresh, body(fresh, fiber)) : body(fresh, fiber)
    );
  }
  /**
   * A handle on `key` in the fiber's scope. The hot path (scope already seen,
   * open) is a Map update and one allocation, no closure.
   */
  acquireFor(fiber, key, schema, eager) {
    if (!this.closed) {
      const bag = this.bags.get(Context2.unsafeGet(fiber.getFiberRef(FiberRef.currentContext), Scope.Scope));
      if (bag !== void 0 && !bag.closed) return Effect.succeed(this.take(fiber, key, schema, bag, eager));
    }
    return this.inScopeOf(fiber, (bag, fiber2) => Effect.succeed(this.take(fiber2, key, schema, bag, eager)));
  }
  take(fiber, key, schema, bag, eager) {
    const f = this.newHandle(this.ref(key, true), schema, fiber, eager);
    f.bag = bag;
    bag.add(f);
    return f;
  }
  releasingAfter(bag, effect) {
    return Effect.ensuring(effect, Effect.sync(() => this.releaseBag(bag)));
  }
  /** A handle on `key` in the caller's scope. */
  acquire(key, schema) {
    const eager = this.live !== void 0 ? stackHere() : void 0;
    return Effect.withFiberRuntime((fiber) => this.acquireFor(fiber, key, schema, eager));
  }
  /** A handle owned by no scope: released by `release` or, failing that, by the GC backstop. */
  acquireDetached(key, schema) {
    const eager = this.live !== void 0 ? stackHere() : void 0;
    return Effect.withFiberRuntime((fiber) => {
      if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }));
      const st = this.ref(key, true);
      const f = this.newHandle(st, schema, fiber, eager);
      f.flags |= DETACHED;
      if (f.site !== void 0) {
        this.live.delete(f);
        this.liveDetached.set(f.site, key);
      }
      gcRegistry.register(f, { client: this, key, state: st, site: f.site }, f);
      return Effect.succeed(f);
    });
  }
  /** Does this handle still count (client open, and its state is still the key's: restart and cancel replace it)? */
  counts(f) {
    return !this.closed && this.states.get(f.key) === f.state;
  }
  /** Releases one handle; idempotent. Keys reaching zero go to `out`, or are released at once. */
  release(f, out) {
    if (f.released) return;
    f.flags |= RELEASED;
    if (f.bag !== void 0) {
      f.bag.delete(f);
      f.bag = void 0;
    } else if (f.detached) {
      gcRegistry.unregister(f);
      if (f.site !== void 0) this.liveDetached?.delete(f.site);
    }
    this.live?.delete(f);
    if (this.counts(f)) this.decrement(f.state, out);
  }
  decrement(st, out) {
    st.count--;
    if (st.count > 0) return;
    if (st.count < 0) {
      throw new Cause.IllegalArgumentException(`effect-dask: negative reference count for ${st.key}`);
    }
    this.states.delete(st.key);
    st.cancel("released");
    if (out !== void 0) out.push(st.key);
    else this.sendRelease([st.key]);
  }
  sendRelease(keys) {
    if (keys.length === 0) return;
    this.session.send({ _tag: "ReleaseKeys", keys });
    releases.unsafeUpdate(keys.length, this.labels);
  }
  /** The scope finalizer: releases every handle of the bag in one message. */
  releaseBag(bag) {
    bag.closed = true;
    const out = [];
    for (const f of bag) {
      f.bag = void 0;
      this.release(f, out);
    }
    bag.clear();
    if (!this.closed) this.sendRelease(out);
  }
  /** Called by the FinalizationRegistry for a detached handle that was never released. */
  gcRelease(held) {
    gcReleases.unsafeUpdate(1, this.labels);
    if (held.site !== void 0) this.liveDetached?.delete(held.site);
    if (this.live !== void 0 && this.gcReleased.length < 1e4) {
      this.gcReleased.push({ key: held.key, site: held.site });
    }
    if (!this.closed && this.states.get(held.key) === held.state) {
      this.decrement(held.state);
    }
  }
  /** Drops a key's state without telling the scheduler (it already let go): its handles become stale. */
  detachKey(key, reason) {
    const st = this.states.get(key);
    if (st === void 0) return;
    this.states.delete(key);
    st.count = 0;
    st.cancel(reason);
  }
  // ---- reports ---------------------------------------------------------------
  onReport(report) {
    if (this.closed) return;
    switch (report._tag) {
      case "KeyInMemory": {
        const st = this.states.get(report.key);
        if (st === void 0) return;
        st.type = report.type;
        if (report.nbytes !== void 0) st.nbytes = report.nbytes;
        st.settle("finished");
        return;
      }
      case "TaskErred": {
        const st = this.states.get(report.key);
        if (st === void 0) return;
        errors.unsafeUpdate(1, this.labels);
        const { message, traceback, type } = report.error;
        st.settle("error", RemoteError.fromText(report.key, type, message, traceback));
        return;
      }
      case "CancelledKeys": {
        for (const key of report.keys) this.detachKey(key, report.reason);
        return;
      }
      case "LostData": {
        const st = this.states.get(report.key);
        if (st !== void 0) st.settle("lost");
        return;
      }
      case "TaskRetried": {
        const st = this.states.get(report.key);
        if (st !== void 0) st.settle("pending");
        return;
      }
      case "Restart": {
        this.generation++;
        for (const key of Array.from(this.states.keys())) {
          this.detachKey(key, "scheduler restarted");
        }
        return;
      }
      case "ConnectionLost": {
        for (const st of this.states.values()) st.settle("error", report.error);
        return;
      }
      case "Reconnected": {
        if (this.states.size > 0) {
          const keys = Array.from(this.states.keys());
          this.session.send({ _tag: "DesireKeys", keys });
          desires.unsafeUpdate(keys.length, this.labels);
        }
        return;
      }
    }
  }
  // ---- close -----------------------------------------------------------------
  /** Releases every key in one message, cancels all futures, says goodbye. The session scope is closed by the caller. */
  close() {
    if (this.closed) return;
    const keys = Array.from(this.states.keys());
    this.sendRelease(keys);
    this.session.send({ _tag: "Close" });
    this.closed = true;
    for (const st of this.states.values()) {
      st.count = 0;
      st.cancel("client closed");
    }
    this.states.clear();
    if (this.live !== void 0) tracking.clients--;
    unregisterClient(this);
  }
  // ---- submission --------------------------------------------------------------
  submitMany(task, argLists, call2) {
    return this.inScope((bag, fiber) => {
      const unsupported = this.session.check(task);
      if (unsupported !== void 0) return Effect.fail(unsupported);
      const options = taskOptions(call2?.options);
      if (options instanceof InvalidOptionsError) return Effect.fail(options);
      const badKeys = checkKeys(call2?.key, argLists.length, call2?.single ?? false);
      if (badKeys !== void 0) return Effect.fail(badKeys);
      const explicit = call2?.key;
      const prefix = typeof explicit === "string" ? explicit : task.name;
      const pure = call2?.pure ?? task.pure;
      const n = argLists.length;
      const keys = new Array(n);
      const args = new Array(n);
      const dependencies = new Array(n);
      const prepared = new Array(n);
      for (let i = 0; i < n; i++) {
        const deps = new Deps();
        const a = replaceFutures(argLists[i], deps, 0);
        for (const dep of deps.futures) {
          if (dep.state.status === "cancelled") return Effect.fail(dep.state.failure());
        }
        const p = this.session.prepare(task, a);
        if (p instanceof UnsupportedTaskError) return Effect.fail(p);
        keys[i] = typeof explicit === "string" && call2?.single === true ? explicit : Array.isArray(explicit) ? explicit[i] : pure ? makeKey(prefix, tokenize([task.name, task.python ?? null, a])) : this.keys.next(prefix);
        args[i] = a;
        dependencies[i] = deps.keys;
        prepared[i] = p;
      }
      const specs = [];
      const wanted = [];
      const out = new Array(n);
      for (let i = 0; i < n; i++) {
        const key = keys[i];
        const existing = this.states.get(key);
        const st = this.ref(key, false);
        if (existing === void 0) {
          const spec = { key, task, args: args[i], dependencies: dependencies[i] };
          if (prepared[i] !== void 0) spec.prepared = prepared[i];
          if (options !== void 0) spec.options = options;
          specs.push(spec);
          wanted.push(key);
        }
        const f = this.newHandle(st, task.result, fiber);
        f.bag = bag;
        bag.add(f);
        out[i] = f;
      }
      if (specs.length > 0) {
        const failed = this.session.send({ _tag: "UpdateGraph", tasks: specs, keys: wanted });
        if (failed !== void 0) {
          this.unsubmit(out, bag);
          return Effect.fail(failed);
        }
      }
      return Effect.succeed(out);
    });
  }
  /** Takes back the handles of a submission the backend could not send: the scheduler never saw its new keys. */
  unsubmit(handles, bag) {
    for (const f of handles) {
      f.flags |= RELEASED;
      bag.delete(f);
      f.bag = void 0;
      this.live?.delete(f);
      const st = f.state;
      if (this.states.get(st.key) !== st) continue;
      if (--st.count === 0) {
        this.states.delete(st.key);
        st.cancel("not sent");
      }
    }
  }
  scatter(values, options) {
    const refused = checkScatterOptions(options);
    if (refused !== void 0) return Effect.fail(refused);
    return Effect.uninterruptible(this.inScope((bag, fiber) => {
      const entries2 = [];
      const out = new Array(values.length);
      for (let i = 0; i < values.length; i++) {
        const value = values[i];
        const key = makeKey(typeName(value), options?.hash === false ? randomToken() : tokenize(value));
        const existing = this.states.get(key);
        const st = this.ref(key, false);
        if (existing === void 0) entries2.push([key, value]);
        const f = this.newHandle(st, void 0, fiber);
        f.bag = bag;
        bag.add(f);
        out[i] = f;
      }
      if (entries2.length === 0) return Effect.succeed(out);
      return Effect.map(this.session.scatter(entries2, options), () => {
        for (const [key] of entries2) {
          const st = this.states.get(key);
          if (st === void 0 || st.count === 0) this.sendRelease([key]);
          else if (st.status === "pending") st.settle("finished");
        }
        return out;
      });
    }));
  }
  // ---- waiting and results ---------------------------------------------------------
  /** Waits until the state is finished, erred or cancelled (lost waits for recomputation, as in Dask). */
  wait(f) {
    return waitAll([f]);
  }
  gather(futures, errors2) {
    return Effect.flatMap(waitAll(futures), () => {
      const keys = [];
      const seen = /* @__PURE__ */ new Set();
      for (const f of futures) {
        const st = f.state;
        if (st.status === "finished") {
          if (!seen.has(f.key)) {
            seen.add(f.key);
            keys.push(f.key);
          }
        } else if (errors2 === "raise") {
          return Effect.fail(st.failure() ?? new CancelledError({ key: f.key, reason: st.status }));
        }
      }
      if (this.closed) return Effect.fail(new ClientClosedError({ clientId: this.id }));
      if (keys.length === 0) return Effect.succeed([]);
      return Effect.flatMap(this.session.gather(keys), (values) => {
        const results = [];
        for (const f of futures) {
          if (f.state.status !== "finished" && errors2 === "skip") continue;
          if (!values.has(f.key)) return Effect.fail(new LostDataError({ key: f.key }));
          const value = values.get(f.key);
          if (f.schema === void 0) {
            results.push(value);
          } else {
            const decoded = Schema2.decodeUnknownEither(f.schema)(value);
            if (decoded._tag === "Left") {
              return Effect.fail(new DecodeError({ serializer: "schema", message: decoded.left.message }));
            }
            results.push(decoded.right);
          }
        }
        return Effect.succeed(results);
      });
    });
  }
  cancel(futures, force) {
    return Effect.sync(() => {
      if (this.closed) return;
      const keys = [];
      for (const f of futures) {
        if (!f.released && this.counts(f) && !keys.includes(f.key)) keys.push(f.key);
      }
      if (keys.length === 0) return;
      this.session.send({ _tag: "Cancel", keys, force });
      for (const key of keys) this.detachKey(key, "cancelled");
    });
  }
  /** Single use, as Dask's `as_completed`: the stream lets go of the input so that emitted futures can be collected. */
  asCompleted(futures) {
    let input = futures;
    return Stream.unwrapScoped(Effect.gen(this, function* () {
      const pending = input ?? [];
      input = void 0;
      const queue = yield* Queue.unbounded();
      const waiting = /* @__PURE__ */ new Map();
      for (const f of pending) {
        const st = f.state;
        if (st.done) {
          queue.unsafeOffer(f);
          continue;
        }
        const listener = () => {
          waiting.delete(listener);
          queue.unsafeOffer(f);
        };
        (st.listeners ??= /* @__PURE__ */ new Set()).add(listener);
        waiting.set(listener, st);
      }
      yield* Effect.addFinalizer(() => Effect.sync(() => {
        for (const [listener, st] of waiting) st.listeners?.delete(listener);
      }));
      return Stream.take(Stream.fromQueue(queue), pending.length);
    }));
  }
  // ---- queries --------------------------------------------------------------------
  whoHas(keys) {
    return this.session.whoHas(keys);
  }
  hasWhat() {
    return this.session.hasWhat();
  }
  nbytes(keys) {
    return this.session.nbytes(keys);
  }
  workers() {
    return this.session.workers();
  }
  fireAndForget(futures) {
    return Effect.sync(() => {
      if (futures.length > 0) this.session.send({ _tag: "DesireKeys", keys: futures.map((f) => f.key), client: "fire-and-forget" });
    });
  }
};
var stackHere = () => {
  const holder = {};
  Error.captureStackTrace(holder, stackHere);
  return holder;
};
var tracking = globalValue(/* @__PURE__ */ Symbol.for("effect-dask/callSiteTracking"), () => ({ clients: 0 }));
var callerStack = globalValue(
  /* @__PURE__ */ Symbol.for("effect-dask/callerStack"),
  () => FiberRef.unsafeMake(void 0)
);
var withCallerStack = (effect) => tracking.clients === 0 ? effect : Effect.locally(effect, callerStack, stackHere());
var spanToTrace = globalValue("effect/Tracer/spanToTrace", () => /* @__PURE__ */ new WeakMap());
var Site = class {
  constructor(holder, span, trace, at2) {
    this.holder = holder;
    this.span = span;
    this.trace = trace;
    this.at = at2;
  }
  holder;
  span;
  trace;
  at;
  get stack() {
    return this.holder.stack ?? "";
  }
  get spanTrace() {
    return this.trace?.();
  }
};
var captureSite = (fiber, clock2, eager) => {
  const holder = fiber.getFiberRef(callerStack) ?? eager ?? stackHere();
  const parent = Context2.getOption(fiber.getFiberRef(FiberRef.currentContext), Tracer.ParentSpan);
  let names;
  let trace;
  let span = Option2.isSome(parent) ? parent.value : void 0;
  for (let depth = 0; span !== void 0 && span._tag === "Span" && depth < 8; depth++) {
    names = names === void 0 ? span.name : `${names} < ${span.name}`;
    if (trace === void 0 && !span.name.startsWith("effect-dask.")) trace = spanToTrace.get(span);
    span = Option2.getOrUndefined(span.parent);
  }
  return new Site(holder, names, trace, clock2.unsafeCurrentTimeMillis());
};
var currentClient = globalValue(
  /* @__PURE__ */ Symbol.for("effect-dask/currentClient"),
  () => FiberRef.unsafeMake(void 0)
);
var registry = globalValue(/* @__PURE__ */ Symbol.for("effect-dask/clientRegistry"), () => ({ clients: [] }));
var registerClient = (client) => {
  registry.clients.push(new WeakRef(client));
};
var unregisterClient = (client) => {
  registry.clients = registry.clients.filter((ref) => {
    const c = ref.deref();
    return c !== void 0 && c !== client && !c.closed;
  });
};
var newestClient = () => {
  const clients = registry.clients;
  for (let i = clients.length - 1; i >= 0; i--) {
    const c = clients[i].deref();
    if (c !== void 0 && !c.closed) {
      if (i !== clients.length - 1) clients.length = i + 1;
      return c;
    }
  }
  clients.length = 0;
  return void 0;
};
var ClientTag = Context2.GenericTag("effect-dask/Client");
var currentOf = (fiber) => {
  const c = fiber.getFiberRef(currentClient);
  if (c !== void 0) return c;
  const provided = Context2.getOption(fiber.getFiberRef(FiberRef.currentContext), ClientTag);
  return Option2.isSome(provided) ? provided.value : newestClient();
};
var current = Effect.withFiberRuntime((fiber) => {
  const c = currentOf(fiber);
  return c === void 0 ? Effect.fail(new NoClientError()) : Effect.succeed(c);
});
var make2 = (session2, inbox, address, options) => Effect.gen(function* () {
  const clock2 = yield* Effect.clock;
  const runtime3 = yield* Effect.runtime();
  const client = new ClientImpl(options.clientId, session2, address, clock2, options.trackCallSites ?? false);
  registerClient(client);
  inbox.onDefect = (defect) => Runtime.runFork(runtime3)(Effect.logError("effect-dask: report processing failed", Cause.die(defect)));
  yield* Effect.addFinalizer(() => Effect.sync(() => {
    client.close();
    inbox.detach();
  }));
  yield* Effect.addFinalizer(() => Effect.forEach(client.closeHooks, (hook) => hook(client), { discard: true }));
  inbox.attach((report) => client.onReport(report));
  return client;
});
var defaultClientId = () => `Client-ts-${randomToken()}`;

// src/Client.ts
var make3 = (options) => Effect2.gen(function* () {
  const scheduler = yield* Scheduler;
  const clientId = options?.id ?? defaultClientId();
  const inbox = new Inbox();
  const session2 = yield* scheduler.connect(clientId, inbox.sink);
  return yield* make2(session2, inbox, scheduler.address, { ...options, clientId });
});
var withClient = dual(
  2,
  (self, client) => Effect2.locally(self, currentClient, client)
);
var use = (f) => withCallerStack(Effect2.flatMap(current, f));
var defaultTracer = Effect2.runSync(Effect2.tracer);
var impl = (f) => f;
var impls = (fs3) => fs3;
var zipArgs = (arrays) => {
  const n = arrays.length === 0 ? 0 : Math.min(...arrays.map((a) => a.length));
  const argLists = new Array(n);
  for (let i = 0; i < n; i++) argLists[i] = arrays.map((a) => a[i]);
  return argLists;
};
var map3 = (task, ...arrays) => use((client) => {
  return client.submitMany(task, zipArgs(arrays));
}).pipe(Effect2.withSpan("effect-dask.map", { attributes: { task: task.name }, captureStackTrace: false }));
var gather = (futures, options) => {
  if (futures.length === 0) return Effect2.succeed([]);
  return impl(futures[0]).client.gather(impls(futures), options?.errors ?? "raise").pipe(
    Effect2.withSpan("effect-dask.gather", { attributes: { count: futures.length }, captureStackTrace: false })
  );
};
var hasWhat = use(
  (client) => client.hasWhat()
);
var workers = use(
  (client) => client.workers()
);
var listDatasets = use(
  (client) => client.session.listDatasets()
);

// src/internal/dask/scheduler.ts
import * as Config from "effect/Config";
import * as ConfigError from "effect/ConfigError";
import * as Duration4 from "effect/Duration";
import * as Effect7 from "effect/Effect";
import * as Either10 from "effect/Either";
import * as Layer2 from "effect/Layer";
import * as Schedule from "effect/Schedule";

// src/internal/wire/connection.ts
import * as Deferred from "effect/Deferred";
import * as Duration2 from "effect/Duration";
import * as Effect3 from "effect/Effect";
import * as Either5 from "effect/Either";
import * as Exit from "effect/Exit";
import * as Net from "node:net";

// src/internal/wire/framing.ts
import * as Either from "effect/Either";
var TWO_32 = 4294967296;
var encodeFrames = (frames) => {
  const n = frames.length;
  let body = 0;
  for (let i = 0; i < n; i++) body += frames[i].length;
  const prelude = 8 + 8 * n;
  const out = new Uint8Array(8 + prelude + body);
  const view = new DataView(out.buffer);
  writeU64(view, 0, prelude + body);
  writeU64(view, 8, n);
  let offset = 16;
  for (let i = 0; i < n; i++) {
    writeU64(view, offset, frames[i].length);
    offset += 8;
  }
  for (let i = 0; i < n; i++) {
    out.set(frames[i], offset);
    offset += frames[i].length;
  }
  return out;
};
var writeU64 = (view, offset, value) => {
  view.setUint32(offset, value % TWO_32, true);
  view.setUint32(offset + 4, Math.floor(value / TWO_32), true);
};
var FrameReader = class {
  maxMessageBytes;
  chunks = [];
  buffered = 0;
  total = -1;
  count = -1;
  lengths = void 0;
  failure = void 0;
  constructor(options) {
    this.maxMessageBytes = options.maxMessageBytes;
  }
  /** Bytes buffered for messages not yet complete. */
  get pendingBytes() {
    return this.buffered;
  }
  push(chunk) {
    if (this.failure !== void 0) return Either.left(this.failure);
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const messages = [];
    for (; ; ) {
      const step = this.step();
      if (step === void 0) break;
      if (step instanceof ProtocolError) {
        this.failure = step;
        this.chunks = [];
        this.buffered = 0;
        return Either.left(step);
      }
      messages.push(step);
    }
    return Either.right(messages);
  }
  step() {
    if (this.total < 0) {
      if (this.buffered < 8) return void 0;
      const total = this.readU64(0);
      if (total > this.maxMessageBytes) {
        return new ProtocolError({
          reason: "FrameTooLarge",
          message: `message of ${describe(total)} bytes exceeds the bound of ${this.maxMessageBytes} bytes`
        });
      }
      if (total < 16) return malformed(`total length ${total} cannot hold a frame count and one frame length`);
      this.total = total;
    }
    if (this.count < 0) {
      if (this.buffered < 16) return void 0;
      const count = this.readU64(8);
      if (count < 1 || count > (this.total - 8) / 8) {
        return malformed(`frame count ${describe(count)} does not fit a message of ${this.total} bytes`);
      }
      this.count = count;
    }
    if (this.lengths === void 0) {
      const preludeEnd = 16 + 8 * this.count;
      if (this.buffered < preludeEnd) return void 0;
      const raw = this.copyOut(16, 8 * this.count);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const lengths = new Array(this.count);
      const prelude = 8 + 8 * this.count;
      let boundary = this.total === prelude;
      let sum = 0;
      for (let i = 0; i < this.count; i++) {
        const length = u64(view, 8 * i);
        sum += length;
        lengths[i] = length;
        if (prelude + sum === this.total) boundary = true;
        if (prelude + sum > this.maxMessageBytes) {
          return boundary ? new ProtocolError({
            reason: "FrameTooLarge",
            message: `message of more than ${this.maxMessageBytes} bytes (by its frame lengths) exceeds the bound`
          }) : malformed(`frame lengths exceed the ${this.total} bytes declared`);
        }
      }
      if (!boundary) return malformed(`declared length ${this.total} does not end on a frame boundary (frames sum to ${sum})`);
      this.total = prelude + sum;
      this.lengths = lengths;
    }
    const size = 8 + this.total;
    if (this.buffered < size) return void 0;
    const message = this.consume(size);
    const frames = new Array(this.count);
    let offset = 16 + 8 * this.count;
    for (let i = 0; i < this.count; i++) {
      const length = this.lengths[i];
      frames[i] = message.subarray(offset, offset + length);
      offset += length;
    }
    this.total = -1;
    this.count = -1;
    this.lengths = void 0;
    return frames;
  }
  readU64(offset) {
    const raw = this.copyOut(offset, 8);
    return u64(new DataView(raw.buffer, raw.byteOffset, 8), 0);
  }
  /** Copies `length` bytes at `offset` of the buffered input, across chunks. */
  copyOut(offset, length) {
    const first = this.chunks[0];
    if (offset + length <= first.length) return first.subarray(offset, offset + length);
    const out = new Uint8Array(length);
    let written = 0;
    let skip = offset;
    for (const chunk of this.chunks) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      const n = Math.min(chunk.length - skip, length - written);
      out.set(chunk.subarray(skip, skip + n), written);
      written += n;
      skip = 0;
      if (written === length) break;
    }
    return out;
  }
  /** Removes `size` bytes from the front of the buffer; no copy when one chunk holds them. */
  consume(size) {
    const first = this.chunks[0];
    let out;
    if (first.length >= size) {
      out = first.subarray(0, size);
      if (first.length === size) this.chunks.shift();
      else this.chunks[0] = first.subarray(size);
    } else {
      out = new Uint8Array(size);
      let written = 0;
      while (written < size) {
        const chunk = this.chunks[0];
        const n = Math.min(chunk.length, size - written);
        out.set(chunk.subarray(0, n), written);
        written += n;
        if (n === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(n);
      }
    }
    this.buffered -= size;
    return out;
  }
};
var u64 = (view, offset) => {
  const lo = view.getUint32(offset, true);
  const hi = view.getUint32(offset + 4, true);
  return hi >= 2097152 ? Infinity : hi * TWO_32 + lo;
};
var describe = (n) => n === Infinity ? "\u2265 2^53" : String(n);
var malformed = (message) => new ProtocolError({ reason: "MalformedFrame", message });

// src/internal/wire/message.ts
import * as Either4 from "effect/Either";
import { Packr, Unpackr } from "msgpackr";

// src/internal/wire/lz4.ts
import * as Either2 from "effect/Either";
var MIN_MATCH = 4;
var decodeBlock = (src, dst) => {
  const srcEnd = src.length;
  const dstEnd = dst.length;
  let s = 0;
  let d = 0;
  while (s < srcEnd) {
    const token = src[s++];
    let literals = token >>> 4;
    if (literals === 15) {
      let b;
      do {
        if (s >= srcEnd) return "truncated literal length";
        b = src[s++];
        literals += b;
      } while (b === 255);
    }
    if (literals > srcEnd - s) return "literals run past the input";
    if (literals > dstEnd - d) return "literals run past the declared size";
    if (literals < 32) {
      for (let i = 0; i < literals; i++) dst[d++] = src[s++];
    } else {
      dst.set(src.subarray(s, s + literals), d);
      s += literals;
      d += literals;
    }
    if (s === srcEnd) break;
    if (srcEnd - s < 2) return "truncated match offset";
    const offset = src[s] | src[s + 1] << 8;
    s += 2;
    if (offset === 0 || offset > d) return "match offset outside the output";
    let length = token & 15;
    if (length === 15) {
      let b;
      do {
        if (s >= srcEnd) return "truncated match length";
        b = src[s++];
        length += b;
      } while (b === 255);
    }
    length += MIN_MATCH;
    if (length > dstEnd - d) return "match runs past the declared size";
    const from = d - offset;
    while (length > 0) {
      const n = Math.min(length, d - from);
      dst.copyWithin(d, from, from + n);
      d += n;
      length -= n;
    }
  }
  return d;
};
var decompress = (data, maxBytes) => {
  if (data.length < 4) return Either2.left(lz4Error("frame shorter than its 4-byte size prefix"));
  const size = (data[0] | data[1] << 8 | data[2] << 16 | data[3] << 24) >>> 0;
  if (size > 2147483647) return Either2.left(lz4Error(`declared size ${size} is negative as a C int`));
  if (size > maxBytes) return Either2.left(lz4Error(`declared size ${size} exceeds the bound of ${maxBytes} bytes`));
  const out = new Uint8Array(size);
  const written = decodeBlock(data.subarray(4), out);
  if (typeof written === "string") return Either2.left(lz4Error(written));
  if (written !== size) return Either2.left(lz4Error(`block decoded to ${written} bytes, ${size} declared`));
  return Either2.right(out);
};
var lz4Error = (message) => new DecodeError({ serializer: "lz4", message });

// src/internal/wire/pickle.ts
import * as Either3 from "effect/Either";
var PyGlobal = class {
  constructor(module, name) {
    this.module = module;
    this.name = name;
  }
  module;
  name;
  _tag = "PyGlobal";
  get qualifiedName() {
    return `${this.module}.${this.name}`;
  }
};
var PyObject = class _PyObject {
  constructor(callable, args, kind = "reduce", kwargs = void 0) {
    this.callable = callable;
    this.args = args;
    this.kind = kind;
    this.kwargs = kwargs;
  }
  callable;
  args;
  kind;
  kwargs;
  _tag = "PyObject";
  state = void 0;
  listItems = void 0;
  dictItems = void 0;
  /** Builds a descriptor with BUILD state (for the writer). */
  static withState(callable, args, state, kind = "reduce") {
    const object = new _PyObject(callable, args, kind);
    object.state = state;
    return object;
  }
};
var PyTuple = class {
  constructor(items) {
    this.items = items;
  }
  items;
  _tag = "PyTuple";
};
var PickleFault = class {
  constructor(message) {
    this.message = message;
  }
  message;
};
var fail2 = (message) => {
  throw new PickleFault(message);
};
var utf8 = new TextDecoder("utf-8");
var utf8Encoder = new TextEncoder();
var OPCODE_NAMES = {
  80: "PERSID",
  81: "BINPERSID",
  83: "STRING",
  84: "BINSTRING",
  85: "SHORT_BINSTRING",
  105: "INST",
  111: "OBJ",
  130: "EXT1",
  131: "EXT2",
  132: "EXT4"
};
var RENAMED_MODULES = { __builtin__: "builtins", copy_reg: "copyreg", exceptions: "builtins" };
var readPickle = (bytes, buffers = [], options) => {
  try {
    return Either3.right(new Reader(bytes, buffers, options).run());
  } catch (error) {
    const message = error instanceof PickleFault ? error.message : `unexpected failure: ${error instanceof Error ? error.message : String(error)}`;
    return Either3.left(new DecodeError({ serializer: "pickle", message }));
  }
};
var Reader = class {
  constructor(src, buffers, options) {
    this.src = src;
    this.buffers = buffers;
    this.maxElements = options?.maxElements ?? 1e6;
    this.maxDepth = options?.maxDepth ?? 1e3;
    this.maxMemo = options?.maxMemo ?? 1e5;
    this.view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  }
  src;
  buffers;
  pos = 0;
  stack = [];
  marks = [];
  memo = /* @__PURE__ */ new Map();
  elements = 0;
  nextBuffer = 0;
  maxElements;
  maxDepth;
  maxMemo;
  view;
  run() {
    const src = this.src;
    for (; ; ) {
      if (this.pos >= src.length) fail2("pickle ends without STOP");
      const at2 = this.pos;
      const op = src[this.pos++];
      switch (op) {
        case 128: {
          const protocol = this.u8();
          if (protocol > 5) fail2(`unsupported pickle protocol ${protocol}`);
          break;
        }
        case 149: {
          const n = this.u64();
          if (n > src.length - this.pos) fail2("FRAME longer than the pickle");
          break;
        }
        case 46: {
          if (this.marks.length > 0) fail2("STOP inside a MARK");
          if (this.stack.length !== 1) fail2(`STOP with ${this.stack.length} values on the stack`);
          if (this.pos !== src.length) fail2(`${src.length - this.pos} bytes after STOP`);
          return new Finisher(this.maxDepth).finish(this.stack[0]);
        }
        case 40:
          if (this.marks.length >= this.maxDepth) fail2("MARKs nested too deeply");
          this.marks.push(this.stack.length);
          break;
        case 48:
          this.pop();
          break;
        case 49:
          this.popMark();
          break;
        case 50:
          this.push(this.top());
          break;
        case 78:
          this.push(null);
          break;
        case 136:
          this.push(true);
          break;
        case 137:
          this.push(false);
          break;
        case 74:
          this.need(4);
          this.push(this.view.getInt32(this.pos, true));
          this.pos += 4;
          break;
        case 75:
          this.push(this.u8());
          break;
        case 77:
          this.need(2);
          this.push(this.view.getUint16(this.pos, true));
          this.pos += 2;
          break;
        case 138:
          this.push(this.long(this.u8()));
          break;
        case 139: {
          this.need(4);
          const n = this.view.getInt32(this.pos, true);
          this.pos += 4;
          if (n < 0) fail2("LONG4 with a negative length");
          this.push(this.long(n));
          break;
        }
        case 73: {
          const line = this.line();
          this.push(line === "00" ? false : line === "01" ? true : parseInteger(line));
          break;
        }
        case 76:
          this.push(parseInteger(this.line().replace(/L$/, "")));
          break;
        case 70:
          this.push(parseFloatText(this.line()));
          break;
        case 71:
          this.need(8);
          this.push(this.view.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        case 140:
          this.push(utf8.decode(this.take(this.u8())));
          break;
        case 86:
          this.push(rawUnicodeEscape(this.rawLine()));
          break;
        case 88:
          this.push(utf8.decode(this.take(this.u32())));
          break;
        case 141:
          this.push(utf8.decode(this.take(this.u64())));
          break;
        case 67:
          this.push(this.take(this.u8()));
          break;
        case 66:
          this.push(this.take(this.u32()));
          break;
        case 142:
          this.push(this.take(this.u64()));
          break;
        case 150:
          this.push(this.take(this.u64()).slice());
          break;
        case 151: {
          if (this.nextBuffer >= this.buffers.length) fail2("NEXT_BUFFER without an out-of-band buffer");
          this.push(this.buffers[this.nextBuffer++]);
          break;
        }
        case 152:
          this.top();
          break;
        case 41:
          this.push([]);
          break;
        case 116:
          this.push(this.popMark());
          break;
        case 133:
          this.push([this.pop()]);
          break;
        case 134: {
          const b = this.pop();
          this.push([this.pop(), b]);
          break;
        }
        case 135: {
          const c = this.pop();
          const b = this.pop();
          this.push([this.pop(), b, c]);
          break;
        }
        case 93:
          this.push([]);
          break;
        case 108:
          this.push(this.popMark());
          break;
        case 97: {
          const item = this.pop();
          this.append(this.top(), [item]);
          break;
        }
        case 101: {
          const items = this.popMark();
          this.append(this.top(), items);
          break;
        }
        case 125:
          this.push(/* @__PURE__ */ new Map());
          break;
        case 100: {
          const items = this.popMark();
          const dict = /* @__PURE__ */ new Map();
          this.setItems(dict, items);
          this.push(dict);
          break;
        }
        case 115: {
          const value = this.pop();
          const key = this.pop();
          this.setItems(this.top(), [key, value]);
          break;
        }
        case 117: {
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case 143:
          this.push(/* @__PURE__ */ new Set());
          break;
        case 144: {
          const items = this.popMark();
          const target = this.top();
          if (!(target instanceof Set)) fail2("ADDITEMS on a non-set");
          for (const item of items) target.add(item);
          this.count(items.length);
          break;
        }
        case 145:
          this.push(new Set(this.popMark()));
          break;
        case 148:
          this.put(this.memo.size);
          break;
        case 113:
          this.put(this.u8());
          break;
        case 114:
          this.put(this.u32());
          break;
        case 112:
          this.put(parseIndex(this.line()));
          break;
        case 104:
          this.get(this.u8());
          break;
        case 106:
          this.get(this.u32());
          break;
        case 103:
          this.get(parseIndex(this.line()));
          break;
        case 99: {
          const module = this.line();
          const name = this.line();
          this.push(makeGlobal(module, name));
          break;
        }
        case 147: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== "string" || typeof name !== "string") fail2("STACK_GLOBAL needs two strings");
          this.push(makeGlobal(module, name));
          break;
        }
        case 82: {
          const args = this.pop();
          const callable = this.pop();
          if (!Array.isArray(args)) fail2("REDUCE arguments are not a tuple");
          this.push(reduce(callable, args));
          break;
        }
        case 129: {
          const args = this.pop();
          const cls = this.pop();
          if (!Array.isArray(args)) fail2("NEWOBJ arguments are not a tuple");
          this.push(new PyObject(cls, args, "newobj"));
          break;
        }
        case 146: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!Array.isArray(args)) fail2("NEWOBJ_EX arguments are not a tuple");
          this.push(new PyObject(cls, args, "newobj", kwargs));
          break;
        }
        case 98: {
          const state = this.pop();
          const target = this.top();
          if (!(target instanceof PyObject)) fail2("BUILD on a value that is not an object");
          target.state = state;
          break;
        }
        default:
          fail2(
            `opcode 0x${op.toString(16).padStart(2, "0")}${OPCODE_NAMES[op] ? ` (${OPCODE_NAMES[op]})` : ""} at ${at2} is not allowed`
          );
      }
    }
  }
  count(n) {
    this.elements += n;
    if (this.elements > this.maxElements) fail2(`more than ${this.maxElements} elements`);
  }
  push(value) {
    this.count(1);
    this.stack.push(value);
  }
  pop() {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) fail2("stack underflow");
    return this.stack.pop();
  }
  top() {
    const floor = this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
    if (this.stack.length <= floor) fail2("stack underflow");
    return this.stack[this.stack.length - 1];
  }
  popMark() {
    if (this.marks.length === 0) fail2("no MARK on the stack");
    const at2 = this.marks.pop();
    return this.stack.splice(at2);
  }
  append(target, items) {
    if (Array.isArray(target)) {
      for (const item of items) target.push(item);
    } else if (target instanceof PyObject) {
      const list = target.listItems ??= [];
      for (const item of items) list.push(item);
    } else {
      fail2("APPEND on a non-list");
    }
    this.count(items.length);
  }
  setItems(target, items) {
    if (items.length % 2 !== 0) fail2("SETITEMS with an odd number of values");
    const dict = target instanceof Map ? target : target instanceof PyObject ? target.dictItems ??= /* @__PURE__ */ new Map() : void 0;
    if (dict === void 0) fail2("SETITEM on a non-dict");
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
    this.count(items.length);
  }
  put(index) {
    if (this.memo.size >= this.maxMemo && !this.memo.has(index)) fail2(`more than ${this.maxMemo} memo entries`);
    this.memo.set(index, this.top());
  }
  get(index) {
    if (!this.memo.has(index)) fail2(`memo entry ${index} is missing`);
    this.push(this.memo.get(index));
  }
  need(n) {
    if (n > this.src.length - this.pos) fail2("pickle truncated");
  }
  u8() {
    this.need(1);
    return this.src[this.pos++];
  }
  u32() {
    this.need(4);
    const n = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return n;
  }
  u64() {
    this.need(8);
    const lo = this.view.getUint32(this.pos, true);
    const hi = this.view.getUint32(this.pos + 4, true);
    this.pos += 8;
    if (hi !== 0) fail2("8-byte length larger than the pickle");
    return lo;
  }
  take(n) {
    this.need(n);
    const out = this.src.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  line() {
    const end = this.src.indexOf(10, this.pos);
    if (end < 0) fail2("text argument without a newline");
    const text = utf8.decode(this.src.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }
  rawLine() {
    const end = this.src.indexOf(10, this.pos);
    if (end < 0) fail2("text argument without a newline");
    const raw = this.src.subarray(this.pos, end);
    this.pos = end + 1;
    return raw;
  }
  long(n) {
    if (n > 65536) fail2(`integer of ${n} bytes is too large`);
    const bytes = this.take(n);
    if (n === 0) return 0;
    let hex = "";
    for (let i = n - 1; i >= 0; i--) hex += bytes[i].toString(16).padStart(2, "0");
    let value = BigInt("0x" + hex);
    if (bytes[n - 1] & 128) value -= 1n << BigInt(8 * n);
    return normalizeInteger(value);
  }
};
var rawUnicodeEscape = (raw) => {
  let latin1 = "";
  for (let i = 0; i < raw.length; i++) latin1 += String.fromCharCode(raw[i]);
  return latin1.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u4, u8) => {
    const code = parseInt(u4 ?? u8, 16);
    if (code > 1114111) fail2("bad \\U escape");
    return String.fromCodePoint(code);
  });
};
var normalizeInteger = (value) => value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
var parseInteger = (text) => {
  const trimmed = text.trim();
  if (!/^[+-]?\d{1,4300}$/.test(trimmed)) fail2(`bad integer literal ${JSON.stringify(trimmed.slice(0, 40))}`);
  return normalizeInteger(BigInt(trimmed));
};
var parseIndex = (text) => {
  const n = parseInteger(text);
  if (typeof n !== "number" || n < 0) fail2("bad memo index");
  return n;
};
var parseFloatText = (text) => {
  const t = text.trim().toLowerCase();
  if (t === "inf" || t === "+inf") return Infinity;
  if (t === "-inf") return -Infinity;
  if (t === "nan") return NaN;
  const n = Number(t);
  if (t === "" || Number.isNaN(n)) fail2(`bad float literal ${JSON.stringify(t.slice(0, 40))}`);
  return n;
};
var makeGlobal = (module, name) => new PyGlobal(RENAMED_MODULES[module] ?? module, name);
var reduce = (callable, args) => {
  if (callable instanceof PyGlobal) {
    const name = callable.qualifiedName;
    switch (name) {
      case "builtins.set":
      case "builtins.frozenset": {
        if (args.length === 0) return /* @__PURE__ */ new Set();
        const source = args[0];
        if (Array.isArray(source)) return new Set(source);
        if (source instanceof Set) return new Set(source);
        break;
      }
      case "builtins.bytearray":
      case "builtins.bytes": {
        if (args.length === 0) return new Uint8Array(0);
        const source = args[0];
        if (source instanceof Uint8Array) return source.slice();
        if (typeof source === "string") return encodeText(source, args[1]);
        if (Array.isArray(source) && source.every((b) => typeof b === "number" && b >= 0 && b < 256 && Number.isInteger(b))) {
          return Uint8Array.from(source);
        }
        break;
      }
      case "_codecs.encode": {
        if (typeof args[0] === "string") return encodeText(args[0], args[1]);
        break;
      }
      case "collections.OrderedDict": {
        if (args.length === 0) return /* @__PURE__ */ new Map();
        break;
      }
    }
  }
  return new PyObject(callable, args, "reduce");
};
var encodeText = (text, encoding) => {
  const name = typeof encoding === "string" ? encoding.toLowerCase().replace(/[-_]/g, "") : "utf8";
  if (name === "latin1" || name === "iso88591") {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 255) fail2("latin-1 text with a character above U+00FF");
      out[i] = c;
    }
    return out;
  }
  if (name === "utf8") return utf8Encoder.encode(text);
  return fail2(`text encoding ${JSON.stringify(String(encoding)).slice(0, 40)} is not supported`);
};
var Finisher = class {
  constructor(maxDepth) {
    this.maxDepth = maxDepth;
  }
  maxDepth;
  done = /* @__PURE__ */ new Map();
  active = /* @__PURE__ */ new Set();
  finish(value, depth = 0) {
    if (typeof value !== "object" || value === null || value instanceof Uint8Array || value instanceof PyGlobal) {
      return value;
    }
    const cached = this.done.get(value);
    if (cached !== void 0) return cached;
    if (this.active.has(value)) fail2("recursive structure");
    if (depth >= this.maxDepth) fail2(`nested deeper than ${this.maxDepth}`);
    this.active.add(value);
    let out;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) value[i] = this.finish(value[i], depth + 1);
      out = value;
    } else if (value instanceof Map) {
      out = this.dict(value, depth);
    } else if (value instanceof Set) {
      const set = /* @__PURE__ */ new Set();
      for (const item of value) set.add(this.finish(item, depth + 1));
      out = set;
    } else if (value instanceof PyObject) {
      for (let i = 0; i < value.args.length; i++) value.args[i] = this.finish(value.args[i], depth + 1);
      value.state = this.finish(value.state, depth + 1);
      if (value.kwargs !== void 0) value.kwargs = this.finish(value.kwargs, depth + 1);
      if (value.listItems) value.listItems = this.finish(value.listItems, depth + 1);
      if (value.dictItems) {
        const items = /* @__PURE__ */ new Map();
        for (const [k, v] of value.dictItems) items.set(this.finish(k, depth + 1), this.finish(v, depth + 1));
        value.dictItems = items;
      }
      out = value;
    } else {
      out = value;
    }
    this.active.delete(value);
    this.done.set(value, out);
    return out;
  }
  dict(map5, depth) {
    return fromMap(map5, (v) => this.finish(v, depth + 1));
  }
};
var fromMap = (map5, convert) => {
  let stringKeys = true;
  for (const key of map5.keys()) {
    if (typeof key !== "string") {
      stringKeys = false;
      break;
    }
  }
  if (stringKeys) {
    const object = {};
    for (const [key, value] of map5) defineEntry(object, key, convert(value));
    return object;
  }
  const out = /* @__PURE__ */ new Map();
  for (const [key, value] of map5) out.set(convert(key), convert(value));
  return out;
};
var defineEntry = (object, key, value) => {
  if (key === "__proto__") {
    Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[key] = value;
  }
};
var ByteWriter = class {
  buffer = new Uint8Array(256);
  view = new DataView(this.buffer.buffer);
  length = 0;
  reserve(n) {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }
  byte(b) {
    this.reserve(1);
    this.buffer[this.length++] = b;
  }
  bytes(b) {
    this.reserve(b.length);
    this.buffer.set(b, this.length);
    this.length += b.length;
  }
  ascii(s) {
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.buffer[this.length++] = s.charCodeAt(i);
  }
  u32(n) {
    this.reserve(4);
    this.view.setUint32(this.length, n, true);
    this.length += 4;
  }
  i32(n) {
    this.reserve(4);
    this.view.setInt32(this.length, n, true);
    this.length += 4;
  }
  u64(n) {
    this.reserve(8);
    this.view.setUint32(this.length, n % 4294967296, true);
    this.view.setUint32(this.length + 4, Math.floor(n / 4294967296), true);
    this.length += 8;
  }
  f64be(n) {
    this.reserve(8);
    this.view.setFloat64(this.length, n, false);
    this.length += 8;
  }
  result() {
    return this.buffer.slice(0, this.length);
  }
};
var isAscii = (s) => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 127) return false;
  return true;
};
var INT32_MIN = -2147483648;
var INT32_MAX = 2147483647;
var writePickle = (value) => {
  const w = new ByteWriter();
  w.byte(128);
  w.byte(4);
  writeValue(w, value, 0);
  w.byte(46);
  return w.result();
};
var MAX_WRITE_DEPTH = 1e3;
var writeString = (w, s) => {
  if (s.length < 256 && isAscii(s)) {
    w.byte(140);
    w.byte(s.length);
    w.ascii(s);
    return;
  }
  const b = utf8Encoder.encode(s);
  if (b.length < 256) {
    w.byte(140);
    w.byte(b.length);
  } else if (b.length <= 4294967295) {
    w.byte(88);
    w.u32(b.length);
  } else {
    w.byte(141);
    w.u64(b.length);
  }
  w.bytes(b);
};
var writeBigInt = (w, v) => {
  if (v >= BigInt(INT32_MIN) && v <= BigInt(INT32_MAX)) {
    w.byte(74);
    w.i32(Number(v));
    return;
  }
  const out = [];
  let x = v;
  for (; ; ) {
    const b = Number(x & 0xffn);
    out.push(b);
    x >>= 8n;
    if (x === 0n && (b & 128) === 0 || x === -1n && (b & 128) !== 0) break;
  }
  if (out.length < 256) {
    w.byte(138);
    w.byte(out.length);
  } else {
    w.byte(139);
    w.i32(out.length);
  }
  w.bytes(Uint8Array.from(out));
};
var writeItems = (w, items, depth) => {
  for (const item of items) writeValue(w, item, depth + 1);
};
var writeValue = (w, value, depth) => {
  if (depth > MAX_WRITE_DEPTH) throw new TypeError("pickle: value nested too deeply");
  switch (typeof value) {
    case "string":
      return writeString(w, value);
    case "boolean":
      return w.byte(value ? 136 : 137);
    case "number":
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) return writeBigInt(w, BigInt(value));
      w.byte(71);
      return w.f64be(value);
    case "bigint":
      return writeBigInt(w, value);
    case "object":
      break;
    default:
      throw new TypeError(`pickle: cannot write a value of type ${typeof value}`);
  }
  if (value === null) return w.byte(78);
  if (value instanceof Uint8Array) {
    if (value.length < 256) {
      w.byte(67);
      w.byte(value.length);
    } else if (value.length <= 4294967295) {
      w.byte(66);
      w.u32(value.length);
    } else {
      w.byte(142);
      w.u64(value.length);
    }
    return w.bytes(value);
  }
  if (Array.isArray(value)) {
    w.byte(93);
    if (value.length > 0) {
      w.byte(40);
      writeItems(w, value, depth);
      w.byte(101);
    }
    return;
  }
  if (value instanceof PyTuple) {
    if (value.items.length === 0) return w.byte(41);
    w.byte(40);
    writeItems(w, value.items, depth);
    return w.byte(116);
  }
  if (value instanceof PyGlobal) {
    writeString(w, value.module);
    writeString(w, value.name);
    return w.byte(147);
  }
  if (value instanceof PyObject) {
    writeValue(w, value.callable, depth + 1);
    writeValue(w, new PyTuple(value.args), depth + 1);
    if (value.kind === "newobj" && value.kwargs !== void 0) {
      writeValue(w, value.kwargs, depth + 1);
      w.byte(146);
    } else {
      w.byte(value.kind === "newobj" ? 129 : 82);
    }
    if (value.state !== void 0) {
      writeValue(w, value.state, depth + 1);
      w.byte(98);
    }
    return;
  }
  if (value instanceof Map) {
    w.byte(125);
    if (value.size > 0) {
      w.byte(40);
      for (const [k, v] of value) {
        writeValue(w, k, depth + 1);
        writeValue(w, v, depth + 1);
      }
      w.byte(117);
    }
    return;
  }
  if (value instanceof Set) {
    w.byte(143);
    if (value.size > 0) {
      w.byte(40);
      writeItems(w, value, depth);
      w.byte(144);
    }
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    const entries2 = Object.entries(value);
    w.byte(125);
    if (entries2.length > 0) {
      w.byte(40);
      for (const [k, v] of entries2) {
        writeString(w, k);
        writeValue(w, v, depth + 1);
      }
      w.byte(117);
    }
    return;
  }
  throw new TypeError(`pickle: cannot write an instance of ${proto?.constructor?.name ?? "an unknown class"}`);
};
var pickleGlobal = (module, name) => {
  const body = new ByteWriter();
  writeString(body, module);
  body.byte(148);
  writeString(body, name);
  body.byte(148);
  body.byte(147);
  body.byte(148);
  body.byte(46);
  const bodyBytes = body.result();
  const w = new ByteWriter();
  w.byte(128);
  w.byte(4);
  w.byte(149);
  w.u64(bodyBytes.length);
  w.bytes(bodyBytes);
  return w.result();
};
var pickledTypeName = (bytes) => {
  const read = readPickle(bytes, [], { maxElements: 1e3 });
  if (Either3.isLeft(read)) return void 0;
  const value = read.right;
  if (value instanceof PyGlobal) return value.module === "builtins" ? value.name : value.qualifiedName;
  if (value instanceof PyObject && value.callable instanceof PyGlobal && value.callable.qualifiedName === "builtins.type" && value.args.length === 1) {
    const [arg] = value.args;
    if (arg === null) return "NoneType";
    if (typeof arg === "boolean") return "bool";
  }
  return void 0;
};

// src/internal/wire/message.ts
var Serialized = class {
  constructor(header, frames) {
    this.header = header;
    this.frames = frames;
  }
  header;
  frames;
  _tag = "Serialized";
};
var Pickled = class {
  constructor(header, frames) {
    this.header = header;
    this.frames = frames;
  }
  header;
  frames;
  _tag = "Pickled";
};
var ToSerialize = class {
  constructor(value) {
    this.value = value;
  }
  value;
  _tag = "ToSerialize";
};
var ToPickleBytes = class {
  constructor(bytes, header) {
    this.bytes = bytes;
    this.header = header;
  }
  bytes;
  header;
  _tag = "ToPickleBytes";
};
var packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
var INT64_AUTO = "auto";
var unpackrObjects = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: INT64_AUTO });
var unpackrMaps = new Unpackr({ useRecords: false, mapsAsObjects: false, int64AsType: INT64_AUTO });
var MAX_DEPTH = 512;
var scan = (b, maxDepth) => {
  const len = b.length;
  const remaining = [];
  const maps = [];
  let p = 0;
  let stringKeys = true;
  let roots = 1;
  while (roots > 0 || remaining.length > 0) {
    let keyPosition = false;
    const top = remaining.length - 1;
    if (top >= 0) {
      if (remaining[top] === 0) {
        remaining.pop();
        maps.pop();
        continue;
      }
      keyPosition = maps[top] && remaining[top] % 2 === 0;
      remaining[top]--;
    } else {
      roots--;
    }
    if (p >= len) return "truncated msgpack";
    const t = b[p++];
    let items = -1;
    let isMap = false;
    let skip = 0;
    let isString = false;
    if (t <= 127 || t >= 224) {
    } else if (t <= 143) {
      items = t & 15;
      isMap = true;
    } else if (t <= 159) {
      items = t & 15;
    } else if (t <= 191) {
      skip = t & 31;
      isString = true;
    } else {
      const avail = len - p;
      switch (t) {
        case 192:
        case 194:
        case 195:
          break;
        case 204:
        case 208:
          skip = 1;
          break;
        case 205:
        case 209:
          skip = 2;
          break;
        case 202:
        case 206:
        case 210:
          skip = 4;
          break;
        case 203:
        case 207:
        case 211:
          skip = 8;
          break;
        case 196:
        case 217:
          if (avail < 1) return "truncated msgpack";
          skip = b[p];
          p += 1;
          isString = t === 217;
          break;
        case 197:
        case 218:
          if (avail < 2) return "truncated msgpack";
          skip = b[p] << 8 | b[p + 1];
          p += 2;
          isString = t === 218;
          break;
        case 198:
        case 219:
          if (avail < 4) return "truncated msgpack";
          skip = readU32(b, p);
          p += 4;
          isString = t === 219;
          break;
        case 220:
          if (avail < 2) return "truncated msgpack";
          items = b[p] << 8 | b[p + 1];
          p += 2;
          break;
        case 221:
          if (avail < 4) return "truncated msgpack";
          items = readU32(b, p);
          p += 4;
          break;
        case 222:
          if (avail < 2) return "truncated msgpack";
          items = b[p] << 8 | b[p + 1];
          p += 2;
          isMap = true;
          break;
        case 223:
          if (avail < 4) return "truncated msgpack";
          items = readU32(b, p);
          p += 4;
          isMap = true;
          break;
        default:
          return t === 193 ? "msgpack byte 0xc1 is never used" : `msgpack extension type (0x${t.toString(16)}) is not allowed`;
      }
    }
    if (keyPosition && !isString) stringKeys = false;
    if (skip > len - p) return "truncated msgpack";
    p += skip;
    if (items > 0) {
      const count = isMap ? items * 2 : items;
      if (count > len - p) return "msgpack container declares more items than bytes remain";
      if (remaining.length >= maxDepth) return `msgpack nested deeper than ${maxDepth}`;
      remaining.push(count);
      maps.push(isMap);
    }
  }
  if (p !== len) return `${len - p} bytes after the msgpack value`;
  return { stringKeys };
};
var readU32 = (b, p) => (b[p] << 24 >>> 0) + (b[p + 1] << 16 | b[p + 2] << 8 | b[p + 3]);
var mapsToObjects = (value) => {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = mapsToObjects(value[i]);
    return value;
  }
  if (value instanceof Map) return fromMap(value, mapsToObjects);
  return value;
};
var decodeMsgpack = (bytes) => {
  const scanned = scan(bytes, MAX_DEPTH);
  if (typeof scanned === "string") return Either4.left(scanned);
  try {
    return Either4.right(scanned.stringKeys ? unpackrObjects.unpack(bytes) : mapsToObjects(unpackrMaps.unpack(bytes)));
  } catch (error) {
    return Either4.left(`msgpack: ${error instanceof Error ? error.message : String(error)}`);
  }
};
var MessageFault = class {
  constructor(message) {
    this.message = message;
  }
  message;
};
var isPlainObject = (u) => {
  if (typeof u !== "object" || u === null) return false;
  const proto = Object.getPrototypeOf(u);
  return proto === Object.prototype || proto === null;
};
var hasOwn = (o, key) => Object.prototype.hasOwnProperty.call(o, key);
var subFrameOffset = (marker) => marker === true ? 1 : typeof marker === "number" && Number.isInteger(marker) && marker > 0 ? marker : void 0;
var readSubFrames = (frames, offset, revive) => {
  if (offset >= frames.length) throw new MessageFault(`sub-header frame ${offset} of ${frames.length} frames`);
  const decoded = decodeMsgpack(frames[offset]);
  if (Either4.isLeft(decoded)) throw new MessageFault(`sub-header: ${decoded.left}`);
  const header = revive ? reviveValue(decoded.right, [], 0) : decoded.right;
  if (!isPlainObject(header)) throw new MessageFault("sub-header is not a map");
  const count = header["num-sub-frames"];
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
    throw new MessageFault("sub-header without a valid num-sub-frames");
  }
  if (count > frames.length - offset - 1) {
    throw new MessageFault(`sub-header at ${offset} claims ${count} frames, ${frames.length - offset - 1} follow`);
  }
  return { header, frames: frames.slice(offset + 1, offset + 1 + count) };
};
var reviveValue = (value, frames, depth) => {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) return value;
  if (depth > MAX_DEPTH) throw new MessageFault("message nested too deeply");
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveValue(value[i], frames, depth + 1);
    return value;
  }
  if (value instanceof Map) {
    const out = /* @__PURE__ */ new Map();
    for (const [k, v] of value) out.set(reviveValue(k, frames, depth + 1), reviveValue(v, frames, depth + 1));
    return out;
  }
  const object = value;
  if (hasOwn(object, "__Serialized__")) {
    const offset = subFrameOffset(object["__Serialized__"]);
    if (offset !== void 0) {
      const sub = readSubFrames(frames, offset, true);
      return new Serialized(sub.header, sub.frames);
    }
    const data = object["data"];
    if (Array.isArray(data) && data.length === 2 && isPlainObject(data[0]) && Array.isArray(data[1]) && data[1].every((f) => f instanceof Uint8Array)) {
      return new Serialized(reviveValue(data[0], [], depth + 1), data[1]);
    }
    throw new MessageFault("malformed __Serialized__ marker");
  }
  if (hasOwn(object, "__Pickled__")) {
    const offset = subFrameOffset(object["__Pickled__"]);
    if (offset !== void 0) {
      const sub = readSubFrames(frames, offset, false);
      if (!(sub.header["pickled-obj"] instanceof Uint8Array)) throw new MessageFault("__Pickled__ sub-header without pickled-obj");
      return new Pickled(sub.header, sub.frames);
    }
  }
  if (hasOwn(object, "__Set__")) {
    const list = object["as-list"];
    if (!Array.isArray(list)) throw new MessageFault("__Set__ without an as-list array");
    return reviveValue(list, frames, depth + 1);
  }
  for (const key of Object.keys(object)) object[key] = reviveValue(object[key], frames, depth + 1);
  return object;
};
var decodeMessage = (frames) => {
  if (frames.length === 0) return Either4.left(malformedMessage("message without frames"));
  const root = decodeMsgpack(frames[0]);
  if (Either4.isLeft(root)) return Either4.left(malformedMessage(root.left));
  try {
    return Either4.right(reviveValue(root.right, frames, 0));
  } catch (error) {
    return Either4.left(malformedMessage(error instanceof MessageFault ? error.message : String(error)));
  }
};
var malformedMessage = (message) => new ProtocolError({ reason: "MalformedMessage", message });
var UINT32_MAX = 4294967295;
var INT32_MIN2 = -2147483648;
var INT64_MIN = -(2n ** 63n);
var UINT64_MAX = 2n ** 64n - 1n;
var UnsendableError = class extends TypeError {
  constructor(reason) {
    super(reason);
    this.reason = reason;
  }
  reason;
  path = [];
  describe(root) {
    return `${root}${this.path.join("")}: ${this.reason}`;
  }
};
var at = (error, step) => {
  if (error instanceof UnsendableError) error.path.unshift(step);
  throw error;
};
var normalize = (value, strict, depth) => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isInteger(value) && (value > UINT32_MAX || value < INT32_MIN2) && Number.isSafeInteger(value) ? BigInt(value) : value;
    case "bigint":
      if (value < INT64_MIN || value > UINT64_MAX) throw new UnsendableError(`integer ${value} does not fit 64 bits`);
      return value;
    case "undefined":
      if (strict) throw new UnsendableError("undefined has no Python equivalent (use null)");
      return void 0;
    case "object":
      break;
    default:
      throw new UnsendableError(`a ${typeof value} cannot be sent`);
  }
  if (value === null || value instanceof Uint8Array) return value;
  if (depth > MAX_DEPTH) throw new UnsendableError(`nested deeper than ${MAX_DEPTH} (or cyclic)`);
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) {
      try {
        out[i] = normalize(value[i], strict, depth + 1);
      } catch (error) {
        at(error, `[${i}]`);
      }
    }
    return out;
  }
  if (value instanceof Map) {
    const out = /* @__PURE__ */ new Map();
    for (const [k, v] of value) {
      if (typeof k === "object" && k !== null) throw new UnsendableError("Map keys must be strings or numbers");
      try {
        out.set(normalize(k, true, depth + 1), normalize(v, strict, depth + 1));
      } catch (error) {
        at(error, `.${String(k)}`);
      }
    }
    return out;
  }
  if (isPlainObject(value)) {
    const out = {};
    for (const key of Object.keys(value)) {
      try {
        defineEntry(out, key, normalize(value[key], strict, depth + 1));
      } catch (error) {
        at(error, `.${key}`);
      }
    }
    return out;
  }
  const name = Object.getPrototypeOf(value)?.constructor?.name ?? "object";
  throw new UnsendableError(
    `a ${name} cannot be sent (only null, booleans, numbers, bigints, strings, Uint8Array, arrays, plain objects and Maps)`
  );
};
var normalizeAt = (value, strict, root) => {
  try {
    return normalize(value, strict, 0);
  } catch (error) {
    throw error instanceof UnsendableError ? new TypeError(error.describe(root)) : error;
  }
};
var checkValue = (value) => {
  try {
    normalize(value, true, 0);
    return void 0;
  } catch (error) {
    return error instanceof UnsendableError ? error.describe("value") : String(error);
  }
};
var prepare = (value, frames, depth) => {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) {
    return normalizeAt(value, false, "message");
  }
  if (depth > MAX_DEPTH) throw new TypeError("message nested too deeply (or cyclic)");
  if (value instanceof Serialized || value instanceof Pickled) {
    const offset = frames.length;
    const header = { ...value.header, "num-sub-frames": value.frames.length };
    frames.push(packr.pack(normalizeAt(header, false, "sub-header")), ...value.frames);
    return value instanceof Serialized ? { "__Serialized__": offset } : { "__Pickled__": offset };
  }
  if (value instanceof ToSerialize) {
    const offset = frames.length;
    const frame = packr.pack(normalizeAt(value.value, true, "value"));
    frames.push(packr.pack({ serializer: "msgpack", "num-sub-frames": 1 }), frame);
    return { "__Serialized__": offset };
  }
  if (value instanceof ToPickleBytes) {
    const offset = frames.length;
    const header = { serializer: "pickle", writeable: [], ...value.header, "num-sub-frames": 1 };
    frames.push(packr.pack(normalizeAt(header, false, "sub-header")), value.bytes);
    return { "__Serialized__": offset };
  }
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = prepare(value[i], frames, depth + 1);
    return out;
  }
  if (value instanceof Map) {
    const out = /* @__PURE__ */ new Map();
    for (const [k, v] of value) out.set(prepare(k, frames, depth + 1), prepare(v, frames, depth + 1));
    return out;
  }
  if (isPlainObject(value)) {
    const out = {};
    for (const key of Object.keys(value)) defineEntry(out, key, prepare(value[key], frames, depth + 1));
    return out;
  }
  return normalizeAt(value, false, "message");
};
var encodeMessage = (message) => {
  const frames = [new Uint8Array(0)];
  const body = prepare(message, frames, 0);
  frames[0] = packr.pack(body);
  return frames;
};
var DeserializeFault = class {
  constructor(error) {
    this.error = error;
  }
  error;
};
var decodeFail = (serializer, message) => {
  throw new DeserializeFault(new DecodeError({ serializer, message }));
};
var unwrap = (either) => {
  if (Either4.isLeft(either)) throw new DeserializeFault(either.left);
  return either.right;
};
var concat = (frames, budget) => {
  if (frames.length === 1) return frames[0];
  let size = 0;
  for (const f of frames) size += f.length;
  budget.spend(size);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const f of frames) {
    out.set(f, offset);
    offset += f.length;
  }
  return out;
};
var Budget = class {
  constructor(bytes, maxElements) {
    this.bytes = bytes;
    this.maxElements = maxElements;
  }
  bytes;
  maxElements;
  spend(n) {
    if (n > this.bytes) decodeFail("dask", "decoded data exceeds the configured bound");
    this.bytes -= n;
  }
};
var serializerName = (header) => typeof header["serializer"] === "string" ? header["serializer"] : "unknown";
var intArray = (u, what, serializer) => {
  if (!Array.isArray(u) || !u.every((n) => typeof n === "number" && Number.isInteger(n) && n >= 0)) {
    decodeFail(serializer, `${what} is not an array of non-negative integers`);
  }
  return u;
};
var deserialize = (value, options) => {
  try {
    const budget = new Budget(options?.maxBytes ?? 256 * 1024 * 1024, options?.maxElements ?? 16 * 1024 * 1024);
    const header = value.header;
    let frames = value.frames;
    if (hasOwn(header, "compression") && header["compression"] != null) {
      const compression = header["compression"];
      if (!Array.isArray(compression) || compression.length !== frames.length) {
        decodeFail(serializerName(header), "compression does not list one codec per frame");
      }
      frames = frames.map((frame, i) => {
        const codec = compression[i];
        if (codec === null || codec === void 0) return frame;
        if (codec === "lz4") {
          const out = unwrap(decompress(frame, budget.bytes));
          budget.spend(out.length);
          return out;
        }
        return decodeFail(
          typeof codec === "string" ? codec : "unknown",
          `frames compressed with ${JSON.stringify(codec)} cannot be decompressed (supported: lz4)`
        );
      });
    }
    if (hasOwn(header, "split-num-sub-frames")) {
      const counts = intArray(header["split-num-sub-frames"], "split-num-sub-frames", serializerName(header));
      const offsets = intArray(header["split-offsets"], "split-offsets", serializerName(header));
      if (counts.length !== offsets.length) decodeFail(serializerName(header), "split-num-sub-frames and split-offsets differ in length");
      const merged = [];
      for (let i = 0; i < counts.length; i++) {
        const start2 = offsets[i];
        const n = counts[i];
        if (start2 + n > frames.length) decodeFail(serializerName(header), "split frames out of range");
        merged.push(concat(frames.slice(start2, start2 + n), budget));
      }
      frames = merged;
    }
    return Either4.right(deserializeFrames(header, frames, budget, 0));
  } catch (error) {
    if (error instanceof DeserializeFault) return Either4.left(error.error);
    return Either4.left(new DecodeError({ serializer: serializerName(value.header), message: `unexpected failure: ${String(error)}` }));
  }
};
var COLLECTION_TYPES = /* @__PURE__ */ new Set(["list", "tuple", "set", "dict"]);
var deserializeFrames = (header, frames, budget, depth) => {
  if (depth > 32) decodeFail(serializerName(header), "collections nested too deeply");
  if (hasOwn(header, "is-collection") && header["is-collection"]) {
    const type = header["type-serialized"];
    const headers = header["sub-headers"];
    const lengths = intArray(header["frame-lengths"], "frame-lengths", "collection");
    if (typeof type !== "string" || !COLLECTION_TYPES.has(type)) decodeFail("collection", `collection type ${String(type)} is not supported`);
    if (!Array.isArray(headers) || headers.length !== lengths.length) decodeFail("collection", "sub-headers and frame-lengths differ");
    const items = [];
    const keys = [];
    let start2 = 0;
    for (let i = 0; i < lengths.length; i++) {
      const sub = headers[i];
      if (!isPlainObject(sub)) decodeFail("collection", "sub-header is not a map");
      const end = start2 + lengths[i];
      if (end > frames.length) decodeFail("collection", "frame-lengths exceed the frames");
      const { key, ...rest } = sub;
      keys.push(key);
      items.push(deserializeFrames(rest, frames.slice(start2, end), budget, depth + 1));
      start2 = end;
    }
    if (type === "dict") {
      if (keys.every((k) => typeof k === "string")) {
        const object = {};
        keys.forEach((k, i) => defineEntry(object, k, items[i]));
        return object;
      }
      return new Map(keys.map((k, i) => [k, items[i]]));
    }
    return type === "set" ? new Set(items) : items;
  }
  const serializer = header["serializer"];
  switch (serializer) {
    case "msgpack": {
      const decoded = decodeMsgpack(concat(frames, budget));
      if (Either4.isLeft(decoded)) return decodeFail("msgpack", decoded.left);
      return decoded.right;
    }
    case "pickle": {
      if (frames.length === 0) return decodeFail("pickle", "no pickle frame");
      return unwrap(readPickle(frames[0], frames.slice(1)));
    }
    case "dask":
      return deserializeDask(header, frames, budget);
    case "error": {
      const text = frames.map((f) => new TextDecoder().decode(f)).join("\n");
      return decodeFail("error", text.length > 0 ? text : "the sender could not serialize the value");
    }
    default:
      return decodeFail(
        typeof serializer === "string" ? serializer : "unknown",
        typeof serializer === "string" ? `serializer ${JSON.stringify(serializer)} is not supported` : "sub-header has no serializer"
      );
  }
};
var daskTypeName = (header) => {
  if (typeof header["type"] === "string") return header["type"];
  const pickled = header["type-serialized"];
  if (pickled instanceof Uint8Array) {
    const cls = readPickle(pickled);
    if (Either4.isRight(cls) && cls.right instanceof PyGlobal) {
      return cls.right.module === "builtins" ? cls.right.name : cls.right.qualifiedName;
    }
  }
  return void 0;
};
var deserializeDask = (header, frames, budget) => {
  const type = daskTypeName(header);
  switch (type) {
    case "bytes":
      return concat(frames, budget);
    case "bytearray":
      return concat(frames, budget).slice();
    case "numpy.ndarray": {
      const sub = header["sub-header"];
      if (!isPlainObject(sub)) return decodeFail("dask", "numpy.ndarray without a sub-header");
      return decodeNdarray(sub, frames, budget);
    }
    default:
      return decodeFail("dask", `dask-serialized type ${type === void 0 ? "(unnamed)" : JSON.stringify(type)} is not supported`);
  }
};
var DTYPE = /^([<>|=])([biufUS])(\d{1,6})$/;
var decodeNdarray = (sub, frames, budget) => {
  if (sub["pickle"]) return decodeFail("dask", "numpy arrays of Python objects are pickled; not supported");
  const dtype = sub["dtype"];
  if (!Array.isArray(dtype) || dtype.length !== 2 || dtype[0] !== 0 || typeof dtype[1] !== "string") {
    return decodeFail("dask", "numpy dtype is structured or malformed; not supported");
  }
  const match2 = DTYPE.exec(dtype[1]);
  if (match2 === null) return decodeFail("dask", `numpy dtype ${JSON.stringify(dtype[1])} is not supported`);
  const [, order, kind, sizeText] = match2;
  const size = Number(sizeText);
  const itemsize = kind === "U" ? 4 * size : size;
  const little = order !== ">";
  const readers = {
    b1: (v, o) => v.getUint8(o) !== 0,
    i1: (v, o) => v.getInt8(o),
    u1: (v, o) => v.getUint8(o),
    i2: (v, o) => v.getInt16(o, little),
    u2: (v, o) => v.getUint16(o, little),
    i4: (v, o) => v.getInt32(o, little),
    u4: (v, o) => v.getUint32(o, little),
    i8: (v, o) => safeBig(v.getBigInt64(o, little)),
    u8: (v, o) => safeBig(v.getBigUint64(o, little)),
    f4: (v, o) => v.getFloat32(o, little),
    f8: (v, o) => v.getFloat64(o, little)
  };
  let read = readers[`${kind}${size}`];
  if (kind === "U") {
    read = (v, o) => {
      let s = "";
      for (let i = 0; i < size; i++) {
        const c = v.getUint32(o + 4 * i, little);
        if (c === 0) break;
        if (c > 1114111) return decodeFail("dask", "invalid code point in a numpy unicode array");
        s += String.fromCodePoint(c);
      }
      return s;
    };
  } else if (kind === "S") {
    read = (v, o) => {
      let end = size;
      while (end > 0 && v.getUint8(o + end - 1) === 0) end--;
      return new Uint8Array(v.buffer, v.byteOffset + o, end).slice();
    };
  }
  if (read === void 0 || itemsize === 0) return decodeFail("dask", `numpy dtype ${JSON.stringify(dtype[1])} is not supported`);
  if (frames.length !== 1) return decodeFail("dask", "numpy array must have exactly one frame");
  const frame = frames[0];
  const shape = intArray(Array.isArray(sub["broadcast_to"]) ? sub["broadcast_to"] : sub["shape"], "numpy shape", "dask");
  const strides = sub["strides"];
  if (!Array.isArray(strides) || strides.length !== shape.length || !strides.every((s) => typeof s === "number" && Number.isInteger(s))) {
    return decodeFail("dask", "numpy strides do not match the shape");
  }
  let count = 1;
  let min = 0;
  let max = 0;
  for (let i = 0; i < shape.length; i++) {
    count *= shape[i];
    const extent = (shape[i] - 1) * strides[i];
    if (extent > 0) max += extent;
    else min += extent;
  }
  let nodes = 1;
  for (let i = 0; i < shape.length && nodes > 0; i++) {
    nodes *= shape[i];
    if (nodes > budget.maxElements) return decodeFail("dask", `numpy array of shape [${shape.join(", ")}] exceeds the bound`);
  }
  if (count > budget.maxElements) return decodeFail("dask", `numpy array of ${count} elements exceeds the bound`);
  if (count > 0 && (min < 0 || max + itemsize > frame.length)) return decodeFail("dask", "numpy strides reach outside the data frame");
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const build = (dim, offset) => {
    if (dim === shape.length) return read(view, offset);
    const n = shape[dim];
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = build(dim + 1, offset + i * strides[dim]);
    return out;
  };
  if (shape.length > 64) return decodeFail("dask", "numpy array has too many dimensions");
  return build(0, 0);
};
var safeBig = (v) => v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
var unpickle = (value) => {
  const pickled = value.header["pickled-obj"];
  if (!(pickled instanceof Uint8Array)) {
    return Either4.left(new DecodeError({ serializer: "pickle", message: "__Pickled__ without pickled-obj" }));
  }
  return readPickle(pickled, value.frames);
};

// src/internal/wire/connection.ts
var parseAddress = (address) => {
  const trimmed = address.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(trimmed);
  if (scheme !== null && scheme[1].toLowerCase() !== "tcp") {
    return Either5.left(`unsupported scheme "${scheme[1]}" in "${address}": only tcp:// is supported`);
  }
  const rest = scheme === null ? trimmed : trimmed.slice(scheme[0].length);
  const match2 = /^(?:\[([0-9a-fA-F:.]+)\]|([^:/\s[\]]+)):(\d{1,5})\/?$/.exec(rest);
  if (match2 === null) return Either5.left(`invalid Dask scheduler address "${address}": expected tcp://host:port`);
  const port = Number(match2[3]);
  if (port < 1 || port > 65535) return Either5.left(`invalid port ${port} in "${address}"`);
  const host = match2[1] ?? match2[2];
  return Either5.right({ host, port, url: `tcp://${match2[1] !== void 0 ? `[${host}]` : host}:${port}` });
};
var CLIENT_HELLO = { compression: null, python: [3, 11, 2], "pickle-protocol": 5 };
var getField = (u, field4) => {
  if (u instanceof Map) return u.get(field4);
  if (typeof u === "object" && u !== null) return u[field4];
  return void 0;
};
var errorCode = (cause) => {
  const code = cause?.code;
  if (typeof code === "string") return code;
  const errors2 = cause?.errors;
  return Array.isArray(errors2) ? errorCode(errors2[0]) : void 0;
};
var connect = (address, options) => Effect3.gen(function* () {
  const connected = yield* Deferred.make();
  const closed = yield* Deferred.make();
  const hello = yield* Deferred.make();
  const reader = new FrameReader({ maxMessageBytes: options.maxMessageBytes });
  let isConnected = false;
  let handshaken = false;
  let ended;
  const end = (socket2, error) => {
    if (ended !== void 0) return;
    ended = error;
    if (!isConnected) {
      Deferred.unsafeDone(connected, Exit.fail(new ConnectError({ address: address.url, cause: error.cause ?? error })));
    }
    Deferred.unsafeDone(hello, Exit.fail(error));
    Deferred.unsafeDone(closed, Exit.fail(error));
    socket2.destroy();
  };
  const onData = (socket2, chunk) => {
    if (ended !== void 0) return;
    const pushed = reader.push(chunk);
    if (Either5.isLeft(pushed)) return end(socket2, pushed.left);
    const messages = pushed.right;
    for (let i = 0; i < messages.length; i++) {
      const decoded = decodeMessage(messages[i]);
      if (Either5.isLeft(decoded)) return end(socket2, decoded.left);
      if (handshaken) {
        options.onMessage(decoded.right);
        if (ended !== void 0) return;
      } else {
        const value = decoded.right;
        if (getField(value, "pickle-protocol") === void 0 || !hasField(value, "compression")) {
          return end(
            socket2,
            new ProtocolError({ reason: "Handshake", message: `${address.url} did not start with a Dask handshake` })
          );
        }
        handshaken = true;
        Deferred.unsafeDone(hello, Exit.succeed(value));
      }
    }
  };
  const socket = yield* Effect3.acquireRelease(
    Effect3.sync(() => {
      const socket2 = Net.createConnection({ host: address.host, port: address.port, noDelay: true });
      socket2.once("connect", () => {
        isConnected = true;
        Deferred.unsafeDone(connected, Exit.void);
      });
      socket2.on("data", (chunk) => onData(socket2, chunk));
      socket2.on("error", (cause) => {
        if (!isConnected && ended === void 0) {
          ended = new ConnectionLostError({ address: address.url, cause });
          Deferred.unsafeDone(connected, Exit.fail(new ConnectError({ address: address.url, code: errorCode(cause), cause })));
          socket2.destroy();
          return;
        }
        end(socket2, new ConnectionLostError({ address: address.url, cause }));
      });
      socket2.on("end", () => end(socket2, new ConnectionLostError({ address: address.url, cause: "EOF" })));
      socket2.on("close", () => end(socket2, new ConnectionLostError({ address: address.url, cause: "closed" })));
      return socket2;
    }),
    (socket2) => Effect3.sync(() => {
      if (ended === void 0) {
        ended = new ConnectionLostError({ address: address.url, cause: "closed" });
        Deferred.unsafeDone(hello, Exit.fail(ended));
        Deferred.unsafeDone(closed, Exit.fail(ended));
      }
      if (!socket2.destroyed) socket2.destroySoon();
    })
  );
  yield* Deferred.await(connected).pipe(
    Effect3.timeoutFail({
      duration: options.connectTimeout,
      onTimeout: () => new ConnectError({ address: address.url, cause: `timed out after ${Duration2.format(options.connectTimeout)}` })
    })
  );
  const write = (message) => Effect3.suspend(() => {
    if (ended !== void 0) {
      return Effect3.fail(
        ended instanceof ConnectionLostError ? ended : new ConnectionLostError({ address: address.url, cause: ended })
      );
    }
    const bytes = encodeFrames(encodeMessage(message));
    return Effect3.async((resume) => {
      socket.write(bytes, (cause) => {
        resume(cause ? Effect3.fail(new ConnectionLostError({ address: address.url, cause })) : Effect3.void);
      });
    });
  });
  const peerHello = yield* Deferred.await(hello).pipe(
    Effect3.timeoutFail({
      duration: options.connectTimeout,
      onTimeout: () => new ConnectionLostError({ address: address.url, cause: "timed out waiting for the handshake" })
    })
  );
  yield* write(CLIENT_HELLO);
  return { address, peerHello, write, closed };
});
var hasField = (u, field4) => u instanceof Map ? u.has(field4) : typeof u === "object" && u !== null && field4 in u;

// src/internal/wire/rpc.ts
import * as Deferred2 from "effect/Deferred";
import * as Effect4 from "effect/Effect";
import * as Exit2 from "effect/Exit";
import * as Scope3 from "effect/Scope";
var makePool = (address, options) => Effect4.gen(function* () {
  const poolScope = yield* Effect4.scope;
  const permits = yield* Effect4.makeSemaphore(options.size);
  const idle = [];
  const open = Effect4.gen(function* () {
    const scope2 = yield* Scope3.fork(poolScope, { _tag: "Sequential" });
    const comm = { scope: scope2, connection: void 0, pending: void 0, broken: false };
    const connection = yield* connect(address, {
      maxMessageBytes: options.maxMessageBytes,
      connectTimeout: options.connectTimeout,
      onMessage: (message) => {
        const pending = comm.pending;
        comm.pending = void 0;
        if (pending === void 0) {
          comm.broken = true;
          return;
        }
        Deferred2.unsafeDone(pending, Exit2.succeed(message));
      }
    }).pipe(
      Scope3.extend(scope2),
      Effect4.onError(() => Scope3.close(scope2, Exit2.void))
    );
    comm.connection = connection;
    yield* Deferred2.await(connection.closed).pipe(
      Effect4.catchAll(
        (error) => Effect4.sync(() => {
          comm.broken = true;
          const pending = comm.pending;
          comm.pending = void 0;
          if (pending !== void 0) Deferred2.unsafeDone(pending, Exit2.fail(error));
          const i = idle.indexOf(comm);
          if (i >= 0) idle.splice(i, 1);
        })
      ),
      Effect4.forkIn(scope2)
    );
    return comm;
  });
  const use2 = (comm, message) => Effect4.gen(function* () {
    const reply = yield* Deferred2.make();
    comm.pending = reply;
    yield* comm.connection.write(message);
    return yield* Deferred2.await(reply);
  });
  const request = (message) => permits.withPermits(1)(
    Effect4.uninterruptibleMask(
      (restore) => Effect4.gen(function* () {
        let comm = idle.pop();
        while (comm !== void 0 && comm.broken) {
          yield* Scope3.close(comm.scope, Exit2.void);
          comm = idle.pop();
        }
        if (comm === void 0) comm = yield* restore(open);
        const c = comm;
        return yield* restore(use2(c, message)).pipe(
          Effect4.onExit(
            (exit) => Exit2.isSuccess(exit) && !c.broken ? Effect4.sync(() => idle.push(c)) : Scope3.close(c.scope, Exit2.void)
          )
        );
      })
    )
  );
  return { address, request };
});
var call = (pool, message) => Effect4.flatMap(pool.request(message), (reply) => {
  const status = field(reply, "status");
  if (status === "uncaught-error") {
    const text = field(reply, "exception_text");
    return Effect4.fail(
      new ProtocolError({
        reason: "UnexpectedReply",
        message: `${String(message.op)} failed on the scheduler: ${typeof text === "string" ? text : "unknown error"}`
      })
    );
  }
  return Effect4.succeed(reply);
});
var field = (u, name) => {
  if (u instanceof Map) return u.get(name);
  if (typeof u === "object" && u !== null && !Array.isArray(u)) return u[name];
  return void 0;
};

// src/internal/dask/session.ts
import * as Deferred4 from "effect/Deferred";
import * as Effect6 from "effect/Effect";
import * as Either9 from "effect/Either";
import * as Exit3 from "effect/Exit";
import * as FiberSet from "effect/FiberSet";
import * as Option4 from "effect/Option";
import * as Scope4 from "effect/Scope";

// src/internal/dask/graph.ts
import * as Either6 from "effect/Either";
var BACKEND = "dask";
var pickledFunctions = /* @__PURE__ */ new Map();
var pickledFunction = (python2, module, name) => {
  let bytes = pickledFunctions.get(python2);
  if (bytes === void 0) {
    bytes = pickleGlobal(module, name);
    if (pickledFunctions.size >= 4096) pickledFunctions.clear();
    pickledFunctions.set(python2, bytes);
  }
  return bytes;
};
var IDENTIFIER = /^[\p{L}_][\p{L}\p{N}_]*$/u;
var splitCallable = (python2) => {
  const dot = python2.lastIndexOf(".");
  if (dot <= 0 || dot === python2.length - 1) return void 0;
  const module = python2.slice(0, dot);
  const name = python2.slice(dot + 1);
  if (!IDENTIFIER.test(name) || !module.split(".").every((part) => IDENTIFIER.test(part))) return void 0;
  return [module, name];
};
var checkTask = (task) => {
  if (task.python === void 0) {
    return new UnsupportedTaskError({
      task: task.name,
      backend: BACKEND,
      message: `task "${task.name}" has no Python callable; give it one with { python: "module.name" }`
    });
  }
  if (splitCallable(task.python) === void 0) {
    return new UnsupportedTaskError({
      task: task.name,
      backend: BACKEND,
      message: `task "${task.name}": "${task.python}" is not an importable name of the form module.attr`
    });
  }
  return void 0;
};
var isPlainObject2 = (u) => {
  if (typeof u !== "object" || u === null) return false;
  const proto = Object.getPrototypeOf(u);
  return proto === Object.prototype || proto === null;
};
var substitute = (value, keys, depth) => {
  if (typeof value !== "object" || value === null) return value;
  if (value instanceof KeyRef) {
    keys.add(value.key);
    return value.key;
  }
  if (depth > 256) return value;
  if (Array.isArray(value)) {
    let out;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      const r = substitute(item, keys, depth + 1);
      if (r !== item) {
        out ??= value.slice();
        out[i] = r;
      }
    }
    return out ?? value;
  }
  if (isPlainObject2(value)) {
    let out;
    for (const key of Object.keys(value)) {
      const item = value[key];
      const r = substitute(item, keys, depth + 1);
      if (r !== item) {
        if (out === void 0) {
          out = {};
          for (const k of Object.keys(value)) {
            Object.defineProperty(out, k, { value: value[k], enumerable: true, writable: true, configurable: true });
          }
        }
        out[key] = r;
      }
    }
    return out ?? value;
  }
  return value;
};
var callables = /* @__PURE__ */ new Map();
var callableOf = (python2) => {
  let c = callables.get(python2);
  if (c === void 0) {
    const parts = splitCallable(python2);
    if (parts === void 0) return void 0;
    c = { module: parts[0], name: parts[1], pickled: pickledFunction(python2, parts[0], parts[1]) };
    if (callables.size >= 4096) callables.clear();
    callables.set(python2, c);
  }
  return c;
};
var argsRefusal = (task, key, reason) => new UnsupportedTaskError({
  task: task.name,
  backend: BACKEND,
  message: `task "${task.name}" (key ${key}): an argument cannot be sent to Python: ${reason.replace(/^value/, "args")}`
});
var PreparedCall = class {
  constructor(dialect, payload, refs) {
    this.dialect = dialect;
    this.payload = payload;
    this.refs = refs;
  }
  dialect;
  payload;
  refs;
};
var prepareCall = (task, args, dialect, key = `${task.name}-\u2026`) => {
  const refused = checkTask(task);
  if (refused !== void 0) return refused;
  const callable = callableOf(task.python);
  const refs = /* @__PURE__ */ new Set();
  const substituted = substitute(args, refs, 0);
  const reason = checkValue(substituted);
  if (reason !== void 0) return argsRefusal(task, key, reason);
  if (dialect === "2024.12") {
    return new PreparedCall(dialect, new PyTuple([new PyGlobal(callable.module, callable.name), ...args.map(graphArgument)]), void 0);
  }
  const marker = markerKey(substituted);
  if (marker !== void 0) return markerRefusal(task, key, marker);
  return new PreparedCall(dialect, { function: callable.pickled, args: substituted }, refs.size === 0 ? void 0 : Array.from(refs));
};
var preparedOf = (spec, dialect) => {
  const p = spec.prepared;
  return p instanceof PreparedCall && p.dialect === dialect ? p : prepareCall(spec.task, spec.args, dialect, spec.key);
};
var markerRefusal = (task, key, marker) => new UnsupportedTaskError({
  task: task.name,
  backend: BACKEND,
  message: `task "${task.name}" (key ${key}): an argument has the key "${marker}", which Dask 2022.12 decodes as a protocol marker`
});
var MARKER_KEYS = ["__Serialized__", "__Pickled__", "__Set__", "__Enum__"];
var markerKey = (value, depth = 0) => {
  if (depth > 256) return void 0;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = markerKey(item, depth + 1);
      if (found !== void 0) return found;
    }
  } else if (value instanceof Map || isPlainObject2(value)) {
    const entries2 = value instanceof Map ? Array.from(value) : Object.entries(value);
    for (const [key, item] of entries2) {
      if (typeof key === "string" && MARKER_KEYS.includes(key)) return key;
      const found = markerKey(item, depth + 1);
      if (found !== void 0) return found;
    }
  }
  return void 0;
};
var dependenciesOf = (declared, refs) => {
  if (refs === void 0) return declared.slice();
  const all2 = new Set(refs);
  for (const dep of declared) all2.add(dep);
  return Array.from(all2);
};
var updateGraph2022 = (tasks, keys, clientId) => {
  const runSpecs = {};
  const dependencies = {};
  const retries = {};
  let anyRetries = false;
  let scheduling;
  let fifoTimeout;
  for (const spec of tasks) {
    const prepared = preparedOf(spec, "2022.12");
    if (prepared instanceof UnsupportedTaskError) return Either6.left(prepared);
    defineEntry(runSpecs, spec.key, prepared.payload);
    defineEntry(dependencies, spec.key, dependenciesOf(spec.dependencies, prepared.refs));
    const r = retriesOf(spec);
    if (r > 0) {
      defineEntry(retries, spec.key, r);
      anyRetries = true;
    }
    const o = spec.options;
    if (o !== void 0) {
      scheduling ??= { user_priority: {}, restrictions: {}, loose_restrictions: [], resources: {} };
      if (o.priority !== void 0) defineEntry(scheduling.user_priority, spec.key, o.priority);
      if (o.workers !== void 0) {
        defineEntry(scheduling.restrictions, spec.key, o.workers.slice());
        if (o.allowOtherWorkers === true) scheduling.loose_restrictions.push(spec.key);
      }
      if (o.resources !== void 0) defineEntry(scheduling.resources, spec.key, { ...o.resources });
      fifoTimeout ??= fifoTimeoutSeconds(o);
    }
  }
  const message = {
    op: "update-graph",
    tasks: runSpecs,
    dependencies,
    keys: Array.from(keys),
    client: clientId
  };
  if (anyRetries) message["retries"] = retries;
  if (scheduling !== void 0) {
    if (Object.keys(scheduling.user_priority).length > 0) message["user_priority"] = scheduling.user_priority;
    if (Object.keys(scheduling.restrictions).length > 0) message["restrictions"] = scheduling.restrictions;
    if (scheduling.loose_restrictions.length > 0) message["loose_restrictions"] = scheduling.loose_restrictions;
    if (Object.keys(scheduling.resources).length > 0) message["resources"] = scheduling.resources;
  }
  if (fifoTimeout !== void 0) message["fifo_timeout"] = fifoTimeout;
  return Either6.right(message);
};
var annotationsOf = (retries, options) => {
  const out = /* @__PURE__ */ new Map();
  if (retries > 0) out.set("retries", retries);
  if (options === void 0) return out;
  if (options.priority !== void 0) out.set("priority", options.priority);
  if (options.workers !== void 0) {
    out.set("workers", options.workers.slice());
    if (options.allowOtherWorkers === true) out.set("allow_other_workers", true);
  }
  if (options.resources !== void 0) out.set("resources", new Map(Object.entries(options.resources)));
  return out;
};
var containsKeyRef = (value, depth = 0) => {
  if (value instanceof KeyRef) return true;
  if (depth > 256) return false;
  if (Array.isArray(value)) return value.some((item) => containsKeyRef(item, depth + 1));
  if (isPlainObject2(value)) return Object.values(value).some((item) => containsKeyRef(item, depth + 1));
  return false;
};
var DICT = new PyGlobal("builtins", "dict");
var graphArgument = (value) => {
  if (value instanceof KeyRef) return new PyObject(TASK_REF, [value.key]);
  if (Array.isArray(value)) return value.map(graphArgument);
  if (isPlainObject2(value) && containsKeyRef(value)) {
    return new PyTuple([DICT, Object.keys(value).map((key) => [key, graphArgument(value[key])])]);
  }
  return value;
};
var TO_PICKLE = new PyGlobal("distributed.protocol.serialize", "ToPickle");
var HIGH_LEVEL_GRAPH = new PyGlobal("dask.highlevelgraph", "HighLevelGraph");
var MATERIALIZED_LAYER = new PyGlobal("dask.highlevelgraph", "MaterializedLayer");
var TASK_REF = new PyGlobal("dask._task_spec", "TaskRef");
var LAYER = "ts-graph";
var pickleGraph = (layers) => writePickle(new PyObject(TO_PICKLE, [new PyObject(HIGH_LEVEL_GRAPH, [layers, /* @__PURE__ */ new Map()])]));
var updateGraph2024 = (tasks, keys, _clientId) => {
  const groups = /* @__PURE__ */ new Map();
  let fifoTimeout;
  for (const spec of tasks) {
    const prepared = preparedOf(spec, "2024.12");
    if (prepared instanceof UnsupportedTaskError) return Either6.left(prepared);
    let byRetries = groups.get(spec.options);
    if (byRetries === void 0) {
      byRetries = /* @__PURE__ */ new Map();
      groups.set(spec.options, byRetries);
    }
    const retries = retriesOf(spec);
    let layer3 = byRetries.get(retries);
    if (layer3 === void 0) {
      layer3 = /* @__PURE__ */ new Map();
      byRetries.set(retries, layer3);
    }
    layer3.set(spec.key, prepared.payload);
    fifoTimeout ??= fifoTimeoutSeconds(spec.options);
  }
  const layers = /* @__PURE__ */ new Map();
  let annotations;
  const first = groups.entries().next().value;
  if (groups.size <= 1 && (first?.[1].size ?? 0) <= 1) {
    const [retries, graph] = first?.[1].entries().next().value ?? [0, /* @__PURE__ */ new Map()];
    layers.set(LAYER, graph);
    annotations = annotationsOf(retries, first?.[0]);
  } else {
    let i = 0;
    for (const [options, byRetries] of groups) {
      for (const [retries, graph] of byRetries) {
        const annotated = annotationsOf(retries, options);
        layers.set(`${LAYER}-${i++}`, annotated.size > 0 ? new PyObject(MATERIALIZED_LAYER, [graph, annotated]) : graph);
      }
    }
  }
  const message = {
    op: "update-graph",
    graph_header: { serializer: "pickle", writeable: [] },
    graph_frames: [pickleGraph(layers)],
    keys: { "__Set__": true, "as-list": Array.from(keys) },
    span_metadata: null,
    internal_priority: null,
    submitting_task: null
  };
  if (annotations !== void 0 && annotations.size > 0) {
    message["annotations"] = Object.fromEntries(
      Array.from(annotations, ([k, v]) => [k, v instanceof Map ? Object.fromEntries(v) : v])
    );
  }
  if (fifoTimeout !== void 0) message["fifo_timeout"] = fifoTimeout;
  return Either6.right(message);
};

// src/internal/dask/stream.ts
import * as Deferred3 from "effect/Deferred";
import * as Duration3 from "effect/Duration";
import * as Effect5 from "effect/Effect";
var Outbox = class {
  /**
   * @param chunk Most keys in one desires/releases op, and in one written
   *   batch. A release of many keys then reaches the scheduler as several
   *   reads, so its `free-keys` to the workers start while it still works
   *   through the rest.
   */
  constructor(chunk = 1e4) {
    this.chunk = chunk;
  }
  chunk;
  buffer = [];
  /** `seqs[i]`: the push count when `buffer[i]` was last added to. */
  seqs = [];
  wake = void 0;
  /** Pushes so far / pushes handed to a comm so far. */
  pushed = 0;
  taken = 0;
  waiters = [];
  get size() {
    return this.buffer.length;
  }
  push(op) {
    this.buffer.push(op);
    this.seqs.push(++this.pushed);
    this.signal();
  }
  /** Pushes a desires/releases op, merging it into the previous one while it has room. */
  pushKeys(op, keys, client) {
    let i = 0;
    const n = this.buffer.length;
    const last = n > 0 ? this.buffer[n - 1] : void 0;
    if (last !== void 0 && last.op === op && last.client === client && last.keys.length < this.chunk) {
      const room = Math.min(this.chunk - last.keys.length, keys.length);
      for (; i < room; i++) last.keys.push(keys[i]);
      this.seqs[n - 1] = ++this.pushed;
      this.signal();
    }
    while (i < keys.length) {
      const end = Math.min(i + this.chunk, keys.length);
      this.push({ op, keys: keys.slice(i, end), client });
      i = end;
    }
  }
  /** Takes the next batch (the writer's side): everything queued, but at most `chunk` keys of desires/releases. */
  take() {
    let end = 0;
    let keys = 0;
    while (end < this.buffer.length) {
      const op = this.buffer[end];
      if (op.op === "client-releases-keys" || op.op === "client-desires-keys") {
        const count = op.keys.length;
        if (end > 0 && keys + count > this.chunk) break;
        keys += count;
      }
      end++;
    }
    let batch;
    if (end === this.buffer.length) {
      batch = this.buffer;
      this.buffer = [];
      this.seqs = [];
      this.taken = this.pushed;
    } else {
      batch = this.buffer.splice(0, end);
      this.taken = this.seqs.splice(0, end)[end - 1];
    }
    return batch;
  }
  /** Drops what is queued: those ops belonged to a registration that is gone. */
  clear() {
    this.buffer = [];
    this.seqs = [];
    this.taken = this.pushed;
    this.releaseWaiters();
  }
  /** Called by the writer after a batch is on the socket. */
  written() {
    this.releaseWaiters();
  }
  /** Waits until everything pushed before this call has been written (or dropped). */
  sync = Effect5.suspend(() => {
    const seq = this.pushed;
    if (this.taken >= seq) return Effect5.void;
    return Effect5.async((resume) => {
      const waiter = { seq, resume: () => resume(Effect5.void) };
      this.waiters.push(waiter);
      return Effect5.sync(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      });
    });
  });
  /** Resumes when there is something to write. */
  nonEmpty = Effect5.async((resume) => {
    if (this.buffer.length > 0) return resume(Effect5.void);
    this.wake = () => resume(Effect5.void);
    return Effect5.sync(() => {
      this.wake = void 0;
    });
  });
  signal() {
    const wake = this.wake;
    if (wake !== void 0) {
      this.wake = void 0;
      wake();
    }
  }
  releaseWaiters() {
    if (this.waiters.length === 0) return;
    const done = this.taken;
    const keep = [];
    for (const w of this.waiters) {
      if (w.seq <= done) w.resume();
      else keep.push(w);
    }
    this.waiters = keep;
  }
};
var register = (address, outbox, options) => Effect5.gen(function* () {
  const started = yield* Deferred3.make();
  let registered = false;
  const onMessage = (message) => {
    const ops = Array.isArray(message) ? message : [message];
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      if (registered) {
        options.onOp(op);
      } else if (field(op, "op") === "stream-start") {
        registered = true;
        Deferred3.unsafeDone(started, Effect5.succeed(op));
      } else {
        Deferred3.unsafeDone(
          started,
          Effect5.fail(
            new ProtocolError({ reason: "UnexpectedReply", message: "register-client was not answered with stream-start" })
          )
        );
      }
    }
  };
  const connection = yield* connect(address, {
    maxMessageBytes: options.maxMessageBytes,
    connectTimeout: options.connectTimeout,
    onMessage
  });
  yield* connection.write({
    op: "register-client",
    client: options.clientId,
    reply: false,
    versions: options.versions
  });
  const start2 = yield* Deferred3.await(started).pipe(
    Effect5.raceFirst(Deferred3.await(connection.closed)),
    Effect5.timeoutFail({
      duration: options.connectTimeout,
      onTimeout: () => new ConnectionLostError({ address: address.url, cause: "timed out waiting for stream-start" })
    })
  );
  const error = field(start2, "error");
  if (typeof error === "string" && error !== "") {
    return yield* Effect5.fail(new ProtocolError({ reason: "Handshake", message: `register-client refused: ${error}` }));
  }
  const batchMillis = Duration3.toMillis(options.batchInterval);
  yield* Effect5.forkScoped(Effect5.forever(
    Effect5.zipRight(
      outbox.nonEmpty,
      Effect5.suspend(() => {
        const batch = outbox.take();
        return Effect5.flatMap(
          // An op that cannot be encoded is a defect of ours: log it, keep the stream.
          Effect5.catchAllDefect(connection.write(batch), (defect) => Effect5.logError("effect-dask: dropped a stream batch that could not be encoded", defect)),
          () => {
            outbox.written();
            return outbox.size > 0 && batchMillis > 0 ? Effect5.sleep(batchMillis) : Effect5.void;
          }
        );
      })
    )
  ).pipe(Effect5.ignore));
  yield* Effect5.forkScoped(Effect5.forever(
    Effect5.zipRight(Effect5.sleep(options.heartbeat), Effect5.sync(() => outbox.push({ op: "heartbeat-client" })))
  ));
  const warning = field(start2, "warning");
  return { connection, warning: typeof warning === "string" ? warning : "" };
});
var close2 = (stream, outbox, timeout3) => {
  outbox.push({ op: "close-client" });
  outbox.push({ op: "close-stream" });
  return Deferred3.await(stream.connection.closed).pipe(
    Effect5.ignore,
    Effect5.timeout(timeout3),
    Effect5.ignore
  );
};

// src/internal/dask/taskErred.ts
import * as Either7 from "effect/Either";
var MAX_TEXT = 4096;
var MAX_FRAMES = 100;
var MAX_CHAIN = 8;
var decode2 = (value) => {
  let current2 = value;
  if (current2 instanceof Serialized) {
    const decoded = deserialize(current2);
    if (Either7.isLeft(decoded)) return Either7.left(`${decoded.left.serializer}: ${decoded.left.message}`);
    current2 = decoded.right;
  } else if (current2 instanceof Pickled) {
    const decoded = unpickle(current2);
    if (Either7.isLeft(decoded)) return Either7.left(decoded.left.message);
    current2 = decoded.right;
  }
  if (current2 instanceof Uint8Array) {
    const decoded = readPickle(current2);
    if (Either7.isLeft(decoded)) return Either7.left(decoded.left.message);
    current2 = decoded.right;
  }
  return Either7.right(current2);
};
var isRecord = (u) => typeof u === "object" && u !== null && !Array.isArray(u) && !(u instanceof Uint8Array) && !(u instanceof Map);
var field2 = (u, key) => u instanceof Map ? u.get(key) : isRecord(u) ? u[key] : void 0;
var isCall = (u, qualifiedName) => u instanceof PyObject && u.callable instanceof PyGlobal && u.callable.qualifiedName === qualifiedName;
var typeName2 = (cls) => cls instanceof PyGlobal ? cls.module === "builtins" || cls.module === "exceptions" ? cls.name : cls.qualifiedName : void 0;
var clip = (text, max = MAX_TEXT) => text.length <= max ? text : text.slice(0, max) + "\u2026";
var pyStr = (u, depth = 0) => {
  if (typeof u === "string") return u;
  if (u === null || u === void 0) return "None";
  if (u === true) return "True";
  if (u === false) return "False";
  if (typeof u === "number" || typeof u === "bigint") return String(u);
  if (depth > 4) return "\u2026";
  if (u instanceof Uint8Array) {
    let s = "b'";
    for (const b of u.subarray(0, 64)) s += b >= 32 && b < 127 && b !== 39 && b !== 92 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
    return s + (u.length > 64 ? "\u2026'" : "'");
  }
  if (Array.isArray(u)) return `(${u.slice(0, 16).map((x) => pyRepr(x, depth + 1)).join(", ")}${u.length > 16 ? ", \u2026" : ""})`;
  if (u instanceof PyGlobal) return `<class '${u.qualifiedName}'>`;
  if (u instanceof PyObject) {
    const name = typeName2(u.callable);
    return name !== void 0 ? `<${name} object>` : "<object>";
  }
  if (u instanceof Map) return `{${Array.from(u.entries()).slice(0, 16).map(([k, v]) => `${pyRepr(k, depth + 1)}: ${pyRepr(v, depth + 1)}`).join(", ")}}`;
  if (u instanceof Set) return `{${Array.from(u).slice(0, 16).map((x) => pyRepr(x, depth + 1)).join(", ")}}`;
  if (isRecord(u)) return `{${Object.entries(u).slice(0, 16).map(([k, v]) => `'${k}': ${pyRepr(v, depth + 1)}`).join(", ")}}`;
  return "<unknown>";
};
var pyRepr = (u, depth) => typeof u === "string" ? `'${u}'` : pyStr(u, depth);
var argsMessage = (args) => {
  if (!Array.isArray(args)) return pyStr(args);
  if (args.length === 0) return "";
  if (args.length === 1) return pyStr(args[0]);
  return args.map((a) => pyStr(a)).join(", ");
};
var describeException = (value, depth) => {
  if (isCall(value, "tblib.pickling_support.unpickle_exception")) {
    const [cls, args, cause, , context, suppressContext] = value.args;
    const type = typeName2(cls) ?? (isCall(cls, "builtins.getattr") ? pyStr(cls.args[1]) : "UnknownError");
    let message = argsMessage(args);
    const chained = cause ?? (suppressContext === true ? null : context);
    if (chained !== null && chained !== void 0 && depth < MAX_CHAIN) {
      const inner = describeException(chained, depth + 1);
      if (inner !== void 0) {
        message += `${message.length > 0 ? "\n" : ""}[${cause != null ? "caused by" : "while handling"}] ${inner.type}: ${inner.message}`;
      }
    }
    return { type, message };
  }
  if (value instanceof PyObject) {
    const type = typeName2(value.callable);
    if (type !== void 0) return { type, message: argsMessage(value.args) };
    return void 0;
  }
  if (typeof value === "string") return { type: "Exception", message: value };
  return void 0;
};
var tracebackLevel = (u) => {
  if (isCall(u, "tblib.pickling_support.unpickle_traceback")) {
    const [frame, lineno, next] = u.args;
    return { frame, lineno, next };
  }
  if (u instanceof PyObject && (isRecord(u.state) || u.state instanceof Map)) {
    return { frame: field2(u.state, "tb_frame"), lineno: field2(u.state, "tb_lineno"), next: field2(u.state, "tb_next") };
  }
  return void 0;
};
var frameLine = (frame, lineno) => {
  const state = frame instanceof PyObject ? frame.state : frame;
  const code = field2(state, "f_code");
  const codeState = code instanceof PyObject ? code.state : code;
  const filename = field2(codeState, "co_filename");
  const name = field2(codeState, "co_name");
  const line = typeof lineno === "number" ? lineno : field2(state, "f_lineno");
  return `  File "${typeof filename === "string" ? filename : "?"}", line ${typeof line === "number" ? line : "?"}, in ${typeof name === "string" ? name : "?"}`;
};
var renderTraceback = (value) => {
  if (typeof value === "string") return value;
  const lines = [];
  const seen = /* @__PURE__ */ new Set();
  let level = tracebackLevel(value);
  let current2 = value;
  while (level !== void 0 && !seen.has(current2) && lines.length < MAX_FRAMES) {
    seen.add(current2);
    lines.push(frameLine(level.frame, level.lineno));
    current2 = level.next;
    level = tracebackLevel(current2);
  }
  return lines.length === 0 ? "" : `Traceback (most recent call last):
${lines.join("\n")}`;
};
var unknown = (message, traceback = "") => ({
  type: "UnknownError",
  message: clip(message),
  traceback: clip(traceback, 16384)
});
var errorInfo = (exception, traceback) => {
  try {
    if (field2(exception, "status") === "uncaught-error") return uncaughtErrorInfo(exception);
    const decoded = decode2(exception);
    if (Either7.isLeft(decoded)) return unknown(`the remote exception could not be decoded (${decoded.left})`);
    const described = describeException(decoded.right, 0);
    let tracebackText = "";
    if (traceback !== null && traceback !== void 0) {
      const tb = decode2(traceback);
      tracebackText = Either7.isRight(tb) ? renderTraceback(tb.right) : `(traceback could not be decoded: ${tb.left})`;
    }
    if (described === void 0) return unknown(`unrecognised remote exception ${pyStr(decoded.right)}`, tracebackText);
    return { type: clip(described.type, 256), message: clip(described.message), traceback: clip(tracebackText, 16384) };
  } catch (error) {
    return unknown(`the remote exception could not be read (${String(error)})`);
  }
};
var uncaughtErrorInfo = (reply) => {
  try {
    const exceptionText = field2(reply, "exception_text");
    const tracebackText = field2(reply, "traceback_text");
    const decoded = errorInfo(field2(reply, "exception"), field2(reply, "traceback"));
    return {
      type: decoded.type,
      message: typeof exceptionText === "string" ? clip(exceptionText) : decoded.message,
      traceback: typeof tracebackText === "string" ? clip(tracebackText, 16384) : decoded.traceback
    };
  } catch (error) {
    return unknown(`the remote error could not be read (${String(error)})`);
  }
};
var keyText = (key) => typeof key === "string" ? key : pyStr(key);
var gatherMissingKeys = (reply) => {
  if (field2(reply, "status") !== "error") return void 0;
  const keys = field2(reply, "keys");
  if (Array.isArray(keys)) return keys.map(keyText);
  if (keys instanceof Set) return Array.from(keys, keyText);
  if (keys instanceof Map) return Array.from(keys.keys(), keyText);
  if (isRecord(keys)) return Object.keys(keys);
  return [];
};

// src/internal/dask/version.ts
import * as Either8 from "effect/Either";
var SUPPORTED = "distributed 2022.1.0 \u2013 2023.3.x and 2024.11.0 \u2013 2025.3.x";
var parseVersion = (version2) => {
  const match2 = /^\s*v?(\d{4})\.(\d{1,2})(?:\.(\d+))?/.exec(version2);
  if (match2 === null) return void 0;
  return [Number(match2[1]), Number(match2[2]), match2[3] === void 0 ? 0 : Number(match2[3])];
};
var compare = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
var dialectFor = (version2) => {
  const v = parseVersion(version2);
  if (v !== void 0) {
    if (compare(v, [2022, 1, 0]) >= 0 && compare(v, [2023, 4, 0]) < 0) {
      return Either8.right({ version: version2, graph: "2022.12", cancel: compare(v, [2023, 3, 1]) >= 0 ? "stream" : "rpc" });
    }
    if (compare(v, [2024, 11, 0]) >= 0 && compare(v, [2025, 4, 0]) < 0) {
      return Either8.right({ version: version2, graph: "2024.12", cancel: "stream" });
    }
  }
  return Either8.left(new UnsupportedVersionError({ version: version2, supported: SUPPORTED }));
};
var get = (u, field4) => {
  if (u instanceof Map) return u.get(field4);
  if (typeof u === "object" && u !== null) return u[field4];
  return void 0;
};
var chooseDialect = (reply) => {
  const version2 = get(get(reply, "packages"), "distributed");
  if (typeof version2 !== "string") {
    return Either8.left(
      new ProtocolError({
        reason: "UnexpectedReply",
        message: "The scheduler's `versions` reply has no packages.distributed string"
      })
    );
  }
  return dialectFor(version2);
};

// src/internal/dask/session.ts
var field3 = field;
var keyToString = (key) => {
  if (typeof key === "string") return key;
  if (typeof key === "number" || typeof key === "bigint") return String(key);
  if (Array.isArray(key)) {
    const parts = key.map((k) => typeof k === "string" ? `'${k}'` : keyToString(k));
    return `(${parts.join(", ")}${parts.length === 1 ? "," : ""})`;
  }
  if (key instanceof Uint8Array) return Buffer.from(key).toString("latin1");
  return String(key);
};
var keyList = (u) => {
  if (Array.isArray(u)) return u.map(keyToString);
  if (u instanceof Set) return Array.from(u, keyToString);
  const asList = field3(u, "as-list");
  if (Array.isArray(asList)) return asList.map(keyToString);
  if (u instanceof Map) return Array.from(u.keys(), keyToString);
  if (typeof u === "object" && u !== null) return Object.keys(u);
  return u === void 0 || u === null ? [] : [keyToString(u)];
};
var entries = (u) => {
  if (u instanceof Map) return Array.from(u, ([k, v]) => [keyToString(k), v]);
  if (typeof u === "object" && u !== null && !Array.isArray(u)) return Object.entries(u);
  return [];
};
var unexpected = (op, reply) => new ProtocolError({
  reason: "UnexpectedReply",
  message: `unexpected reply to ${op}: ${String(typeof reply === "object" ? JSON.stringify(reply)?.slice(0, 200) : reply)}`
});
var versionsOf = (pool) => Effect6.flatMap(call(pool, { op: "versions" }), (reply) => Either9.match(chooseDialect(reply), {
  onLeft: (error) => Effect6.fail(error),
  onRight: (dialect) => Effect6.succeed({ reply, dialect })
}));
var versionsEcho = (reply) => ({ packages: field3(reply, "packages") ?? {} });
var make9 = (options, sink) => Effect6.gen(function* () {
  const { address, clientId, pool } = options;
  const initial = yield* versionsOf(pool);
  let dialect = initial.dialect;
  let deliver = sink;
  const outbox = new Outbox();
  const fibers = yield* FiberSet.make();
  const runFork2 = yield* FiberSet.runtime(fibers)();
  let current2;
  let closing = false;
  let closeSent = false;
  let gaveUp = false;
  const lostForGood = new ConnectionLostError({ address: address.url, cause: "gave up reconnecting" });
  const typeNames = /* @__PURE__ */ new Map();
  const typeName3 = (bytes) => {
    if (!(bytes instanceof Uint8Array)) return void 0;
    const id = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
    let name = typeNames.get(id);
    if (name === void 0) {
      name = pickledTypeName(bytes) ?? "unknown";
      if (typeNames.size < 1024) typeNames.set(id, name);
    }
    return name;
  };
  const offer = (report) => {
    if (deliver !== void 0) deliver(report);
  };
  const onOp = (msg) => {
    switch (field3(msg, "op")) {
      case "key-in-memory": {
        const type = typeName3(field3(msg, "type"));
        offer({ _tag: "KeyInMemory", key: keyToString(field3(msg, "key")), type });
        return;
      }
      case "task-erred": {
        offer({
          _tag: "TaskErred",
          key: keyToString(field3(msg, "key")),
          error: errorInfo(field3(msg, "exception"), field3(msg, "traceback"))
        });
        return;
      }
      case "cancelled-key": {
        offer({ _tag: "CancelledKeys", keys: [keyToString(field3(msg, "key"))], reason: "cancelled by the scheduler" });
        return;
      }
      case "cancelled-keys": {
        const reason = field3(msg, "reason");
        offer({
          _tag: "CancelledKeys",
          keys: keyList(field3(msg, "keys")),
          reason: typeof reason === "string" ? reason : "cancelled by the scheduler"
        });
        return;
      }
      case "lost-data": {
        offer({ _tag: "LostData", key: keyToString(field3(msg, "key")) });
        return;
      }
      case "task-retried": {
        offer({ _tag: "TaskRetried", key: keyToString(field3(msg, "key")) });
        return;
      }
      case "restart": {
        offer({ _tag: "Restart" });
        return;
      }
      // `stream-closed`: the comm ends right after; `closed` handles it.
      default:
        return;
    }
  };
  const streamOptions = (versions) => ({
    clientId,
    versions: versionsEcho(versions),
    maxMessageBytes: options.maxMessageBytes,
    connectTimeout: options.connectTimeout,
    batchInterval: options.batchInterval,
    heartbeat: options.heartbeat,
    onOp
  });
  const open = (versions) => Effect6.gen(function* () {
    const scope2 = yield* Scope4.make();
    const stream = yield* register(address, outbox, streamOptions(versions)).pipe(
      Scope4.extend(scope2),
      Effect6.onError(() => Scope4.close(scope2, Exit3.void))
    );
    if (closing) return yield* Scope4.close(scope2, Exit3.void);
    current2 = { stream, scope: scope2 };
    runFork2(Deferred4.await(stream.connection.closed).pipe(
      Effect6.catchAll((error) => onLost(error, scope2))
    ));
  });
  const onLost = (error, scope2) => Effect6.gen(function* () {
    if (current2?.scope === scope2) current2 = void 0;
    yield* Scope4.close(scope2, Exit3.void);
    if (closing || closeSent) return;
    outbox.clear();
    offer({
      _tag: "ConnectionLost",
      error: error instanceof ConnectionLostError ? error : new ConnectionLostError({ address: address.url, cause: error })
    });
    yield* reconnect;
  });
  const reconnect = Effect6.gen(function* () {
    const attempt = Effect6.gen(function* () {
      const next = yield* versionsOf(pool);
      dialect = next.dialect;
      yield* open(next.reply);
    });
    const ok = yield* attempt.pipe(
      Effect6.retry(options.reconnect),
      Effect6.as(true),
      Effect6.catchAll(() => Effect6.succeed(false))
    );
    if (ok && !closing) offer({ _tag: "Reconnected" });
    if (!ok && !closing) {
      gaveUp = true;
      outbox.clear();
      offer({ _tag: "ConnectionLost", error: lostForGood });
    }
  });
  yield* open(initial.reply);
  yield* Effect6.addFinalizer(
    () => Effect6.gen(function* () {
      closing = true;
      yield* FiberSet.clear(fibers);
      const c = current2;
      current2 = void 0;
      if (c !== void 0) {
        if (!closeSent) {
          closeSent = true;
          yield* close2(c.stream, outbox, options.closeTimeout);
        } else {
          yield* Deferred4.await(c.stream.connection.closed).pipe(Effect6.timeout(options.closeTimeout), Effect6.ignore);
        }
        yield* Scope4.close(c.scope, Exit3.void);
      }
      deliver = void 0;
    })
  );
  const send = (message) => {
    if (closeSent) return void 0;
    if (gaveUp) return message._tag === "UpdateGraph" ? lostForGood : void 0;
    switch (message._tag) {
      case "UpdateGraph": {
        const encoded = dialect.graph === "2022.12" ? updateGraph2022(message.tasks, message.keys, clientId) : updateGraph2024(message.tasks, message.keys, clientId);
        if (Either9.isLeft(encoded)) return encoded.left;
        outbox.push(encoded.right);
        return void 0;
      }
      case "DesireKeys":
        outbox.pushKeys("client-desires-keys", message.keys, message.client ?? clientId);
        return void 0;
      case "ReleaseKeys":
        outbox.pushKeys("client-releases-keys", message.keys, clientId);
        return void 0;
      case "Cancel": {
        if (dialect.cancel === "stream") {
          outbox.push({ op: "cancel-keys", keys: message.keys.slice(), client: clientId, force: message.force });
        } else {
          const keys = message.keys.slice();
          runFork2(Effect6.zipRight(
            outbox.sync,
            Effect6.ignore(call(pool, { op: "cancel", keys, client: clientId, force: message.force }))
          ));
        }
        return void 0;
      }
      case "Heartbeat":
        outbox.push({ op: "heartbeat-client" });
        return void 0;
      case "Close": {
        closeSent = true;
        outbox.push({ op: "close-client" });
        outbox.push({ op: "close-stream" });
        return void 0;
      }
    }
  };
  const decodeAll = (data, into, retry2) => {
    for (const [key, value] of entries(data)) {
      if (!(value instanceof Serialized)) {
        into.set(key, value);
        continue;
      }
      const decoded = deserialize(value);
      if (Either9.isRight(decoded)) {
        into.set(key, decoded.right);
      } else if (retry2 !== void 0 && field3(value.header, "serializer") === "error") {
        retry2.push(key);
      } else {
        return Effect6.fail(decoded.left);
      }
    }
    return Effect6.void;
  };
  const gatherWith = (keys, serializers) => Effect6.flatMap(call(pool, { op: "gather", keys, serializers }), (reply) => {
    const missing = gatherMissingKeys(reply);
    if (missing !== void 0) return Effect6.fail(new LostDataError({ key: missing[0] ?? keys[0] ?? "" }));
    if (field3(reply, "status") !== "OK") return Effect6.fail(unexpected("gather", reply));
    return Effect6.succeed(field3(reply, "data"));
  });
  const gather2 = (keys) => Effect6.gen(function* () {
    const out = /* @__PURE__ */ new Map();
    if (keys.length === 0) return out;
    const retry2 = [];
    yield* decodeAll(yield* gatherWith(keys, ["msgpack"]), out, retry2);
    if (retry2.length > 0) {
      yield* decodeAll(yield* gatherWith(retry2, ["dask", "pickle"]), out, void 0);
    }
    for (const key of keys) {
      if (!out.has(key)) return yield* Effect6.fail(new LostDataError({ key }));
    }
    return out;
  });
  const scatter = (values, scatterOptions) => {
    if (values.length === 0) return Effect6.void;
    const data = {};
    for (const [key, value] of values) {
      const reason = checkValue(value);
      if (reason !== void 0) {
        return Effect6.fail(new DecodeError({ serializer: "msgpack", message: `cannot scatter ${key}: ${reason}` }));
      }
      data[key] = new ToSerialize(value);
    }
    const message = {
      op: "scatter",
      data,
      client: clientId,
      broadcast: scatterOptions?.broadcast ?? false,
      timeout: 10
    };
    if (scatterOptions?.workers !== void 0) message.workers = scatterOptions.workers.slice();
    return Effect6.flatMap(call(pool, message), (reply) => Array.isArray(reply) ? Effect6.void : Effect6.fail(unexpected("scatter", reply)));
  };
  const stringArrays = (u) => {
    const out = {};
    for (const [k, v] of entries(u)) out[k] = Array.isArray(v) ? v.map(keyToString) : [];
    return out;
  };
  const whoHas = (keys) => Effect6.map(call(pool, keys === void 0 ? { op: "who_has" } : { op: "who_has", keys }), stringArrays);
  const hasWhat2 = () => Effect6.map(call(pool, { op: "has_what" }), stringArrays);
  const nbytes = (keys) => Effect6.map(call(pool, { op: "nbytes", summary: false }), (reply) => {
    const all2 = {};
    for (const [k, v] of entries(reply)) if (typeof v === "number") all2[k] = v;
    if (keys === void 0) return all2;
    const out = {};
    for (const k of keys) if (k in all2) out[k] = all2[k];
    return out;
  });
  const workers2 = () => Effect6.map(
    Effect6.all([call(pool, { op: "identity" }), hasWhat2(), nbytes()], { concurrency: 3 }),
    ([identity, held, sizes]) => entries(field3(identity, "workers")).map(([address2, info]) => {
      const keys = held[address2] ?? [];
      let bytes = 0;
      for (const k of keys) bytes += sizes[k] ?? 0;
      const nthreads = field3(info, "nthreads");
      const memoryLimit = field3(info, "memory_limit");
      return {
        address: address2,
        nthreads: typeof nthreads === "number" ? nthreads : 0,
        bytes,
        keys: keys.length,
        memoryLimit: typeof memoryLimit === "number" && memoryLimit > 0 ? memoryLimit : void 0
      };
    })
  );
  const publishDataset = (name, keys, override) => Effect6.flatMap(
    call(pool, {
      op: "publish_put",
      keys: keys.slice(),
      name,
      data: new ToSerialize(keys.slice()),
      override,
      client: clientId
    }),
    (reply) => field3(reply, "status") === "OK" ? Effect6.void : Effect6.fail(unexpected("publish_put", reply))
  );
  const getDataset = (name) => Effect6.map(call(pool, { op: "publish_get", name, client: clientId }), (reply) => reply === null || reply === void 0 ? Option4.none() : Option4.some(keyList(field3(reply, "keys"))));
  const unpublishDataset = (name) => Effect6.asVoid(call(pool, { op: "publish_delete", name }));
  const listDatasets2 = () => Effect6.map(call(pool, { op: "publish_list" }), (reply) => Array.isArray(reply) ? reply.map((n) => String(n)) : []);
  const prepare2 = (task, args) => prepareCall(task, args, dialect.graph);
  return {
    clientId,
    send,
    check: checkTask,
    prepare: prepare2,
    gather: gather2,
    scatter,
    whoHas,
    hasWhat: hasWhat2,
    nbytes,
    workers: workers2,
    publishDataset,
    getDataset,
    unpublishDataset,
    listDatasets: listDatasets2
  };
});

// src/internal/dask/scheduler.ts
var ADDRESS_ENV = "DASK_SCHEDULER_ADDRESS";
var defaultReconnect = Schedule.exponential("100 millis", 2).pipe(
  Schedule.union(Schedule.spaced("5 seconds"))
);
var addressConfig = (given) => {
  const raw = given === void 0 ? Config.string(ADDRESS_ENV) : Config.succeed(given);
  return Config.mapOrFail(raw, (text) => Either10.mapLeft(parseAddress(text), (message) => ConfigError.InvalidData(given === void 0 ? [ADDRESS_ENV] : ["address"], message)));
};
var make10 = (options = {}) => Effect7.gen(function* () {
  const address = yield* addressConfig(options.address);
  const maxMessageBytes = options.maxMessageBytes ?? 256 * 1024 * 1024;
  const connectTimeout = Duration4.decode(options.connectTimeout ?? "10 seconds");
  const pool = yield* makePool(address, {
    size: Math.max(1, options.poolSize ?? 4),
    maxMessageBytes,
    connectTimeout
  });
  const sessionOptions = {
    address,
    pool,
    maxMessageBytes,
    connectTimeout,
    batchInterval: Duration4.decode(options.batchInterval ?? "2 millis"),
    heartbeat: Duration4.decode(options.heartbeat ?? "5 seconds"),
    reconnect: options.reconnect ?? defaultReconnect,
    closeTimeout: Duration4.seconds(5)
  };
  return Scheduler.of({
    address: address.url,
    connect: (clientId, reports) => make9({ ...sessionOptions, clientId }, reports)
  });
});
var layer = (options) => Layer2.scoped(Scheduler, make10(options));

// src/DaskScheduler.ts
var layer2 = layer;

// src/Task.ts
var TypeId = /* @__PURE__ */ Symbol.for("effect-dask/Task");
var make_ = (name, run, options) => ({
  [TypeId]: TypeId,
  name,
  run,
  python: options?.python,
  pure: options?.pure ?? true,
  retries: options?.retries ?? 0,
  result: options?.result
});
var python = (callable, options) => make_(options?.name ?? callable.slice(callable.lastIndexOf(".") + 1), void 0, { ...options, python: callable });

// test/dask/cluster.ts
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
var cacheHome = () => process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
var root2024 = () => process.env.EFFECT_DASK_ROOT_2024 || path.join(cacheHome(), "effect-dask", "trixie-dask-2024.12");
var stateScript = fs.readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "state.py"),
  "utf8"
);
var installedDistributed = (sitePackages) => {
  try {
    for (const name of fs.readdirSync(sitePackages)) {
      const m = /^distributed-(\d+\.\d+\.\d+)/.exec(name);
      if (m) return m[1];
    }
  } catch {
  }
  return void 0;
};
var isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;
var exists = (p) => fs.existsSync(p);
var procMounted = (root) => exists(path.join(root, "proc", "self", "stat"));
var setpriv = exists("/usr/bin/setpriv") ? "/usr/bin/setpriv" : void 0;
var unshare = exists("/usr/bin/unshare") ? "/usr/bin/unshare" : void 0;
var setupHint = "run `npm test` as root on Debian (scripts/test.sh installs and builds it)";
var available = (version2) => {
  if (version2 === "2022.12") {
    for (const f of ["/usr/bin/dask-scheduler", "/usr/bin/dask-worker", "/usr/bin/python3"]) {
      if (!exists(f)) return { ok: false, reason: `${f} not found; ${setupHint}` };
    }
    const v2 = installedDistributed("/usr/lib/python3/dist-packages");
    if (!v2?.startsWith("2022.12.")) {
      return { ok: false, reason: `Debian's distributed is ${v2 ?? "missing"}, not 2022.12.x` };
    }
    return { ok: true };
  }
  const root = root2024();
  if (!exists(path.join(root, "usr/bin/dask-scheduler"))) {
    return { ok: false, reason: `no Dask 2024.12 root at ${root}; ${setupHint}` };
  }
  if (!isRoot()) return { ok: false, reason: "Dask 2024.12 runs through chroot, which needs root" };
  const v = installedDistributed(path.join(root, "usr/lib/python3/dist-packages"));
  if (!v?.startsWith("2024.12.")) {
    return { ok: false, reason: `the root at ${root} has distributed ${v ?? "missing"}, not 2024.12.x` };
  }
  if (!procMounted(root) && unshare === void 0) {
    return { ok: false, reason: `/proc is not mounted in ${root} and unshare is missing; ${setupHint}` };
  }
  return { ok: true };
};
var live = /* @__PURE__ */ new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
    }
  }
});
var command = (version2, cmd) => {
  const base = version2 === "2022.12" ? [...cmd] : (() => {
    const root = root2024();
    return procMounted(root) ? ["/usr/sbin/chroot", root, ...cmd] : [unshare, "--mount", "/bin/sh", "-c", 'mount -t proc proc "$0/proc" && exec /usr/sbin/chroot "$0" "$@"', root, ...cmd];
  })();
  return setpriv ? [setpriv, "--pdeathsig", "KILL", ...base] : base;
};
var environment = (version2, config = {}) => {
  const env = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C.UTF-8",
    HOME: version2 === "2022.12" ? os.homedir() : "/root",
    TMPDIR: version2 === "2022.12" ? os.tmpdir() : "/tmp"
  };
  for (const [key, value] of Object.entries(config)) {
    env["DASK_" + key.split(".").map((part) => part.replace(/-/g, "_").toUpperCase()).join("__")] = value;
  }
  return env;
};
var maxOutput = 64 * 1024;
var start = (name, argv, env) => {
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
  live.add(child);
  child.stdin.on("error", () => {
  });
  let output = "";
  const listeners = [];
  const append = (chunk) => {
    output += chunk.toString("utf8");
    if (output.length > maxOutput) output = output.slice(-maxOutput);
    for (const f of listeners) f(output);
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.once("error", (e) => {
      output += `
[spawn error: ${e.message}]`;
      resolve();
    });
  }).then(() => {
    live.delete(child);
  });
  return { child, name, output: () => output, exited, onOutput: (f) => listeners.push(f) };
};
var isRunning = (p) => p.child.exitCode === null && p.child.signalCode === null;
var terminate = async (p, graceMs) => {
  if (!isRunning(p)) return p.exited;
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => {
    if (isRunning(p)) p.child.kill("SIGKILL");
  }, graceMs);
  await p.exited;
  clearTimeout(timer);
};
var freePort = () => new Promise((resolve, reject) => {
  const server = net.createServer();
  server.unref();
  server.once("error", reject);
  server.listen(0, "127.0.0.1", () => {
    const port = server.address().port;
    server.close(() => resolve(port));
  });
});
var tail = (p) => `--- ${p.name} (pid ${p.child.pid}) ---
${p.output().slice(-4e3)}`;
var waitFor = (p, pattern) => new Promise((resolve, reject) => {
  let done = false;
  const check = (text) => {
    if (done) return;
    const m = pattern.exec(text);
    if (m) {
      done = true;
      resolve(m);
    }
  };
  p.onOutput(check);
  check(p.output());
  void p.exited.then(() => {
    if (!done) {
      done = true;
      reject(new Error(`${p.name} exited (code ${p.child.exitCode}, signal ${p.child.signalCode})`));
    }
  });
});
var startObserver = (version2, address) => {
  const proc = start(
    `state observer (${version2})`,
    command(version2, ["/usr/bin/python3", "-c", stateScript, "serve", address]),
    environment(version2)
  );
  const pending = /* @__PURE__ */ new Map();
  let nextId = 1;
  let buffer = "";
  let onReady;
  const failAll = (why) => {
    for (const p of pending.values()) p.reject(new Error(`${why}
${tail(proc)}`));
    pending.clear();
  };
  proc.child.stdout.on("data", (chunk) => {
    buffer += chunk.toString("utf8");
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      const reply = JSON.parse(line);
      if (reply.id === 0) {
        onReady?.();
        continue;
      }
      const p = pending.get(reply.id);
      pending.delete(reply.id);
      if (reply.ok) p?.resolve(reply.value);
      else p?.reject(new Error(`state observer: ${reply.error}`));
    }
  });
  const ready = new Promise((resolve, reject) => {
    onReady = resolve;
    void proc.exited.then(() => {
      failAll("state observer exited");
      reject(new Error(`state observer exited before it was ready
${tail(proc)}`));
    });
  });
  return {
    proc,
    ready,
    request: (cmd) => new Promise((resolve, reject) => {
      if (!isRunning(proc)) return reject(new Error(`state observer is not running
${tail(proc)}`));
      const id = nextId++;
      pending.set(id, { resolve, reject });
      proc.child.stdin.write(JSON.stringify({ id, cmd }) + "\n");
    })
  };
};
var runSnippet = async (version2, address, code) => {
  const proc = start(
    `py snippet (${version2})`,
    command(version2, ["/usr/bin/python3", "-c", stateScript, "py", address]),
    environment(version2)
  );
  let stdout = "";
  proc.child.stdout.on("data", (chunk) => {
    stdout += chunk.toString("utf8");
  });
  proc.child.stdin.end(code);
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), 6e4);
  await proc.exited;
  clearTimeout(timer);
  if (proc.child.exitCode !== 0) {
    throw new Error(`py snippet failed (code ${proc.child.exitCode}, signal ${proc.child.signalCode})
${tail(proc)}`);
  }
  try {
    return JSON.parse(stdout);
  } catch {
    throw new Error(`py snippet did not print one JSON value: ${JSON.stringify(stdout)}
${tail(proc)}`);
  }
};
var startCluster = async (version2, options = {}) => {
  const a = available(version2);
  if (!a.ok) throw new Error(`Dask ${version2} is not available: ${a.reason}`);
  const nWorkers = options.workers ?? 1;
  const nthreads = options.nthreads ?? 1;
  const timeout3 = options.timeout ?? 3e4;
  const port = await freePort();
  const address = `tcp://127.0.0.1:${port}`;
  const scheduler = start(
    `dask-scheduler ${version2}`,
    command(version2, [
      "/usr/bin/dask-scheduler",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--no-dashboard",
      // Even without the dashboard, the HTTP server (/health, /metrics) starts, on all
      // interfaces unless told otherwise.
      "--dashboard-address",
      "127.0.0.1:0"
    ]),
    environment(version2, options.schedulerConfig)
  );
  const workerProcs = Array.from({ length: nWorkers }, (_, i) => start(
    `dask-worker ${i} ${version2}`,
    command(version2, [
      "/usr/bin/dask-worker",
      address,
      "--nthreads",
      String(nthreads),
      "--no-dashboard",
      "--no-nanny",
      "--host",
      "127.0.0.1",
      "--dashboard-address",
      "127.0.0.1:0"
    ]),
    environment(version2)
  ));
  const all2 = [scheduler, ...workerProcs];
  const stopAll = (graceMs) => Promise.all(all2.map((p) => terminate(p, graceMs))).then(() => void 0);
  let workers2;
  let timer;
  try {
    const ready = Promise.all([
      waitFor(scheduler, /Scheduler at:\s+(tcp:\/\/\S+)/),
      ...workerProcs.map(
        (w) => waitFor(w, /Start worker at:\s+(tcp:\/\/\S+)/).then(async (m) => {
          await waitFor(w, /Registered to:/);
          return m[1];
        })
      )
    ]);
    ready.catch(() => {
    });
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`not ready after ${timeout3} ms`)), timeout3);
    });
    const [, ...addresses] = await Promise.race([ready, timedOut]);
    workers2 = addresses;
  } catch (e) {
    await stopAll(0);
    throw new Error(
      `Dask ${version2} cluster failed to start: ${e.message}
${all2.map(tail).join("\n")}`
    );
  } finally {
    clearTimeout(timer);
  }
  let observer;
  const getObserver = async () => {
    if (observer === void 0 || !isRunning(observer.proc)) observer = startObserver(version2, address);
    const o = observer;
    await o.ready;
    return o;
  };
  const stopObserver = async () => {
    const o = observer;
    observer = void 0;
    if (o) await terminate(o.proc, 2e3);
  };
  return {
    version: version2,
    address,
    workers: workers2,
    schedulerPid: scheduler.child.pid,
    workerPids: workerProcs.map((w) => w.child.pid),
    py: (code) => runSnippet(version2, address, code),
    state: async () => await (await getObserver()).request("state"),
    killScheduler: async () => {
      await stopObserver();
      if (isRunning(scheduler)) scheduler.child.kill("SIGKILL");
      await scheduler.exited;
    },
    stop: async () => {
      await Promise.all([stopObserver(), ...workerProcs.map((w) => terminate(w, 3e3))]);
      await terminate(scheduler, 3e3);
    }
  };
};

// bench/floor.ts
import { randomBytes as randomBytes2 } from "node:crypto";
import * as net2 from "node:net";
import { Packr as Packr2, Unpackr as Unpackr2 } from "msgpackr";
var packr2 = new Packr2({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
var unpackr = new Unpackr2({ useRecords: false, mapsAsObjects: true });
var Comm = class _Comm {
  constructor(socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk) => {
      this.chunks.push(chunk);
      this.size += chunk.length;
      this.parse();
    });
  }
  socket;
  chunks = [];
  size = 0;
  waiting = [];
  inbox = [];
  onMessage = void 0;
  static open(host, port) {
    return new Promise((resolve, reject) => {
      const socket = net2.connect(port, host, () => resolve(new _Comm(socket)));
      socket.once("error", reject);
    });
  }
  parse() {
    for (; ; ) {
      if (this.size < 8) return;
      if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.size)];
      const buf = this.chunks[0];
      const total = Number(buf.readBigUInt64LE(0));
      if (this.size < 8 + total) return;
      const n = Number(buf.readBigUInt64LE(8));
      let offset = 16 + 8 * n;
      const frames = [];
      for (let i = 0; i < n; i++) {
        const len = Number(buf.readBigUInt64LE(16 + 8 * i));
        frames.push(buf.subarray(offset, offset + len));
        offset += len;
      }
      const rest = buf.subarray(8 + total);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
      const waiter = this.waiting.shift();
      if (waiter !== void 0) waiter(frames);
      else if (this.onMessage !== void 0) this.onMessage(frames);
      else this.inbox.push(frames);
    }
  }
  /** The next message (when no `onMessage` is set). */
  read() {
    const ready = this.inbox.shift();
    return ready !== void 0 ? Promise.resolve(ready) : new Promise((resolve) => this.waiting.push(resolve));
  }
  write(body) {
    const frame = packr2.pack(body);
    const head = Buffer.alloc(24);
    head.writeBigUInt64LE(BigInt(16 + frame.length), 0);
    head.writeBigUInt64LE(1n, 8);
    head.writeBigUInt64LE(BigInt(frame.length), 16);
    this.socket.write(Buffer.concat([head, frame]));
  }
  async handshake() {
    await this.read();
    this.write({ compression: null, python: [3, 11, 2], "pickle-protocol": 5 });
  }
  close() {
    this.socket.destroy();
  }
};
var ADD = pickleGlobal("operator", "add");
var ADD_GLOBAL = new PyGlobal("operator", "add");
var updateGraph = (version2, keys, clientId) => {
  if (version2 === "2022.12") {
    const tasks = {};
    for (let i = 0; i < keys.length; i++) tasks[keys[i]] = { function: ADD, args: [i, 1] };
    return { op: "update-graph", tasks, dependencies: {}, keys, client: clientId };
  }
  const layer3 = /* @__PURE__ */ new Map();
  for (let i = 0; i < keys.length; i++) layer3.set(keys[i], new PyTuple([ADD_GLOBAL, i, 1]));
  return {
    op: "update-graph",
    graph_header: { serializer: "pickle", writeable: [] },
    graph_frames: [pickleGraph(/* @__PURE__ */ new Map([["floor-graph", layer3]]))],
    keys: { "__Set__": true, "as-list": keys },
    span_metadata: null,
    internal_priority: null,
    submitting_task: null
  };
};
var cpuMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
var connect3 = async (address, version2) => {
  const [host, port] = address.replace("tcp://", "").split(":");
  const clientId = `Client-floor-${randomBytes2(8).toString("hex")}`;
  const stream = await Comm.open(host, Number(port));
  await stream.handshake();
  stream.write({ op: "register-client", client: clientId, reply: false, versions: {} });
  await stream.read();
  const rpc = await Comm.open(host, Number(port));
  await rpc.handshake();
  let pending;
  let done;
  stream.onMessage = (frames) => {
    const batch = unpackr.unpack(frames[0]);
    if (pending === void 0) return;
    for (const msg of batch) {
      if (msg.op === "key-in-memory" && pending.delete(msg.key) && pending.size === 0) done?.();
    }
  };
  let run = 0;
  const map5 = async (n) => {
    const t0 = performance.now();
    const c0 = cpuMicros();
    const prefix = `add-${randomBytes2(8).toString("hex")}-${run++}-`;
    const keys = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = prefix + i;
    pending = new Set(keys);
    const finished = new Promise((resolve) => done = resolve);
    stream.write([updateGraph(version2, keys, clientId)]);
    await finished;
    pending = void 0;
    rpc.write({ op: "gather", keys, serializers: ["msgpack"], reply: true });
    const frames = await rpc.read();
    const reply = unpackr.unpack(frames[0]);
    if (reply.status !== "OK") throw new Error(`floor gather: ${reply.status}`);
    let last;
    for (const key of keys) {
      const at2 = reply.data[key].__Serialized__;
      last = unpackr.unpack(frames[at2 + 1]);
    }
    const wall = (performance.now() - t0) / 1e3;
    const cpu2 = (cpuMicros() - c0) / 1e6;
    if (last !== n) throw new Error(`floor: wrong result ${String(last)}`);
    stream.write([{ op: "client-releases-keys", keys, client: clientId }]);
    return { wall_s: wall, cpu_s: cpu2 };
  };
  return {
    map: map5,
    close: () => {
      stream.write([{ op: "close-client" }, { op: "close-stream" }]);
      setTimeout(() => {
        stream.close();
        rpc.close();
      }, 50);
    }
  };
};

// bench/_prof14.ts
var version = process.argv[2] ?? "2022.12";
var N = Number(process.argv[3] ?? 1e4);
var reps = Number(process.argv[4] ?? 3);
var prof = process.argv.includes("--prof");
var add = python("operator.add", { pure: false });
var cpu = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
var range = (n) => Array.from({ length: n }, (_, i) => i);
var session = new inspector.Session();
session.connect();
var post = (m, p) => new Promise((res, rej) => session.post(m, p, (e, r) => e ? rej(e) : res(r)));
var cluster = await startCluster(version, { workers: 1, nthreads: 1, schedulerConfig: { "distributed.scheduler.worker-saturation": "inf" } });
try {
  const ours = [];
  await Effect8.runPromise(Effect8.gen(function* () {
    yield* make3();
    for (let r = 0; r < reps + 2; r++) {
      const n = r < 2 ? 2e3 : N;
      if (prof && r === reps + 1) {
        yield* Effect8.promise(() => post("Profiler.enable"));
        yield* Effect8.promise(() => post("Profiler.start"));
      }
      const scope2 = yield* Scope5.make();
      const c0 = cpu();
      const vs = yield* Effect8.flatMap(map3(add, range(n), new Array(n).fill(1)), (fs3) => gather(fs3)).pipe(Scope5.extend(scope2));
      const c = cpu() - c0;
      if (prof && r === reps + 1) {
        const { profile } = yield* Effect8.promise(() => post("Profiler.stop"));
        fs2.writeFileSync("/tmp/b14/s/ours.cpuprofile", JSON.stringify(profile));
      }
      if (vs[n - 1] !== n) throw new Error("bad");
      yield* Scope5.close(scope2, Exit4.void);
      yield* Effect8.sleep("300 millis");
      if (r >= 2) ours.push(c / n);
    }
  }).pipe(Effect8.scoped, Effect8.provide(layer2({ address: cluster.address }))));
  const floor = [];
  const f = await connect3(cluster.address, version);
  for (let r = 0; r < reps + 2; r++) {
    const n = r < 2 ? 2e3 : N;
    if (prof && r === reps + 1) {
      await post("Profiler.start");
    }
    const res = await f.map(n);
    if (prof && r === reps + 1) {
      const { profile } = await post("Profiler.stop");
      fs2.writeFileSync("/tmp/b14/s/floor.cpuprofile", JSON.stringify(profile));
    }
    await new Promise((r2) => setTimeout(r2, 300));
    if (r >= 2) floor.push(res.cpu_s * 1e6 / n);
  }
  f.close();
  const fmt = (xs) => xs.map((x) => x.toFixed(1)).join(" ");
  console.log(`${version} ours \xB5s/task: ${fmt(ours)} | floor: ${fmt(floor)} | ratio of medians ${(ours.sort((a, b) => a - b)[ours.length >> 1] / floor.sort((a, b) => a - b)[floor.length >> 1]).toFixed(2)}`);
} finally {
  await cluster.stop();
}
process.exit(0);
