// The lesson's chat client: stdin lines to the server, the server's data to stdout.
// Changed only to take the port (and host) from argv, and to print received data as-is
// (the lesson prefixes "Other user's input"), so that tests can read it line by line.
const net = require('net')

const port = Number(process.argv[2] || 8080)
const host = process.argv[3] || '127.0.0.1'
process.stdin.resume()
process.stdin.setEncoding('utf8')
const client = net.connect({ port, host }, () => {
  process.stdin.on('data', (data) => {
    client.write(data)
    if (data === 'close\n') {
      client.end()
    }
  })
})
client.on('data', (data) => {
  process.stdout.write(data.toString())
})
client.on('end', () => {
  process.exit()
})
