// A device or module program written with the official Node device SDK (azure-iot-device with
// azure-iot-device-amqp, Amqp or AmqpWs), unmodified: run as a child process with
// NODE_EXTRA_CA_CERTS set to the hub's CA. It reports every step on stdout as one JSON line, and
// stops when stdin closes.
//   env DEVICE_CS  the device or module connection string
//   env TRANSPORT  Amqp | AmqpWs
//   env KIND       device | module
// It answers method `echo` with 200 {echo: payload} and method `teapot` with 418 "short and stout",
// gets its twin, prints desired patches, reports {firmware: "2.0.0"} and then a patch the hub must
// refuse ({"$bad": 1}); a module also prints its input messages (and completes them) and sends one
// output message "to the next module" on output `out1` with the property hop = "1 & only".
import { onStdinEnd, promised, report } from './child-report.js'
import { clientFromEnv, device, getTwin, onMethod, propertiesOf } from './sdk-device-child.js'

const isModule = process.env.KIND === 'module'
const client = clientFromEnv('Amqp')

try {
  await promised((cb) => client.open(cb))
  report({ step: 'connected' })
  onMethod(client, 'echo', (req, res) => {
    report({ step: 'method', name: 'echo', payload: req.payload })
    res.send(200, { echo: req.payload }, (err) => report({ step: 'method-answered', error: err?.message }))
  })
  onMethod(client, 'teapot', (_req, res) => res.send(418, 'short and stout', () => {}))
  const twin = await getTwin(client)
  report({ step: 'twin', desired: twin.properties.desired, reported: twin.properties.reported })
  twin.on('properties.desired', (patch) => report({ step: 'desired', patch }))
  await promised((cb) => twin.properties.reported.update({ firmware: '2.0.0' }, cb))
  report({ step: 'reported' })
  try {
    await promised((cb) => twin.properties.reported.update({ $bad: 1 }, cb))
    report({ step: 'reported-bad', accepted: true })
  } catch (err) {
    // the transport wraps the twin error: its amqpError is what the status translated to
    const inner = (err as { amqpError?: Error }).amqpError
    report({ step: 'reported-bad', accepted: false, message: (err as Error).message, inner: inner?.name })
  }
  if (isModule) {
    client.on('inputMessage', (inputName, message) => {
      report({
        step: 'input',
        inputName,
        data: message.data.toString(),
        messageId: message.messageId,
        properties: propertiesOf(message),
      })
      client.complete(message, () => {})
    })
    const message = new device.Message('to the next module')
    message.messageId = 'output-1'
    message.properties.add('hop', '1 & only')
    await promised((cb) => client.sendOutputEvent?.('out1', message, cb))
    report({ step: 'output-sent' })
  }
  report({ step: 'ready' })
} catch (err) {
  report({ step: 'failed', message: (err as Error).message, name: (err as Error).name })
}

onStdinEnd(() => client.close(() => process.exit(0)))
