// A device written with the official device SDK (azure-iot-device with its Mqtt or Amqp
// transports), unmodified, that receives cloud-to-device messages: run as a child process with
// NODE_EXTRA_CA_CERTS set to the hub's CA. It reports each step on stdout as one JSON line.
//   env DEVICE_CS  the device connection string
//   env TRANSPORT  Mqtt (default) | MqttWs | Amqp | AmqpWs
// Every message is reported (`c2d`: data, messageId, correlationId, ack, properties) and then
// settled as its application property `settle` says: complete (default), reject, abandon, or
// none (left unanswered); `settled` {messageId, how} or `settle-failed` {messageId, how, name}.
// It stops when stdin closes.
import { onStdinEnd, report } from './child-report.js'
import { clientFromEnv, propertiesOf } from './sdk-device-child.js'

const client = clientFromEnv('Mqtt')
client.on('message', (message) => {
  const properties = propertiesOf(message)
  report({
    step: 'c2d',
    data: message.data.toString(),
    messageId: message.messageId,
    correlationId: message.correlationId,
    ack: message.ack,
    properties,
  })
  const how = properties.settle ?? 'complete'
  if (how !== 'complete' && how !== 'reject' && how !== 'abandon') return
  client[how](message, (err) => {
    if (err) report({ step: 'settle-failed', messageId: message.messageId, how, name: err.constructor.name })
    else report({ step: 'settled', messageId: message.messageId, how })
  })
})
client.open((err) => {
  if (err) report({ step: 'failed', name: err.constructor.name, message: err.message })
  else report({ step: 'connected' })
})

onStdinEnd(() => client.close(() => process.exit(0)))
