// IoT Hub's fault-injection message properties, as the Azure IoT SDKs' e2e tests send them (C#:
// FaultInjection.cs; Node: the e2e fault lists), written out here.

/** The application properties of a fault-injection message (no duration: the hub's default). */
export function faultProperties(
  type: string,
  o: { closeReason?: string; delay?: number; duration?: number | undefined } = {},
): Record<string, string> {
  return {
    AzIoTHub_FaultOperationType: type,
    AzIoTHub_FaultOperationCloseReason: o.closeReason ?? 'boom',
    AzIoTHub_FaultOperationDelayInSecs: String(o.delay ?? 0),
    ...(o.duration === undefined ? {} : { AzIoTHub_FaultOperationDurationInSecs: String(o.duration) }),
  }
}
