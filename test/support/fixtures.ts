/**
 * The values every test shares: keys, host names, connection strings, the clock and the
 * known-answer tokens. Vectors come from /work/shared/reference/sdk-facts.md §9 (§9.1: verbatim
 * from the SDKs' own tests; §9.2: cross-SDK vectors for key `cGFzc3dvcmQ=` and se = 1700000000).
 * Nothing here is computed by the code under test.
 *
 * @module
 */

// Keys

/** base64("password"): the key of the Node SDK's tests (§9.1) and of every §9.2 vector. */
export const KEY = 'cGFzc3dvcmQ='
/** base64("foobar"): the py SDK's connection-string test key (test_connection_string.py, §9.1). */
export const PY_KEY = 'Zm9vYmFy'
/** base64("module-key"): a module's own key, distinct from its device's. */
export const MODULE_KEY = 'bW9kdWxlLWtleQ=='
/** base64("policy-key"): a shared access policy's key, distinct from any device's. */
export const POLICY_KEY = 'cG9saWN5LWtleQ=='
/** base64("other-key"): a second device's key, for "the wrong key" cases. */
export const OTHER_KEY = 'b3RoZXIta2V5'
/** The DPS group enrollment key of the docs (concepts-symmetric-key-attestation.md, §9.1). */
export const GROUP_KEY =
  '8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw=='
/** Device keys derived from {@link GROUP_KEY}: the docs' vector (§9.1) and my-device-01 (§9.2). */
export const DERIVED = {
  'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6': 'Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=',
  'my-device-01': 'i0eNaxR9P2qCHaK3RkHpn3erozYVBcdCwAsiEzQHCM4=',
} as const
/** A key that must never be printed: valid base64 and distinctive (base64 of "SecretKeyThatMustNeverLeak123456"). */
export const SECRET_KEY = 'U2VjcmV0S2V5VGhhdE11c3ROZXZlckxlYWsxMjM0NTY='
/** The prefix of {@link SECRET_KEY} that a careless message would most likely show. */
export const SECRET_FRAGMENT = 'U2VjcmV0S2V5'

// Hosts and scopes

/** The IoT Hub host of the §9.2 vectors. */
export const HOST = 'myhub.azure-devices.net'
/** The global DPS endpoint, the default device provisioning host. */
export const DPS_HOST = 'global.azure-devices-provisioning.net'
/** The DPS id scope of the §9.2 DPS vector. */
export const ID_SCOPE = '0ne00000A0A'

// Connection strings

/** A device connection string: dev1 on {@link HOST} with {@link KEY} (signs VECTORS.device). */
export const DEVICE_CS = `HostName=${HOST};DeviceId=dev1;SharedAccessKey=${KEY}`
/** A module connection string: dev1/mod1 on {@link HOST} with {@link KEY} (signs VECTORS.module). */
export const MODULE_CS = `HostName=${HOST};DeviceId=dev1;ModuleId=mod1;SharedAccessKey=${KEY}`
/** A service (policy) connection string: iothubowner on {@link HOST} with {@link KEY} (signs VECTORS.hub). */
export const SERVICE_CS = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${KEY}`
/** DPS "connection" parts (DPS has no connection string): the §9.2 scope, registration id and derived key. */
export const DPS_ENROLLMENT = {
  idScope: ID_SCOPE,
  registrationId: 'my-device-01',
  key: DERIVED['my-device-01'],
} as const

// The clock

/** The expiry of every §9.2 vector, in epoch seconds. */
export const SE = 1_700_000_000
/** One hour before {@link SE}, in epoch milliseconds: with the default one-hour TTL, se = SE. */
export const NOW = (SE - 3600) * 1000
/** Pins the CLI's clock (SAS_TOKEN_NOW, epoch ms) to {@link NOW}, so its default TTL gives se = {@link SE}. */
export const AT_VECTOR_TIME = { SAS_TOKEN_NOW: String(NOW) }
/** 2100-01-01T00:00:00Z in epoch seconds: an expiry that is always in the future. */
export const FUTURE_SE = 4_102_444_800

// Known-answer tokens

/** Known-answer tokens at se = {@link SE} for {@link KEY} (sdk-facts §9.2). */
export const VECTORS = {
  /** dev1 on {@link HOST}: node / py / cs / embc. */
  device:
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000',
  /** dev1/mod1 on {@link HOST}: node / py / cs / embc. */
  module:
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1%2Fmodules%2Fmod1&sig=fGXCx3v8IsZ5KZEGgop3RhYJ9cnRSs9VqP3uTffvtUc%3D&se=1700000000',
  /** Policy iothubowner, resource = {@link HOST}: py / cs order (skn last). */
  hub: 'SharedAccessSignature sr=myhub.azure-devices.net&sig=QSsTq4hIq8YzaKkHvHYM34vUvXN2XD%2FX%2Byr4pyjF%2ByY%3D&se=1700000000&skn=iothubowner',
  /** Policy iothubowner signing dev1's resource: the py SDK's own sastoken.py run. */
  devicePolicy:
    'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdev1&sig=VVdnHtzHRNcyafHpfgfhpbeH9FTfCvgezAUif0BtDlY%3D&se=1700000000&skn=iothubowner',
  /** DPS my-device-01 in {@link ID_SCOPE} with its derived key: the cs form (skn=registration last). */
  dps: 'SharedAccessSignature sr=0ne00000A0A%2Fregistrations%2Fmy-device-01&sig=OOwWM29FRWxgrGImQ16T0OAc3Op91yMQnW3bkcsi3pI%3D&se=1700000000&skn=registration',
} as const
