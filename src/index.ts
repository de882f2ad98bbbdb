/**
 * effect-bitrix24: a Bitrix24 REST client on Effect.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Bitrix from "./Bitrix.js"
/** @since 0.1.0 */
export * as BitrixConfig from "./BitrixConfig.js"
/** @since 0.1.0 */
export * as BitrixError from "./BitrixError.js"
/** @since 0.1.0 */
export * as Transport from "./Transport.js"
/** @since 0.1.0 */
export * as Auth from "./Auth.js"
/** @since 0.1.0 */
export * as RateLimiter from "./RateLimiter.js"
/** @since 0.1.0 */
export * as BatchPlanner from "./BatchPlanner.js"
/** @since 0.1.0 */
export * as ProgressReporter from "./ProgressReporter.js"
/** @since 0.1.0 */
export * as Query from "./Query.js"
/** @since 0.1.0 */
export * as Envelope from "./Envelope.js"
/** @since 0.1.0 */
export * as ListStrategy from "./ListStrategy.js"
/** @since 0.1.0 */
export * as Metrics from "./Metrics.js"
/** @since 0.1.0 */
export * as Sync from "./Sync.js"
