// azure-iot-device's Message (from azure-iot-common), typed as far as these tests read and write
// it: one they send, or one the SDK hands them (C2D, module inputs).

/** A node-style callback, as the device SDK's callback forms take it. */
export type Callback = (err?: Error | null, result?: unknown) => void

/** A device SDK message. */
export interface SdkMessage {
  data: Buffer | string
  messageId?: string
  correlationId?: string
  userId?: string
  contentType?: string
  contentEncoding?: string
  /** The C2D lock token, on a received message. */
  lockToken?: string
  expiryTimeUtc?: string
  ack?: string
  to?: string
  getData(): Buffer | string
  properties: {
    add(key: string, value: string): void
    getValue(key: string): string | undefined
    propertyList: Array<{ key: string; value: string }>
  }
}
