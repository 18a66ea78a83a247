/**
 * effect-dask: Dask-distributed futures and remote-memory management for Effect programs.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category modules
 */
export * as Client from "./Client.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as EmbeddedScheduler from "./EmbeddedScheduler.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as DaskScheduler from "./DaskScheduler.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as Errors from "./Errors.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as Future from "./Future.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as Scheduler from "./Scheduler.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as Task from "./Task.js"
/**
 * @since 0.2.0
 * @category modules
 */
export * as TaskModule from "./TaskModule.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as TestScheduler from "./TestScheduler.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as Memory from "./Memory.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as Metrics from "./Metrics.js"
/**
 * @since 0.1.0
 * @category modules
 */
export * as Dashboard from "./Dashboard.js"
/**
 * @since 0.2.0
 * @category modules
 */
export * as Variable from "./Variable.js"
/**
 * @since 0.2.0
 * @category modules
 */
export * as Queue from "./Queue.js"
/**
 * @since 0.2.0
 * @category modules
 */
export * as Event from "./Event.js"
/**
 * @since 0.2.0
 * @category modules
 */
export * as Lock from "./Lock.js"
