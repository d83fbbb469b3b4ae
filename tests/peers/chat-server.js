// The lesson's chat server: net.createServer, relaying every chunk a client sends to
// every other client. Changed only to listen on 127.0.0.1 with the port from argv (0:
// any) and print "listening PORT" once bound. With --with-error-handler it also survives
// client errors: the lesson's version has no 'error' handler on the sockets, so a client
// reset under traffic crashes the whole server.
const net = require('net')

const port = Number(process.argv[2] || 8080)
const withErrorHandler = process.argv.includes('--with-error-handler')
const server = net.createServer()
let sockets = []
server.on('connection', function (socket) {
  sockets.push(socket)
  socket.on('data', function (data) {
    sockets.forEach(function (otherSocket) {
      if (otherSocket !== socket) {
        otherSocket.write(data)
      }
    })
  })
  socket.on('close', function () {
    const index = sockets.indexOf(socket)
    if (index >= 0) sockets.splice(index, 1)
  })
  if (withErrorHandler) socket.on('error', function () {})
})
server.on('error', function (err) {
  console.error('Server error: ', err.message)
})
server.listen(port, '127.0.0.1', function () {
  console.log('listening ' + server.address().port)
})
