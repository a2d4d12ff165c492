/**
 * `sas-token/hub`: a local IoT Hub and DPS for device developers' tests and offline work.
 * This file only re-exports.
 *
 * @module
 */
export type { HubErrorCode, HubErrorCodes } from './hub-error-codes.js'
export { startHub } from './start-hub.js'
export type { StartHubOptions } from './start-hub.js'
export type { Hub, AddIdentityOptions } from './hub-handle.js'
export { startHubWithConsole } from './start-hub-with-console.js'
export type { HubWithConsole, StartHubWithConsoleOptions } from './start-hub-with-console.js'
export type { ReadyDocument } from './ready.js'
export { DEFAULT_PORTS } from './default-ports.js'
export { HubEvents } from './events.js'
export type {
  HubEvent,
  HubEventName,
  HubEventOf,
  HubEventInput,
  HubReadyEvent,
  EventHubInfo,
  HubConnectEvent,
  HubRefuseEvent,
  HubDisconnectEvent,
  HubCloseEvent,
  HubSubscribeEvent,
  HubUnsubscribeEvent,
  HubTelemetryEvent,
  TelemetryBody,
  HubTwinGetEvent,
  HubTwinReportedEvent,
  HubTwinDesiredEvent,
  HubTwinRefusedEvent,
  HubMethodEvent,
  HubC2dEvent,
  HubDpsRegisterEvent,
  HubRegistryEvent,
  HubFaultEvent,
  HubWarningEvent,
} from './event-types.js'
export type { EventStreamOptions } from './event-sinks.js'
export { DEVELOPMENT_OWNER_KEY, DEFAULT_POLICY_RIGHTS, MAX_C2D_QUEUE } from './state/registry.js'
export type { Permission } from './state/registry.js'
export { DEFAULT_ID_SCOPE } from './state/dps.js'
export {
  DEFAULT_CONSUMER_GROUP,
  DEFAULT_PARTITIONS,
  DEFAULT_RETENTION,
  MAX_PARTITIONS,
  partitionOf,
} from './state/d2c-log.js'
export type { D2cRetention } from './state/d2c-log.js'
export { eventHubName } from './event-hub-endpoint.js'
export { MAX_MESSAGE_BYTES } from './mqtt/handlers/publish.js'
export { DEFAULT_METHOD_TIMEOUT } from './state/methods.js'
export {
  DEFAULT_OPERATOR_FAULT_SECONDS,
  MAX_FAULT_SECONDS,
  MAX_METHOD_DELAY_SECONDS,
  MAX_REFUSE_COUNT,
  OPERATOR_FAULT_KINDS,
} from './state/faults.js'
export type { ActiveFault, FaultOutcome, OperatorFault, OperatorFaultTarget } from './state/faults.js'
export { STATE_FILE } from './state/state-store.js'
export {
  CA_COMMON_NAME,
  createCertificateAuthority,
  createDeviceCertificate,
  createServerCertificate,
} from './tls/certificates.js'
export type { CertificateKeyPair } from './tls/certificates.js'
export { diagnoseClientCertificate } from './tls/x509-chain.js'
export type { CertificateFinding, ChainProblem } from './tls/x509-chain.js'
export type { JsonObject } from './state/twin.js'
export type { C2dInput } from './state/c2d.js'
export type { C2dAck, C2dFeedbackOptions } from './state/c2d-feedback.js'
export type { C2dQueueOptions } from './state/c2d-queue.js'
export type { HubTier, TierName } from './state/throttle.js'
export { DEFAULT_MAX_OUTBOUND_BYTES } from './mqtt/outbound-limit.js'

// the web console (src/hub/console/)
export { startConsole } from './console/server.js'
export type { HubConsole, StartConsoleOptions, ConsoleHub } from './console/server.js'
export type { SubscriptionKind, Transport } from './state/sessions.js'
