/**
 * The registry's statistics as IoT Hub reports them: `GET /statistics/devices` (the SDK's
 * `getRegistryStatistics`: devices in all, enabled, disabled) and `GET /statistics/service`
 * (devices connected now). Modules are not counted, as on IoT Hub.
 *
 * @module
 */
import type { HubService } from '../service.js'

/** IoT Hub's `RegistryStatistics`. */
export interface RegistryStatistics {
  totalDeviceCount: number
  enabledDeviceCount: number
  disabledDeviceCount: number
}

/** The device counts of the registry. */
export function registryStatistics(hub: HubService): RegistryStatistics {
  const devices = Object.values(hub.state.devices).map((e) => e.device)
  const enabled = devices.filter((d) => d.status === 'enabled').length
  return {
    totalDeviceCount: devices.length,
    enabledDeviceCount: enabled,
    disabledDeviceCount: devices.length - enabled,
  }
}

/** IoT Hub's `ServiceStatistics`: how many devices (not modules) are connected. */
export function serviceStatistics(hub: HubService): { connectedDeviceCount: number } {
  const devices = Object.values(hub.state.devices).map((e) => e.device)
  return { connectedDeviceCount: devices.filter((d) => d.connectionState === 'Connected').length }
}
