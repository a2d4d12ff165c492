/**
 * sas-token: Azure IoT Hub and DPS device authentication for MQTT.
 *
 * This file only re-exports; each concept lives in the file named for it.
 *
 * @module
 */

// errors
export { SasTokenError, isSasTokenError } from './errors.js'
export type { CoreErrorCode, LayerErrorCodes, SasTokenErrorCode, SasTokenErrorOptions } from './errors.js'

// identities
export {
  assertDeviceId,
  assertRegistrationId,
  assertIdScope,
  assertHostName,
  MAX_ID_LENGTH,
} from './identity.js'

// core: connection strings, keys, expiry, tokens
export { parseTtl, parseExpiresAt, resolveExpiry, DEFAULT_TTL_SECONDS } from './expiry.js'
export type { Expiry } from './expiry.js'
export { decodeKey, deriveDeviceKey, assertKeyName, hmacKeysEquivalent } from './keys.js'
export { parseConnectionString, formatConnectionString, redactConnectionString } from './connection-string.js'
export type {
  ConnectionString,
  DeviceConnectionString,
  ModuleConnectionString,
  ServiceConnectionString,
  IotHubConnectionString,
} from './connection-string.js'
export { assertEntityPath, serviceBusAudience } from './service-bus-connection-string.js'
export type { ServiceBusConnectionString, ServiceBusService } from './service-bus-connection-string.js'
export {
  createSasToken,
  createDpsSasToken,
  createServiceBusSasToken,
  deviceResourceUri,
  parseSasToken,
  verifySasToken,
  verifySasTokenSignature,
  encodeUriComponentStrict,
  DPS_KEY_NAME,
  DEFAULT_CLOCK_SKEW_SECONDS,
} from './sas-token.js'
export type {
  CreateSasTokenOptions,
  CreateDpsSasTokenOptions,
  CreateServiceBusSasTokenOptions,
  ParsedSasToken,
  TokenFamily,
  VerifySasTokenOptions,
} from './sas-token.js'
export { tokenFromConnectionString } from './token-from-connection-string.js'
export type { TokenFromConnectionStringOptions } from './token-from-connection-string.js'

// MQTT: credentials, topics, property bag
export {
  mqttCredentials,
  dpsMqttCredentials,
  DEFAULT_API_VERSION,
  DPS_API_VERSION,
  DEFAULT_DPS_HOST,
  parseMqttUsername,
} from './mqtt/credentials.js'
export type {
  MqttCredentials,
  MqttCredentialsOptions,
  DpsMqttCredentialsOptions,
  MqttUsername,
} from './mqtt/credentials.js'
export {
  telemetryTopic,
  c2dFilter,
  moduleInputsFilter,
  deviceSubscriptions,
  twinGetTopic,
  twinReportedTopic,
  methodResponseTopic,
  dpsRegisterTopic,
  dpsPollTopic,
  c2dTopic,
  moduleInputTopic,
  twinResponseTopic,
  desiredPatchTopic,
  methodRequestTopic,
  dpsResponseTopic,
  parseTopic,
  parseDeviceTopic,
  filterKind,
  assertRequestId,
  TWIN_RESPONSES_FILTER,
  DESIRED_PATCHES_FILTER,
  METHOD_REQUESTS_FILTER,
  DPS_RESPONSES_FILTER,
  MAX_TOPIC_BYTES,
} from './mqtt/topics.js'
export type {
  TopicIdentity,
  IncomingTopic,
  C2dTopic,
  ModuleInputTopic,
  TwinResponseTopic,
  DesiredPatchTopic,
  MethodRequestTopic,
  DpsResponseTopic,
  OutgoingTopic,
  FilterKind,
  TelemetryTopic,
  DeviceRequestTopic,
  MethodResponseTopic,
  DpsPollTopic,
} from './mqtt/topics.js'
export { encodePropertyBag, decodePropertyBag } from './mqtt/property-bag.js'
export type { MessageProperties, ReceivedMessageProperties } from './mqtt/property-bag.js'

// renewal
export { createTokenSource, DEFAULT_RENEW_FRACTION } from './renewal.js'
export type { TokenSource, TokenSourceOptions, IssuedToken } from './renewal.js'

// diagnosis: why a hub would refuse a CONNECT
export { diagnoseConnect, DEFAULT_HUB_POLICIES } from './diagnose/index.js'
export type {
  CertificateChainProblem,
  CertificateFact,
  ConnectRegistry,
  DiagnoseConnectOptions,
  DiagnosisCode,
  Finding,
  HubPolicy,
  MqttConnect,
  RegisteredEnrollment,
  RegisteredEnrollmentGroup,
  RegisteredIdentity,
} from './diagnose/index.js'
