// A device program written with the official Node device SDK (azure-iot-device with
// azure-iot-device-mqtt), unmodified: run as a child process with NODE_EXTRA_CA_CERTS set to
// the hub's CA. It reports every step on stdout as one JSON line, and stops when stdin closes.
//   env DEVICE_CS  the device or module connection string (as `hub devices add` printed it)
//   env TRANSPORT  Mqtt | MqttWs
//   env KIND       device | module
// It answers method `echo` with 200 {echo: payload}, never answers method `hang`, prints C2D
// messages and desired patches, reports {firmware: "1.2.3"}, and sends one telemetry message
// "hello" with the property alert = "high & dry".
import { onStdinEnd, promised, report } from './child-report.js'
import { clientFromEnv, device, getTwin, onMethod, propertiesOf } from './sdk-device-child.js'

const client = clientFromEnv('Mqtt')

try {
  if (process.env.KIND !== 'module') {
    client.on('message', (message) => {
      report({
        step: 'c2d',
        data: message.data.toString(),
        messageId: message.messageId,
        properties: propertiesOf(message),
      })
      client.complete(message, () => {})
    })
  }
  await promised((cb) => client.open(cb))
  report({ step: 'connected' })
  onMethod(client, 'echo', (req, res) => {
    report({ step: 'method', name: 'echo', payload: req.payload })
    res.send(200, { echo: req.payload }, () => {})
  })
  onMethod(client, 'hang', () => report({ step: 'method', name: 'hang' }))
  const twin = await getTwin(client)
  report({ step: 'twin', desired: twin.properties.desired })
  twin.on('properties.desired', (patch) => report({ step: 'desired', patch }))
  await promised((cb) => twin.properties.reported.update({ firmware: '1.2.3' }, cb))
  report({ step: 'reported' })
  const message = new device.Message('hello')
  message.messageId = 'telemetry-1'
  message.contentType = 'text/plain'
  message.properties.add('alert', 'high & dry')
  await promised((cb) => client.sendEvent(message, cb))
  report({ step: 'sent' })
} catch (err) {
  report({ step: 'failed', message: (err as Error).message, name: (err as Error).name })
}

onStdinEnd(() => client.close(() => process.exit(0)))
