/**
 * The MQTT adapter's {@link DeviceLink}: how the hub's protocol-neutral owners (twins, methods,
 * module inputs) reach a device connected over MQTT. Each send becomes one PUBLISH on the topic
 * the core's topic table builds, to that connection alone: C2D and module inputs at QoS 1 when
 * the subscription granted it, everything else (desired patches, method requests, twin and DPS
 * answers) at QoS 0, as IoT Hub sends them.
 *
 * @module
 */
import type { MessageProperties } from '../../mqtt/property-bag.js'
import { desiredPatchTopic, methodRequestTopic, moduleInputTopic } from '../../mqtt/topics.js'
import type { LinkFault } from '../state/faults.js'
import type { DeviceLink, SubscriptionKind } from '../state/sessions.js'

/** The `brokerId` of a packet the hub publishes to one connection (aedes forwards only these). */
export const DIRECT_BROKER_ID = 'sas-token-hub-direct'

/** The part of an aedes client the link uses. */
export interface LinkClient {
  publish(
    packet: {
      cmd: 'publish'
      topic: string
      payload: Buffer
      qos: 0 | 1
      retain: false
      dup: false
      brokerId: string
    },
    done: (err?: Error) => void,
  ): void
  close(done?: () => void): void
  /** The connection's stream (TLS socket or WebSocket stream). */
  conn: { destroy(): void; end(): void }
}

/** One MQTT connection of a device or module (or a DPS client, which only gets answers). */
export class MqttLink implements DeviceLink {
  readonly #client: LinkClient
  readonly #identity: { deviceId: string; moduleId?: string }
  readonly #subscriptions: ReadonlyMap<SubscriptionKind, 0 | 1>

  constructor(
    client: LinkClient,
    identity: { deviceId: string; moduleId?: string },
    subscriptions: ReadonlyMap<SubscriptionKind, 0 | 1>,
  ) {
    this.#client = client
    this.#identity = identity
    this.#subscriptions = subscriptions
  }

  /** Publishes to this connection at the QoS its subscription of `kind` allows (at most `qos`). */
  publish(
    kind: SubscriptionKind,
    topic: string,
    payload: string | Buffer,
    o: { qos?: 0 | 1; brokerId?: string; done?: (err?: Error) => void } = {},
  ): 0 | 1 {
    const granted = this.#subscriptions.get(kind) ?? 0
    const qos: 0 | 1 = granted === 1 && o.qos === 1 ? 1 : 0
    this.#client.publish(
      {
        cmd: 'publish',
        topic,
        payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
        qos,
        retain: false,
        dup: false,
        brokerId: o.brokerId ?? DIRECT_BROKER_ID,
      },
      (err) => o.done?.(err),
    )
    return qos
  }

  sendDesired(version: number, body: string): void {
    this.publish('desired', desiredPatchTopic({ version }), body)
  }

  sendMethod(method: string, rid: string, body: string): void {
    this.publish('methods', methodRequestTopic({ method, rid }), body)
  }

  sendInput(inputName: string, properties: MessageProperties, payload: Buffer): void {
    const { deviceId, moduleId = '' } = this.#identity
    this.publish('messages', moduleInputTopic({ deviceId, moduleId, inputName }, properties), payload, {
      qos: 1,
    })
  }

  close(): void {
    this.#client.close()
  }

  /**
   * `kill-tcp` destroys the stream at once: no TLS close_notify (or WebSocket close frame), what
   * is still queued is lost. (IoT Hub severs with a TCP reset; Node offers no safe reset of a
   * TLS socket, so the hub's socket is closed instead.) `shutdown-mqtt` ends it cleanly: what
   * is queued is sent, then close_notify (a WebSocket close frame) and FIN; MQTT 3.1.1 has no
   * DISCONNECT from the server. A client that does not close its side is dropped after 1 s.
   */
  fault(fault: LinkFault): boolean {
    if (fault === 'kill-tcp') this.#client.conn.destroy()
    else if (fault === 'shutdown-mqtt') {
      const client = this.#client
      client.conn.end()
      setTimeout(() => client.close(), 1000).unref()
    } else return false
    return true
  }
}
