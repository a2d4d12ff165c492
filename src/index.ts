/**
 * sas-token: Azure IoT Hub and DPS device authentication for MQTT.
 *
 * This file only re-exports; each concept lives in the file named for it.
 *
 * @module
 */

// errors
export { SasTokenError, isSasTokenError } from './errors.js'
export type { SasTokenErrorCode } from './errors.js'

// identities
export { assertDeviceId, assertRegistrationId, assertIdScope, assertHostName, MAX_ID_LENGTH } from './identity.js'

// --- core (connection strings, keys, expiry, tokens) ---

// --- mqtt (credentials, topics, property bag) ---

// --- renewal ---
