/**
 * `sas-token/hub`: a local IoT Hub and DPS for device developers' tests and offline work.
 * This file only re-exports.
 *
 * @module
 */
export { startHub } from './start-hub.js'
export type { Hub, StartHubOptions, AddIdentityOptions } from './start-hub.js'
export { HubEvents } from './events.js'
export type { HubEvent, HubEventName } from './events.js'
export type { HubEventInput } from './events.js'
export type { EventStreamOptions } from './event-sinks.js'
export { DEVELOPMENT_OWNER_KEY, DEFAULT_POLICY_RIGHTS, MAX_C2D_QUEUE } from './registry.js'
export type { Permission } from './registry.js'
export { DEFAULT_ID_SCOPE } from './dps.js'
export { MAX_MESSAGE_BYTES } from './broker.js'
export { DEFAULT_METHOD_TIMEOUT } from './methods.js'
export { STATE_FILE } from './state-store.js'
export {
  CA_COMMON_NAME,
  createCertificateAuthority,
  createDeviceCertificate,
  createServerCertificate,
} from './certificates.js'
export type { CertificateKeyPair } from './certificates.js'
export { diagnoseClientCertificate } from './x509-chain.js'
export type { CertificateFinding, ChainProblem } from './x509-chain.js'
export type { JsonObject } from './twin.js'
export type { C2dInput } from './c2d.js'
export type { C2dQueueOptions } from './c2d-queue.js'
export { DEFAULT_MAX_OUTBOUND_BYTES } from './outbound-limit.js'

// the web console (src/hub/console/)
export { startConsole } from './console/server.js'
export type { HubConsole, StartConsoleOptions, ConsoleHub } from './console/server.js'
